"""An ORDERS message → the canonical order (mapping/schemas/order.v1.json).

Read by segment group: the header (BGM, DTM, FTX, RFF, NAD with its RFF, CUX) up to the
first LIN; each LIN with what follows it (PIA, IMD, QTY, DTM, MOA, PRI, RFF, FTX) up to the
next LIN or UNS; the summary after UNS (MOA, CNT). Segments this mapping does not read are
left alone (the raw interchange is kept by intake).

Where the canonical order has no field, values go to name/value pairs: order ``attributes``
(dates other than 137, references, parties' location codes) and line ``properties``
(gross price, line references and dates). Each line carries every item id it was sent
with in ``identifiers`` (scheme, qualifier 7143, value; the schemes shared with the X12
mapping), in the order SKU resolution is to try them; ``channel_sku`` is the first.

A party identified only by a code (NAD+ST+GLN::9) has no address here: ``PurchaseOrder``
names the code (``ship_to_location``, NAD+ST, else NAD+DP) so that wiring can put the
address it keeps for that partner and code in ``ship_to``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from decimal import Decimal
from typing import Any

from omniroute.connectors.edi_edifact.adapter import Segment
from omniroute.connectors.edi_edifact.envelope import Interchange, Message, SyntaxErrorCode
from omniroute.connectors.edi_edifact.values import (
    amount_text,
    decimal_of,
    iso_of,
    moment_of,
    quantity_of,
    start_of,
)
from omniroute.mapping import MappingError, validate_order

#: DTM qualifiers (2005) with a readable attribute name; others become ``dtm_<code>``.
DATE_NAMES = {
    "2": "delivery_requested",
    "10": "shipment_requested",
    "37": "ship_not_before",
    "38": "ship_not_after",
    "63": "delivery_latest",
    "64": "delivery_earliest",
    "69": "delivery_promised",
}
#: Parties (NAD 3035) whose coded id is kept, by the name used in attributes.
PARTY_NAMES = {
    "ST": "ship_to",
    "DP": "delivery_party",
    "BY": "buyer",
    "IV": "invoicee",
    "SU": "supplier",
    "UC": "ultimate_consignee",
}
_MISSING = SyntaxErrorCode.MISSING
#: Item number types (7143, on LIN and PIA) and the scheme each id is kept under; the
#: scheme names are the X12 mapping's, so one alias ("gtin:<value>") serves both syntaxes.
ID_SCHEMES: dict[str, str] = {
    "EN": "gtin",  # EAN (GTIN-13)
    "UP": "gtin",  # UPC
    "SRV": "gtin",  # GS1 global trade item number (newer directories)
    "SA": "vendor_part",  # supplier's article number: ours
    "VP": "vendor_part",  # vendor's (seller's) part number
    "VN": "vendor_part",  # vendor item number
    "SK": "sku",
    "IN": "buyer_part",  # buyer's item number
    "BP": "buyer_part",  # buyer's part number
    "MF": "manufacturer_part",  # manufacturer's article number
}
#: The order identifiers are tried in unless the partner says otherwise: our own number
#: first, then the buyer's, then the GTIN.
DEFAULT_IDENTIFIER_ORDER: tuple[str, ...] = (
    "vendor_part",
    "sku",
    "buyer_part",
    "gtin",
    "manufacturer_part",
)
#: BGM 1225 message function codes that cancel the order.
CANCELLING_FUNCTIONS = frozenset({"1"})


@dataclass(frozen=True)
class LocationCode:
    """A party's coded identification: NAD 3035 (ST, DP, BY, ...), 3039 and 3055 (9 = GS1)."""

    party: str
    code: str
    agency: str


@dataclass(frozen=True)
class PurchaseOrder:
    """One ORDERS message mapped: the canonical order and what wiring resolves further."""

    message_reference: str
    order: dict[str, Any]
    ship_to_location: LocationCode | None
    locations: tuple[LocationCode, ...]
    response_requested: str  # BGM 4343: AC, AB, NA ... ("" when absent)


