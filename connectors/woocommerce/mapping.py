"""WooCommerce order object → canonical order, and the small pure helpers around it.

The declarative spec ``mapping_spec.json`` beside this module maps the order. The helpers
here read WooCommerce's UTC dates, parse stock ``channel_ref`` values and write (and
recognise) the tracking note that ``push_fulfilment`` adds to an order.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from omniroute.connectors.base import FulfilmentNotice, PayloadError, ReturnNotice
from omniroute.mapping import MappingSpec, load_spec, map_order

#: This kind's mapping spec: a JSON resource of this package, installed with it.
SPEC_RESOURCE = "mapping_spec.json"


def spec() -> MappingSpec:
    """The compiled order spec (``connectors/woocommerce/mapping_spec.json``), loaded once."""
    return load_spec("omniroute.connectors.woocommerce", SPEC_RESOURCE)


#: The line of a tracking note that makes ``push_fulfilment`` safe to repeat.
SHIPMENT_MARKER = "Shipment reference:"
_MARKER_LINE = re.compile(re.escape(SHIPMENT_MARKER) + r"[ \t]*(\S+)")
RETURN_MARKER = "Return reference:"
_RETURN_LINE = re.compile(re.escape(RETURN_MARKER) + r"[ \t]*(\S+)")
_PRODUCT_REF = re.compile(r"product:([1-9]\d*)")
_VARIATION_REF = re.compile(r"variation:([1-9]\d*):([1-9]\d*)")


def to_canonical(order: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical order (mapping/schemas/order.v1.json); raises ``mapping.MappingError``."""
    return map_order(spec(), order)


def extract_order(document: Any) -> dict[str, Any]:
    """The REST v3 order object a payload carries; raises ``PayloadError`` if it is none."""
    if not isinstance(document, dict):
        raise PayloadError(
            f"WooCommerce order payload must be a JSON object, got {type(document).__name__}"
        )
    if document.get("id") is None or not isinstance(document.get("line_items"), list):
        raise PayloadError(
            "WooCommerce payload is not an order: expected an object with 'id' and 'line_items'"
        )
    return document


def parse_gmt(value: Any, *, field: str) -> datetime:
    """A ``*_gmt`` value (UTC written without an offset) as an aware datetime."""
    if not isinstance(value, str) or not value.strip():
        raise PayloadError(f"WooCommerce order has no {field}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise PayloadError(f"WooCommerce {field} is not an ISO 8601 date: {value[:40]!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def modified_at(order: Mapping[str, Any]) -> datetime:
    """When this version of the order was last modified (``date_modified_gmt``), in UTC."""
    return parse_gmt(order.get("date_modified_gmt"), field="date_modified_gmt")


def format_gmt(moment: datetime) -> str:
    """A moment as WooCommerce's GMT query format, ``2024-05-01T10:00:00`` (UTC, no offset)."""
    if moment.tzinfo is None:
        raise ValueError("a timezone-aware datetime is required")
    return moment.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat()


@dataclass(frozen=True)
class StockTarget:
    """Where one SKU's stock lives: a simple product, or a variation of a variable product."""

    product_id: int
    parent_id: int | None = None  # set for a variation: the variable product it belongs to


def parse_channel_ref(channel_ref: str) -> StockTarget:
    """``"product:<id>"`` or ``"variation:<parent id>:<variation id>"``; else ``ValueError``."""
    text = channel_ref.strip()
    product = _PRODUCT_REF.fullmatch(text)
    if product:
        return StockTarget(int(product.group(1)))
    variation = _VARIATION_REF.fullmatch(text)
    if variation:
        return StockTarget(int(variation.group(2)), parent_id=int(variation.group(1)))
    raise ValueError(
        f"WooCommerce channel_ref {channel_ref[:60]!r} must be 'product:<id>' or "
        "'variation:<parent id>:<variation id>'"
    )


def tracking_note(notice: FulfilmentNotice) -> str:
    """The customer-visible order note for a shipment, ending with its reference line."""
    parts = ["Your order has shipped"]
    if notice.carrier:
        parts[0] += f" with {notice.carrier}"
    parts[0] += "."
    if notice.tracking_number:
        parts.append(f"Tracking number: {notice.tracking_number}")
    if notice.tracking_url:
        parts.append(f"Track it at: {notice.tracking_url}")
    parts.append(f"{SHIPMENT_MARKER} {marker_ref(notice.shipment_ref)}")
    return "\n".join(parts)


def marker_ref(shipment_ref: str) -> str:
    """The shipment reference as one word, as the note writes it (blanks become dashes)."""
    return "-".join(shipment_ref.split()) or "-"


def note_shipment_refs(note: Any) -> set[str]:
    """The shipment references written in an order note's text (none if it is not text)."""
    if not isinstance(note, str):
        return set()
    return set(_MARKER_LINE.findall(html.unescape(note)))


_RETURN_WORDS = {
    "authorised": "Your return {rma} is authorised; please send the items back.",
    "received": "We have received items of your return {rma}.",
    "cancelled": "Your return {rma} was cancelled.",
}


def return_note(notice: ReturnNotice) -> str:
    """The order note for a return's status, the units named, ending with its reference."""
    template = _RETURN_WORDS.get(notice.status, "Your return {rma} is now " + notice.status + ".")
    parts = [template.format(rma=notice.rma_number)]
    parts += [f"{line.quantity} x {line.sku}" for line in notice.lines]
    parts.append(f"{RETURN_MARKER} {return_ref(notice)}")
    return "\n".join(parts)


def return_ref(notice: ReturnNotice) -> str:
    """One word per RMA and step: a retried push finds its note and adds none."""
    return "-".join(f"{notice.rma_number}:{notice.status}:{notice.idempotency_key}".split())


def note_return_refs(note: Any) -> set[str]:
    """The return references written in an order note's text."""
    if not isinstance(note, str):
        return set()
    return set(_RETURN_LINE.findall(html.unescape(note)))
