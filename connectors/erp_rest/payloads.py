"""The JSON this ERP is sent and what is read from its answers (pure: no I/O).

Field names follow ERPNext-style resources (``items`` with ``item_code``, ``qty``,
``rate``), each document carrying omniroute's own ``reference`` so the ERP can keep it and
hand it back in its invoice list. Readers accept the usual spellings of an ERP's answer:
a bare list or ``{"data": [...]}`` / ``{"<resource>": [...]}``, and ``next`` for paging.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from datetime import date
from typing import Any

from omniroute.connectors.erp import (
    ErpInvoice,
    ErpLine,
    InvoiceDocument,
    ItemRecord,
    SalesOrderDocument,
    StockRecord,
)

__all__ = [
    "document_number",
    "invoice_payload",
    "page_of",
    "read_invoice",
    "read_item",
    "read_stock",
    "sales_order_payload",
]


def _line(line: ErpLine) -> dict[str, Any]:
    return {
        "line_reference": line.line_ref,
        "item_code": line.sku,
        "item_name": line.title,
        "qty": line.quantity,
        "rate": line.unit_price,
        "discount_amount": line.discount,
        "tax_amount": line.tax,
        "amount": line.amount,
    }


def sales_order_payload(document: SalesOrderDocument) -> dict[str, Any]:
    return {
        "reference": document.reference,
        "order_number": document.order_number,
        "channel": document.channel,
        "currency": document.currency,
        "transaction_date": (document.ordered_at or "")[:10] or None,
        "ordered_at": document.ordered_at,
        "customer": dict(document.customer),
        "shipping_address": dict(document.ship_to) if document.ship_to else None,
        "billing_address": dict(document.bill_to) if document.bill_to else None,
        "service_level": document.service_level,
        "items": [_line(line) for line in document.lines],
        "subtotal": document.subtotal,
        "discount_total": document.discount_total,
        "shipping_total": document.shipping_total,
        "tax_total": document.tax_total,
        "grand_total": document.total,
        # rate (unit price) and freight include tax; amount is net either way
        "taxes_included": document.taxes_included,
    }


def invoice_payload(document: InvoiceDocument) -> dict[str, Any]:
    return {
        "reference": document.reference,
        "sales_order_reference": document.order_reference,
        "order_number": document.order_number,
        "currency": document.currency,
        "posting_date": document.shipped_at[:10],
        "shipped_at": document.shipped_at,
        "customer": dict(document.customer),
        "warehouse": document.warehouse_code,
        "carrier": document.carrier,
        "tracking_number": document.tracking_number,
        "items": [_line(line) for line in document.lines],
        "freight": document.freight,
        "discount_total": document.discount_total,
        "tax_total": document.tax_total,
        "grand_total": document.total,
        # rate (unit price) and freight include tax; amount is net either way
        "taxes_included": document.taxes_included,
    }


def json_object(body: Any) -> dict[str, Any]:
    return body if isinstance(body, dict) else {}


def document_number(body: Any) -> str | None:
    """The ERP's own number for a document it took: ``name``, ``number`` or ``id``, at the
    top or under ``data`` (ERPNext answers ``{"data": {"name": "SINV-0001", ...}}``)."""
    top = json_object(body)
    for holder in (top, json_object(top.get("data"))):
        for key in ("name", "number", "id"):
            value = holder.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()[:200]
            if isinstance(value, int) and not isinstance(value, bool):
                return str(value)
    return None


def page_of(body: Any, resource: str) -> tuple[list[Any], str | None]:
    """The records of one page and the token of the next (None: last page)."""
    if isinstance(body, list):
        return body, None
    top = json_object(body)
    records = top.get(resource, top.get("data", []))
    following = top.get("next")
    token = str(following) if isinstance(following, str | int) and str(following) else None
    return (records if isinstance(records, list) else []), token


def _text(record: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = record.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    return None


def read_stock(record: Any) -> StockRecord:
    """One stock row; ``ValueError`` says why it cannot be read."""
    if not isinstance(record, dict):
        raise ValueError("a stock record must be an object")
    warehouse = _text(record, "warehouse", "warehouse_code")
    sku = _text(record, "sku", "item_code")
    quantity = record.get("on_hand", record.get("actual_qty"))
    if isinstance(quantity, float) and quantity.is_integer():
        quantity = int(quantity)
    if not warehouse or not sku:
        raise ValueError("a stock record needs a warehouse and a sku")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
        raise ValueError(f"on hand of {sku} at {warehouse} must be a whole number >= 0")
    return StockRecord(warehouse, sku, quantity)


def read_item(record: Any) -> ItemRecord:
    if not isinstance(record, dict):
        raise ValueError("an item must be an object")
    sku = _text(record, "sku", "item_code")
    if not sku:
        raise ValueError("an item needs a sku")
    weight = record.get("weight_kg", record.get("weight_per_unit"))
    if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
        weight = None
    barcodes = record.get("barcodes") or []
    codes: list[str] = []
    for entry in barcodes if isinstance(barcodes, list) else []:
        code = entry.get("barcode") if isinstance(entry, dict) else entry
        if isinstance(code, str) and code.strip() and code.strip() not in codes:
            codes.append(code.strip())
    name = _text(record, "name", "item_name")
    return ItemRecord(
        sku, name[:300] if name else None, None if weight is None else float(weight), tuple(codes)
    )


def read_invoice(record: Any) -> ErpInvoice:
    if not isinstance(record, dict):
        raise ValueError("an invoice must be an object")
    number = _text(record, "number", "name", "id")
    if not number:
        raise ValueError("an invoice needs a number")
    issued = _text(record, "date", "posting_date")
    try:
        issued_on = date.fromisoformat(issued[:10]) if issued else None
    except ValueError:
        issued_on = None
    return ErpInvoice(
        number=number,
        reference=_text(record, "reference"),
        order_reference=_text(record, "sales_order_reference", "order_reference"),
        issued_on=issued_on,
        total=_text(record, "grand_total", "total"),
    )


def as_json(invoice: ErpInvoice) -> dict[str, Any]:
    out = asdict(invoice)
    out["issued_on"] = invoice.issued_on.isoformat() if invoice.issued_on else None
    return out