@dataclass
class _Line:
    number: str
    lin: Segment
    identifiers: list[dict[str, str]] = field(default_factory=list)
    unit: str | None = None
    titles: list[str] = field(default_factory=list)
    quantity: int | None = None
    properties: list[dict[str, str]] = field(default_factory=list)
    net_price: str | None = None
    gross_price: str | None = None
    line_total: str | None = None


@dataclass
class _Order:
    document: Segment | None = None
    created_at: str | None = None
    currency: str | None = None
    notes: list[str] = field(default_factory=list)
    attributes: list[dict[str, str]] = field(default_factory=list)
    parties: dict[str, Segment] = field(default_factory=dict)
    locations: list[LocationCode] = field(default_factory=list)
    lines: list[_Line] = field(default_factory=list)
    totals: dict[str, str] = field(default_factory=dict)
    counts: list[Segment] = field(default_factory=list)


def map_orders(
    message: Message,
    interchange: Interchange,
    *,
    channel: str = "edifact",
    currency: str | None = None,
    zone: tzinfo = UTC,
    identifier_order: Sequence[str] = DEFAULT_IDENTIFIER_ORDER,
) -> PurchaseOrder:
    """Map one ORDERS message. ``currency`` is the partner's when the message has no CUX,
    ``zone`` the partner's time zone for DTM moments, ``identifier_order`` the schemes in
    the order SKU resolution is to try them (the first id is ``channel_sku``). Raises
    ``MappingError`` naming the segment (``source``) for what cannot be mapped or fails the
    schema."""
    if message.type != "ORDERS":
        raise MappingError(f"message type {message.type!r} is not ORDERS", path="$")
    reader = _Reader(interchange.delimiters.decimal, zone)
    state = reader.read(message.body)
    order = _canonical(
        state,
        message,
        interchange,
        channel=channel,
        currency=currency,
        identifier_order=identifier_order,
    )
    validate_order(order)
    ship_to = next((loc for loc in state.locations if loc.party == "ST"), None) or next(
        (loc for loc in state.locations if loc.party == "DP"), None
    )
    document = state.document
    return PurchaseOrder(
        message_reference=message.reference,
        order=order,
        ship_to_location=ship_to,
        locations=tuple(state.locations),
        response_requested=document.value(3) if document else "",
    )


class OrdersMappingError(MappingError):
    """A ``MappingError`` that knows its segment (number in the file, tag) and the syntax
    error code a CONTRL would report for it (``contrl.problem_of``)."""

    def __init__(
        self,
        detail: str,
        *,
        path: str | None = None,
        source: str | None = None,
        segment: int = 0,
        tag: str = "",
        code: SyntaxErrorCode = SyntaxErrorCode.INVALID_VALUE,
        element: int | None = None,
        component: int | None = None,
    ) -> None:
        super().__init__(detail, path=path, source=source)
        self.segment = segment
        self.tag = tag
        self.code = code
        self.element = element
        self.component = component

    def __reduce__(self) -> tuple[Any, ...]:
        rebuild = functools.partial(
            OrdersMappingError,
            path=self.path,
            source=self.source,
            segment=self.segment,
            tag=self.tag,
            code=self.code,
            element=self.element,
            component=self.component,
        )
        return (rebuild, (self.detail,))


def _fail(
    at: Segment,
    detail: str,
    path: str = "$",
    code: SyntaxErrorCode = SyntaxErrorCode.INVALID_VALUE,
    where: tuple[int, int] | None = None,
) -> OrdersMappingError:
    """``where``: the data element and component (1-based) at fault, where one is."""
    return OrdersMappingError(
        detail,
        path=path,
        source=f"segment {at.number} ({at.tag})",
        segment=at.number,
        tag=at.tag,
        code=code,
        element=where[0] if where else None,
        component=where[1] if where else None,
    )


#: Where the value sits in DTM, QTY, PRI, MOA and CNT: the first composite's 2nd component.
_VALUE = (1, 2)


