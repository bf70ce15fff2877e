"""DESADV (despatch advice, BGM 351) from a plain ``DespatchAdvice``.

The consignment is CPS 1; each package a CPS under it with PAC (one package of its type),
PCI+33E with the package's tracking number (RFF+CN) and its SSCC (GIN+BJ) where it has
them, and its items as LIN with QTY+12 (despatched) and RFF+ON (order number and line).
A shipment-wide tracking number goes in the header as RFF+CN.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from omniroute.connectors.edi_edifact.adapter import Segment, segment
from omniroute.connectors.edi_edifact.parts import ItemId, PartyRef, dtm, line_items, nad
from omniroute.connectors.edi_edifact.writer import OutboundError, OutboundMessage


@dataclass(frozen=True)
class PackedItem:
    line_number: str
    items: tuple[ItemId, ...]
    quantity: int
    order_line: str | None = None


@dataclass(frozen=True)
class Package:
    contents: tuple[PackedItem, ...]
    sscc: str | None = None
    tracking_number: str | None = None
    package_type: str = "CT"  # 7065: CT carton, PX pallet, ...


@dataclass(frozen=True)
class DespatchAdvice:
    document_number: str
    order_number: str
    issued: datetime
    buyer: PartyRef
    supplier: PartyRef
    ship_to: PartyRef
    packages: tuple[Package, ...]
    despatched: datetime | None = None
    delivery_expected: date | None = None
    tracking_number: str | None = None


def build_desadv(
    advice: DespatchAdvice,
    *,
    reference: str,
    version: tuple[str, str] = ("D", "96A"),
    association: str = "EAN005",
) -> OutboundMessage:
    if not advice.packages or not all(package.contents for package in advice.packages):
        raise OutboundError("a DESADV needs packages, each with at least one item")
    body: list[Segment] = [
        segment("BGM", "351", advice.document_number, "9"),
        dtm("137", advice.issued),
    ]
    if advice.despatched is not None:
        body.append(dtm("11", advice.despatched))
    if advice.delivery_expected is not None:
        body.append(dtm("17", advice.delivery_expected))
    body.append(segment("RFF", ["ON", advice.order_number]))
    if advice.tracking_number:
        body.append(segment("RFF", ["CN", advice.tracking_number]))
    body += [nad("BY", advice.buyer), nad("SU", advice.supplier), nad("DP", advice.ship_to)]
    body.append(segment("CPS", "1"))
    line_numbers: set[str] = set()
    for index, package in enumerate(advice.packages, start=2):
        body.extend(_package(index, package, advice.order_number, line_numbers))
    body.append(segment("CNT", ["2", str(len(line_numbers))]))
    return OutboundMessage(
        reference=reference,
        type="DESADV",
        version=version[0],
        release=version[1],
        body=tuple(body),
        association=association,
    )


def _package(index: int, package: Package, order: str, seen: set[str]) -> list[Segment]:
    out = [segment("CPS", str(index), "1"), segment("PAC", "1", None, package.package_type)]
    if package.sscc or package.tracking_number:
        out.append(segment("PCI", "33E"))
        if package.tracking_number:
            out.append(segment("RFF", ["CN", package.tracking_number]))
        if package.sscc:
            if not (len(package.sscc) == 18 and package.sscc.isdigit()):
                raise OutboundError(f"SSCC {package.sscc!r} is not 18 digits")
            out.append(segment("GIN", "BJ", package.sscc))
    for item in package.contents:
        if item.line_number in seen:
            raise OutboundError(f"DESADV line number {item.line_number!r} is used twice")
        seen.add(item.line_number)
        out.extend(line_items(item.line_number, item.items))
        out.append(segment("QTY", ["12", str(item.quantity)]))
        out.append(segment("RFF", ["ON", order, item.order_line or ""]))
    return out
