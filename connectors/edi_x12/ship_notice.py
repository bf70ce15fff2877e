"""856 ship notice from plain dataclasses: the HL hierarchy shipment → order → pack → item.

The shipment level carries the carrier (TD5), the bill of lading and tracking number (REF),
the ship date (DTM 011) and the ship-to; each order level its PO number (PRF); each pack
its SSCC (MAN*GM) when it has one and its tracking number (REF*CN); each item its ids (LIN)
and quantities (SN1).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from omniroute.connectors.edi_x12.outbound import Identifiers, id_pairs
from omniroute.connectors.edi_x12.serializer import OutSegment, SerializeError, TransactionOut, seg


@dataclass(frozen=True, slots=True)
class ShippedItem:
    identifiers: Identifiers
    quantity: int
    unit: str = "EA"
    ordered_quantity: int | None = None
    line_id: str | None = None  # SN101: the PO line it ships


@dataclass(frozen=True, slots=True)
class Pack:
    items: Sequence[ShippedItem]
    sscc: str | None = None
    tracking_number: str | None = None


@dataclass(frozen=True, slots=True)
class ShippedOrder:
    po_number: str
    packs: Sequence[Pack]
    po_date: dt.date | None = None


@dataclass(frozen=True, slots=True)
class ShipTo:
    """N1*ST: a name, and a location code (``("92", "0042")``) or an address, or both."""

    name: str
    code: tuple[str, str] | None = None
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


@dataclass(frozen=True, slots=True)
class ShipNotice:
    shipment_id: str
    shipped_at: dt.datetime
    orders: Sequence[ShippedOrder]
    control_number: int
    carrier_scac: str | None = None
    bill_of_lading: str | None = None
    tracking_number: str | None = None
    ship_to: ShipTo | None = None


class _Levels:
    """HL numbering: each level gets the next id and names its parent."""

    def __init__(self) -> None:
        self.count = 0
        self.body: list[OutSegment] = []

    def open(self, parent: int | None, code: str, has_children: bool) -> int:
        self.count += 1
        parent_id = str(parent) if parent is not None else None
        self.body.append(seg("HL", str(self.count), parent_id, code, "1" if has_children else "0"))
        return self.count


def _ship_to(ship_to: ShipTo) -> list[OutSegment]:
    code = ship_to.code or (None, None)
    segments = [seg("N1", "ST", ship_to.name, *code)]
    if ship_to.address1:
        segments.append(seg("N3", ship_to.address1, ship_to.address2))
    if ship_to.city:
        segments.append(
            seg("N4", ship_to.city, ship_to.region, ship_to.postal_code, ship_to.country)
        )
    return segments


def ship_notice(doc: ShipNotice) -> TransactionOut:
    """An 856 (BSN05 0001: shipment, order, pack, item)."""
    if not doc.orders or any(not order.packs for order in doc.orders):
        raise SerializeError(f"856 {doc.shipment_id}: every order needs at least one pack")
    levels = _Levels()
    levels.body.append(
        seg(
            "BSN",
            "00",
            doc.shipment_id,
            doc.shipped_at.strftime("%Y%m%d"),
            doc.shipped_at.strftime("%H%M"),
            "0001",
        )
    )
    shipment = levels.open(None, "S", True)
    if doc.carrier_scac:
        levels.body.append(seg("TD5", None, "2", doc.carrier_scac))
    if doc.bill_of_lading:
        levels.body.append(seg("REF", "BM", doc.bill_of_lading))
    if doc.tracking_number:
        levels.body.append(seg("REF", "CN", doc.tracking_number))
    levels.body.append(seg("DTM", "011", doc.shipped_at.strftime("%Y%m%d")))
    if doc.ship_to is not None:
        levels.body.extend(_ship_to(doc.ship_to))
    for order in doc.orders:
        order_level = levels.open(shipment, "O", True)
        po_date = order.po_date.strftime("%Y%m%d") if order.po_date else None
        levels.body.append(seg("PRF", order.po_number, None, None, po_date))
        for pack in order.packs:
            _pack(levels, order_level, pack, order.po_number)
    levels.body.append(seg("CTT", str(levels.count)))
    return TransactionOut("856", doc.control_number, levels.body)


def _pack(levels: _Levels, parent: int, pack: Pack, po_number: str) -> None:
    if not pack.items:
        raise SerializeError(f"856 order {po_number}: a pack has no items")
    pack_level = levels.open(parent, "P", True)
    if pack.sscc:
        if len(pack.sscc) not in {18, 20} or not pack.sscc.isdigit():
            raise SerializeError(
                f"856 order {po_number}: SSCC {pack.sscc!r} is not 18 or 20 digits"
            )
        levels.body.append(seg("MAN", "GM", pack.sscc))
    if pack.tracking_number:
        levels.body.append(seg("REF", "CN", pack.tracking_number))
    for number, item in enumerate(pack.items, start=1):
        levels.open(pack_level, "I", False)
        where = f"856 order {po_number} item {number}"
        levels.body.append(seg("LIN", item.line_id, *id_pairs(item.identifiers, where)))
        ordered = (str(item.ordered_quantity), item.unit) if item.ordered_quantity else (None, None)
        levels.body.append(seg("SN1", item.line_id, str(item.quantity), item.unit, None, *ordered))