class _Reader:
    def __init__(self, decimal_mark: str, zone: tzinfo) -> None:
        self.decimal_mark = decimal_mark
        self.zone = zone

    def read(self, body: Sequence[Segment]) -> _Order:
        state = _Order()
        section = "header"
        last_party: str | None = None
        for item in body:
            if item.tag == "LIN":
                section = "line"
                state.lines.append(self._line(item, len(state.lines)))
            elif item.tag == "UNS":
                section = "summary"
            elif section == "header":
                last_party = self._header(item, state, last_party)
            elif section == "line":
                self._line_detail(item, state.lines[-1])
            else:
                self._summary(item, state)
        return state

    # --- header ---------------------------------------------------------------------------

    def _header(self, item: Segment, state: _Order, last_party: str | None) -> str | None:
        if item.tag == "BGM":
            state.document = item
        elif item.tag == "DTM":
            self._header_date(item, state)
        elif item.tag == "FTX":
            text = (
                " ".join(part for part in item.elements[3] if part)
                if len(item.elements) > 3
                else ""
            )
            if text:
                state.notes.append(text)
        elif item.tag == "RFF":
            name = f"reference_{item.value(0, 0)}"
            if last_party is not None:
                name = f"{PARTY_NAMES.get(last_party, last_party)}_{name}"
            state.attributes.append({"name": name, "value": item.value(0, 1)})
        elif item.tag == "NAD":
            return self._party(item, state)
        elif item.tag == "CUX":
            state.currency = item.value(0, 1) or None
        return last_party if item.tag in {"RFF", "CTA", "COM", "LOC", "FII"} else None

    def _header_date(self, item: Segment, state: _Order) -> None:
        qualifier, text, format_code = item.value(0, 0), item.value(0, 1), item.value(0, 2)
        moment = self._moment(item, text, format_code)
        if qualifier == "137":
            state.created_at = start_of(moment, self.zone).isoformat()
        else:
            name = DATE_NAMES.get(qualifier, f"dtm_{qualifier}")
            state.attributes.append({"name": name, "value": iso_of(moment)})

    def _moment(self, item: Segment, text: str, format_code: str) -> Any:
        try:
            return moment_of(text, format_code or "102", self.zone)
        except ValueError as exc:
            raise _fail(item, str(exc), where=_VALUE) from None

    def _party(self, item: Segment, state: _Order) -> str:
        qualifier = item.value(0)
        state.parties.setdefault(qualifier, item)
        code, agency = item.value(1, 0), item.value(1, 2)
        if code:
            state.locations.append(LocationCode(qualifier, code, agency))
            name = PARTY_NAMES.get(qualifier, f"party_{qualifier}")
            state.attributes.append({"name": f"{name}_location", "value": code})
            if agency:
                state.attributes.append({"name": f"{name}_location_agency", "value": agency})
        return qualifier

    # --- lines ----------------------------------------------------------------------------

    def _line(self, item: Segment, index: int) -> _Line:
        line = _Line(number=item.value(0) or str(index + 1), lin=item)
        if item.value(2, 0):
            line.identifiers.append(_identifier(item.value(2, 1), item.value(2, 0)))
        return line

    def _line_detail(self, item: Segment, line: _Line) -> None:
        handler = _LINE_SEGMENTS.get(item.tag)
        if handler is not None:
            handler(self, item, line)

    def _pia(self, item: Segment, line: _Line) -> None:
        for parts in item.elements[1:]:
            if parts and parts[0]:
                qualifier = parts[1] if len(parts) > 1 else ""
                line.identifiers.append(_identifier(qualifier, parts[0]))

    def _imd(self, item: Segment, line: _Line) -> None:
        parts = item.elements[2] if len(item.elements) > 2 else ()
        text = " ".join(part for part in parts[3:5] if part)
        if text:
            line.titles.append(text)

    def _qty(self, item: Segment, line: _Line) -> None:
        qualifier, text, unit = item.value(0, 0), item.value(0, 1), item.value(0, 2)
        try:
            quantity = quantity_of(text)
        except ValueError as exc:
            raise _fail(item, str(exc), where=_VALUE) from None
        if qualifier == "21":
            if line.quantity is not None:
                raise _fail(item, f"line {line.number} has a second ordered quantity (QTY+21)")
            line.quantity = quantity
            line.unit = unit or None
        else:
            line.properties.append({"name": f"quantity_{qualifier}", "value": str(quantity)})

    def _pri(self, item: Segment, line: _Line) -> None:
        qualifier, text = item.value(0, 0), item.value(0, 1)
        if not text:
            return
        price = self._decimal(item, text)
        basis = item.value(0, 4)
        if basis:
            divisor = self._decimal(item, basis, (1, 5))
            if divisor <= 0:
                raise _fail(item, f"price basis {basis!r} is not a positive quantity")
            price = price / divisor
        if qualifier == "AAA":
            line.net_price = amount_text(price)
        elif qualifier == "AAB":
            line.gross_price = amount_text(price)
            line.properties.append({"name": "gross_price", "value": amount_text(price)})
        else:
            line.properties.append({"name": f"price_{qualifier}", "value": amount_text(price)})

    def _moa(self, item: Segment, line: _Line) -> None:
        if item.value(0, 0) == "203":
            line.line_total = amount_text(self._decimal(item, item.value(0, 1)))

    def _line_rff(self, item: Segment, line: _Line) -> None:
        name = f"reference_{item.value(0, 0)}"
        line.properties.append({"name": name, "value": item.value(0, 1)})

    def _line_dtm(self, item: Segment, line: _Line) -> None:
        qualifier = item.value(0, 0)
        moment = self._moment(item, item.value(0, 1), item.value(0, 2))
        name = DATE_NAMES.get(qualifier, f"dtm_{qualifier}")
        line.properties.append({"name": name, "value": iso_of(moment)})

    def _line_ftx(self, item: Segment, line: _Line) -> None:
        text = " ".join(part for part in item.elements[3] if part) if len(item.elements) > 3 else ""
        if text:
            line.properties.append({"name": "note", "value": text})

    def _decimal(self, item: Segment, text: str, where: tuple[int, int] = _VALUE) -> Decimal:
        try:
            return decimal_of(text)
        except ValueError as exc:
            raise _fail(item, str(exc), where=where) from None

    # --- summary --------------------------------------------------------------------------

    def _summary(self, item: Segment, state: _Order) -> None:
        if item.tag == "MOA" and item.value(0, 1):
            state.totals[item.value(0, 0)] = amount_text(self._decimal(item, item.value(0, 1)))
        elif item.tag == "CNT":
            state.counts.append(item)


