"""What an ERP kind offers the core: documents posted to it, records read from it.

Money is carried as decimal strings (the canonical order's own form), in the order's
currency; quantities are whole units. Every write takes the outbox row's idempotency key,
which the ERP must dedupe on. A kind implements the protocols that match its capabilities
(``Capability.ERP_POSTING``, ``ERP_STOCK_SNAPSHOT``, ``ERP_ITEM_MASTER``,
``PURCHASE_REQUESTS``); ``connectors/erp_rest`` is the generic REST one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol, runtime_checkable

from omniroute.connectors.base import PayloadError


@dataclass(frozen=True)
class ErpLine:
    """One line of a sales order or an invoice: ``quantity`` units of ``sku``.

    ``discount`` and ``tax`` are for the whole quantity (positive amounts), ``amount`` is
    quantity x unit price less the discount, before tax (less the tax too when the order's
    prices include it: the document's ``taxes_included``)."""

    line_ref: str  # omniroute's order line id: stable between the order and its invoices
    sku: str
    quantity: int
    title: str | None = None
    unit_price: str | None = None
    discount: str | None = None
    tax: str | None = None
    amount: str | None = None


@dataclass(frozen=True)
class SalesOrderDocument:
    """An order as the ERP takes it when its first fulfilment order is released."""

    reference: str  # omniroute's key for it (``order-<id>``); the ERP should keep it
    order_number: str
    channel: str
    currency: str
    ordered_at: str | None
    customer: Mapping[str, Any]
    ship_to: Mapping[str, Any] | None
    bill_to: Mapping[str, Any] | None
    lines: tuple[ErpLine, ...]
    subtotal: str | None = None
    discount_total: str | None = None
    shipping_total: str | None = None
    tax_total: str | None = None
    total: str | None = None
    service_level: str | None = None
    # The channel's prices include tax (unit_price gross); amounts are net all the same.
    taxes_included: bool = False


@dataclass(frozen=True)
class InvoiceDocument:
    """A shipment as the ERP invoices it: the shipped lines with their share of the line's
    discount and tax, and the freight."""

    reference: str  # omniroute's key for it (``shipment-<id>-order-<id>``)
    order_reference: str  # the sales order's ``reference``
    order_number: str
    currency: str
    shipped_at: str
    lines: tuple[ErpLine, ...]
    freight: str
    discount_total: str
    tax_total: str
    total: str  # lines' amounts + their tax + freight
    warehouse_code: str | None = None
    carrier: str | None = None
    tracking_number: str | None = None
    customer: Mapping[str, Any] = field(default_factory=dict)
    # The channel's prices (unit_price, freight) include tax; amounts are net all the same.
    taxes_included: bool = False


@dataclass(frozen=True)
class PurchaseRequest:
    """Ask the ERP to buy ``quantity`` of ``sku`` for ``warehouse`` by ``needed_by``.

    The outbox payload of kind ``erp.purchase_request`` is exactly ``to_payload()``:
    ``{"sku": str, "warehouse": str (code), "quantity": int > 0, "needed_by": "YYYY-MM-DD"
    or null, "reference": str or null, "note": str or null}``."""

    sku: str
    warehouse: str
    quantity: int
    needed_by: date | None = None
    reference: str | None = None
    note: str | None = None

    def to_payload(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "warehouse": self.warehouse,
            "quantity": self.quantity,
            "needed_by": self.needed_by.isoformat() if self.needed_by else None,
            "reference": self.reference,
            "note": self.note,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> PurchaseRequest:
        """The request a payload describes; ``PayloadError`` naming what is wrong."""
        sku, warehouse, quantity = (
            payload.get("sku"),
            payload.get("warehouse"),
            payload.get("quantity"),
        )
        if not isinstance(sku, str) or not sku.strip():
            raise PayloadError("purchase request: sku must be a non-empty string")
        if not isinstance(warehouse, str) or not warehouse.strip():
            raise PayloadError("purchase request: warehouse must be a warehouse code")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
            raise PayloadError("purchase request: quantity must be a positive whole number")
        needed = payload.get("needed_by")
        try:
            needed_by = date.fromisoformat(needed) if isinstance(needed, str) else None
        except ValueError as exc:
            raise PayloadError("purchase request: needed_by must be YYYY-MM-DD") from exc
        if needed is not None and not isinstance(needed, str):
            raise PayloadError("purchase request: needed_by must be YYYY-MM-DD")
        reference, note = payload.get("reference"), payload.get("note")
        return cls(
            sku.strip(),
            warehouse.strip(),
            quantity,
            needed_by,
            reference if isinstance(reference, str) else None,
            note if isinstance(note, str) else None,
        )


@dataclass(frozen=True)
class ErpReceipt:
    """What the ERP answered a write: its own number for the document, when it gave one."""

    reference: str | None
    status_code: int
    attempts: int


@dataclass(frozen=True)
class StockRecord:
    warehouse_code: str
    sku: str
    on_hand: int


@dataclass(frozen=True)
class ItemRecord:
    sku: str
    name: str | None = None
    weight_kg: float | None = None
    barcodes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ErpInvoice:
    """An invoice the ERP holds, as its invoice list shows it."""

    number: str
    reference: str | None  # our ``InvoiceDocument.reference``, when the ERP kept it
    order_reference: str | None = None
    issued_on: date | None = None
    total: str | None = None


@dataclass(frozen=True)
class Records:
    """What a read of the ERP returned: the records, and those it could not read."""

    records: tuple[Any, ...]
    rejected: tuple[tuple[Any, str], ...] = ()


@runtime_checkable
class ErpPoster(Protocol):
    """An ERP that takes sales orders and invoices (safe to repeat with the same key)."""

    def post_sales_order(
        self, document: SalesOrderDocument, *, idempotency_key: str
    ) -> ErpReceipt: ...

    def post_invoice(self, document: InvoiceDocument, *, idempotency_key: str) -> ErpReceipt: ...


@runtime_checkable
class PurchaseRequestSink(Protocol):
    """An ERP that takes purchase requests (payload: see ``PurchaseRequest``)."""

    def send_purchase_request(
        self, payload: Mapping[str, Any], *, idempotency_key: str
    ) -> ErpReceipt: ...


@runtime_checkable
class StockSnapshotSource(Protocol):
    """On hand per warehouse code and SKU, every row the ERP has (``Records`` of
    ``StockRecord``)."""

    def fetch_stock_snapshot(self) -> Records: ...


@runtime_checkable
class ItemMasterSource(Protocol):
    """The item master (``Records`` of ``ItemRecord``)."""

    def fetch_items(self) -> Records: ...


@runtime_checkable
class InvoiceLister(Protocol):
    """The ERP's invoices issued between two dates, both included."""

    def list_invoices(self, date_from: date, date_to: date) -> Sequence[ErpInvoice]: ...