_LINE_SEGMENTS = {
    "PIA": _Reader._pia,
    "IMD": _Reader._imd,
    "QTY": _Reader._qty,
    "PRI": _Reader._pri,
    "MOA": _Reader._moa,
    "RFF": _Reader._line_rff,
    "DTM": _Reader._line_dtm,
    "FTX": _Reader._line_ftx,
}


def _canonical(
    state: _Order,
    message: Message,
    interchange: Interchange,
    *,
    channel: str,
    currency: str | None,
    identifier_order: Sequence[str],
) -> dict[str, Any]:
    document = state.document
    if document is None:
        raise _fail(
            message.segments[0], "ORDERS has no BGM (beginning of message)", "external_id", _MISSING
        )
    number = document.value(1, 0)
    if not number:
        raise _fail(document, "BGM has no document number (1004)", "external_id", _MISSING, (2, 1))
    chosen = state.currency or currency
    if not chosen:
        raise _fail(
            document,
            "the order has no CUX currency and the partner has no default currency",
            "currency",
            _MISSING,
        )
    if not state.lines:
        raise _fail(document, "ORDERS has no LIN line", "lines", _MISSING)
    _check_counts(state)
    attributes = list(state.attributes)
    for name, value in (
        ("document_name", document.value(0, 0)),
        ("message_function", document.value(2)),
        ("response_type", document.value(3)),
    ):
        if value:
            attributes.append({"name": name, "value": value})
    return {
        "external_id": number,
        "external_number": number,
        "channel": channel,
        "created_at": state.created_at,
        "currency": chosen.upper(),
        "total": state.totals.get("86") or state.totals.get("128"),
        "subtotal": state.totals.get("79"),
        "test": interchange.test,
        "cancelled": document.value(2) in CANCELLING_FUNCTIONS,
        "customer": _customer(state.parties.get("BY")),
        "ship_to": _address(state.parties.get("ST") or state.parties.get("DP")),
        "bill_to": _address(state.parties.get("IV")),
        "lines": [_canonical_line(line, identifier_order) for line in state.lines],
        "note": "\n".join(state.notes) or None,
        "attributes": attributes,
    }


def _check_counts(state: _Order) -> None:
    seen: set[str] = set()
    for line in state.lines:
        if line.number in seen:
            raise _fail(
                line.lin,
                f"line number {line.number!r} is used twice",
                "lines",
                SyntaxErrorCode.DUPLICATE,
            )
        seen.add(line.number)
        if line.quantity is None:
            raise _fail(
                line.lin, f"line {line.number} has no ordered quantity (QTY+21)", "lines", _MISSING
            )
    for item in state.counts:
        qualifier, text = item.value(0, 0), item.value(0, 1)
        try:
            declared = decimal_of(text)
        except ValueError as exc:
            raise _fail(item, str(exc), where=_VALUE) from None
        if qualifier == "2" and declared != len(state.lines):
            raise _fail(
                item,
                f"CNT+2 counts {text} lines but the message has {len(state.lines)}",
                code=SyntaxErrorCode.COUNT_DOES_NOT_MATCH,
            )
        total = sum(line.quantity or 0 for line in state.lines)
        if qualifier == "1" and declared != total:
            raise _fail(
                item,
                f"CNT+1 totals {text} but the lines order {total} units",
                code=SyntaxErrorCode.COUNT_DOES_NOT_MATCH,
            )


def _canonical_line(line: _Line, preference: Sequence[str]) -> dict[str, Any]:
    rank = {scheme: index for index, scheme in enumerate(preference)}
    identifiers = sorted(line.identifiers, key=lambda item: rank.get(item["scheme"], len(rank)))
    return {
        "external_line_id": line.number,
        "channel_sku": identifiers[0]["value"] if identifiers else None,
        "identifiers": identifiers,
        "title": " ".join(line.titles) or None,
        "quantity": line.quantity,
        "unit_of_measure": line.unit,
        "unit_price": line.net_price or line.gross_price,
        "line_total": line.line_total,
        "properties": line.properties,
    }


def _identifier(qualifier: str, value: str) -> dict[str, str]:
    scheme = ID_SCHEMES.get(qualifier, f"edifact_{qualifier.lower() or 'unqualified'}")
    return {"scheme": scheme, "qualifier": qualifier, "value": value}


def _customer(buyer: Segment | None) -> dict[str, Any]:
    address = _address(buyer)
    return {"name": address["name"] if address else None}


def _address(party: Segment | None) -> dict[str, Any] | None:
    """NAD's structured name and address (C080, C059, 3164, C819, 3251, 3207), else its
    unstructured lines (C058); None when it has only a coded id."""
    if party is None:
        return None
    free = [part for part in _element(party, 2) if part]
    name = " ".join(part for part in _element(party, 3) if part) or None
    streets = [part for part in _element(party, 4) if part]
    city, region = party.value(5), party.value(6, 0)
    postal_code, country = party.value(7), party.value(8)
    if name is None and free:
        name, streets = free[0], streets or free[1:]
    if not (name or streets or city or postal_code or country):
        return None
    return {
        "name": name,
        "address1": streets[0] if streets else None,
        "address2": " ".join(streets[1:]) or None,
        "city": city or None,
        "region": region or None,
        "postal_code": postal_code or None,
        "country": country.upper() or None,
    }


def _element(item: Segment, index: int) -> tuple[str, ...]:
    return item.elements[index] if index < len(item.elements) else ()


def orders_in(interchange: Interchange) -> Iterator[Message]:
    """The ORDERS messages the envelope checks accept (``Interchange.accepted_messages``)."""
    for message in interchange.accepted_messages():
        if message.type == "ORDERS":
            yield message
