"""850 purchase order → canonical order (mapping/schemas/order.v1.json).

Each 850 transaction set is its own order: BEG03 is its number (with BEG04 when the order
is a release against a blanket order), BEG05 its date, CUR its currency (else the partner's
default), N1 loops its parties (ST ship-to, BT bill-to, BY buyer), DTM/REF/TD5 its requested
dates, references and routing (kept as order attributes), PO1 its lines with every id pair
(``identifiers``, ordered by the partner's preference so that SKU resolution tries them in
that order), PID their descriptions. A ship-to given only as a location code
(``N1*ST*name*92*code``, or a GLN with qualifier UL) is kept as ``ship_to_location`` so that
the wiring can put the partner's address for that code in place.

A problem that stops the order (no PO number, a quantity that is not a whole number, a bad
date) raises ``PurchaseOrderError``, whose ``note`` names the segment and element for the
997's AK3/AK4; a problem that does not (CTT's line count) is a note on the result.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from omniroute.connectors.edi_x12.acknowledgements import ElementNote, SegmentNote, SetVerdict
from omniroute.connectors.edi_x12.codes import ElementError, SegmentError
from omniroute.connectors.edi_x12.envelope import TransactionSet
from omniroute.connectors.edi_x12.tokenizer import Segment
from omniroute.mapping import MappingError, TransformError, validate_order
from omniroute.mapping.transforms import country as country_code

#: Product/service id qualifiers (PO106, PO108, ...) and the scheme each id is kept under.
ID_SCHEMES: dict[str, str] = {
    "UP": "gtin",  # U.P.C. consumer package code
    "UK": "gtin",  # GTIN-14
    "EN": "gtin",  # EAN/UCC-13
    "UA": "gtin",  # U.P.C./EAN case code
    "UN": "gtin",  # U.P.C. case code number
    "BP": "buyer_part",
    "IN": "buyer_part",  # buyer's item number
    "VP": "vendor_part",
    "VN": "vendor_part",  # vendor's item number
    "VA": "vendor_style",
    "MG": "manufacturer_part",
    "SK": "sku",
    "CB": "buyer_catalog",
}
#: The order identifiers are tried in when nothing else is configured: the vendor's own
#: number first (that is ours), then a SKU, the buyer's number, the GTIN.
DEFAULT_IDENTIFIER_ORDER: tuple[str, ...] = (
    "vendor_part",
    "sku",
    "buyer_part",
    "gtin",
    "buyer_catalog",
    "vendor_style",
    "manufacturer_part",
)
#: DTM qualifiers kept as attributes (header) or properties (line), by name.
DATE_NAMES: dict[str, str] = {
    "001": "cancel_after",
    "002": "delivery_requested",
    "010": "ship_requested",
    "037": "ship_not_before",
    "038": "ship_no_later",
    "063": "deliver_no_later",
    "064": "deliver_not_before",
    "106": "required_by",
}
_ISO3 = {"USA": "US", "CAN": "CA", "MEX": "MX"}
_CANCELLING_PURPOSES = frozenset({"01", "03"})  # cancellation, delete
_MAX_DIGITS = 15


@dataclass(frozen=True, slots=True)
class LocationCode:
    """A party given by code: ``N1*ST*name*92*code`` → qualifier ``92``, code ``code``."""

    party: str
    qualifier: str
    code: str


@dataclass(frozen=True, slots=True)
class PurchaseOrder:
    """One mapped 850: the canonical order and what the wiring still has to resolve."""

    order: dict[str, Any]
    ship_to_location: LocationCode | None
    purpose: str
    verdict: SetVerdict = field(default_factory=SetVerdict)
    location_resolved: bool = False  # the ship-to's address came from ``locations``


class PurchaseOrderError(ValueError):
    """The 850 cannot become an order; ``note`` says where, for the 997."""

    def __init__(self, note: SegmentNote, control_number: str) -> None:
        super().__init__(
            f"850 {control_number}: {note.tag} at position {note.position}: {note.text}"
        )
        self.note = note

    @property
    def verdict(self) -> SetVerdict:
        return SetVerdict(notes=(self.note,), rejected=True)


@dataclass
class _Line:
    segment: Segment
    position: int
    doc: dict[str, Any]
    titles: list[str] = field(default_factory=list)


@dataclass
class _State:
    ts: TransactionSet
    order: dict[str, Any]
    attributes: list[dict[str, str]] = field(default_factory=list)
    parties: dict[str, dict[str, Any]] = field(default_factory=dict)
    party: str | None = None
    location: LocationCode | None = None
    lines: list[_Line] = field(default_factory=list)
    ctt: tuple[Segment, int] | None = None
    purpose: str = ""


def _fail(
    state: _State,
    segment: Segment,
    position: int,
    text: str,
    *,
    element: int | None = None,
    code: ElementError = ElementError.MANDATORY_MISSING,
    segment_code: SegmentError = SegmentError.HAS_ELEMENT_ERRORS,
) -> PurchaseOrderError:
    elements: tuple[ElementNote, ...] = ()
    if element is not None:
        bad = segment.get(element) or None
        elements = (ElementNote(element, code, bad),)
    note = SegmentNote(segment.tag, position, segment_code, elements=elements, text=text)
    return PurchaseOrderError(note, state.ts.control_number)


def _date(state: _State, segment: Segment, position: int, element: int) -> str:
    text = segment.get(element).strip()
    try:
        if len(text) != 8 or not text.isdigit():
            raise ValueError(text)
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:])).isoformat()
    except ValueError:
        raise _fail(
            state,
            segment,
            position,
            f"{segment.tag}{element:02d} {text!r} is not a date (CCYYMMDD)",
            element=element,
            code=ElementError.INVALID_DATE,
        ) from None


def _decimal(
    state: _State, segment: Segment, position: int, element: int
) -> decimal.Decimal | None:
    text = segment.get(element).strip()
    if not text:
        return None
    try:
        value = decimal.Decimal(text)
    except decimal.InvalidOperation:
        value = decimal.Decimal("NaN")
    if not value.is_finite():
        raise _fail(
            state,
            segment,
            position,
            f"{segment.tag}{element:02d} {text!r} is not a number",
            element=element,
            code=ElementError.INVALID_CHARACTER,
        )
    # X12 numbers have at most 15 digits; "1E+999999" must not become a million of them.
    if value.adjusted() > _MAX_DIGITS or -int(value.as_tuple().exponent) > _MAX_DIGITS:
        raise _fail(
            state,
            segment,
            position,
            f"{segment.tag}{element:02d} {text!r} is out of range",
            element=element,
            code=ElementError.TOO_LONG,
        )
    return value


def _attribute(state: _State, name: str, value: str) -> None:
    if value:
        state.attributes.append({"name": name, "value": value})


def _beg(state: _State, segment: Segment, position: int) -> None:
    number = segment.get(3).strip()
    if not number:
        raise _fail(state, segment, position, "BEG03 (purchase order number) is missing", element=3)
    release = segment.get(4).strip()
    state.purpose = segment.get(1).strip()
    state.order["external_id"] = f"{number}/{release}" if release else number
    state.order["external_number"] = number
    state.order["cancelled"] = state.purpose in _CANCELLING_PURPOSES
    if segment.get(5).strip():
        state.order["created_at"] = f"{_date(state, segment, position, 5)}T00:00:00+00:00"
    _attribute(state, "po_purpose", state.purpose)
    _attribute(state, "po_type", segment.get(2).strip())
    _attribute(state, "po_release", release)


def _n1(state: _State, segment: Segment, _position: int) -> None:
    party = segment.get(1).strip()
    if state.lines:  # a party of one line (SDQ-style distribution): kept on the line
        state.party = None
        code = ":".join(part for part in (segment.get(3).strip(), segment.get(4).strip()) if part)
        value = code or segment.get(2).strip()
        if value:
            state.lines[-1].doc["properties"].append(
                {"name": f"party_{party.lower()}", "value": value}
            )
        return
    state.party = party
    name = segment.get(2).strip() or None
    qualifier, code = segment.get(3).strip(), segment.get(4).strip()
    state.parties[party] = {"name": name}
    if qualifier and code:
        _attribute(state, f"party_{party.lower()}", f"{qualifier}:{code}")
        if party == "ST":
            state.location = LocationCode(party, qualifier, code)
    if party == "BY" and name:
        state.order.setdefault("customer", {})["name"] = name


def _n2(state: _State, segment: Segment, _position: int) -> None:
    address = state.parties.get(state.party or "")
    if address is not None:
        extra = " ".join(part for part in (segment.get(1).strip(), segment.get(2).strip()) if part)
        if address.get("name"):
            address["company"] = extra or None
        else:
            address["name"] = extra or None


def _n3(state: _State, segment: Segment, _position: int) -> None:
    address = state.parties.get(state.party or "")
    if address is not None:
        address["address1"] = segment.get(1).strip() or None
        address["address2"] = segment.get(2).strip() or None


def _n4(state: _State, segment: Segment, _position: int) -> None:
    address = state.parties.get(state.party or "")
    if address is None:
        return
    address["city"] = segment.get(1).strip() or None
    address["region"] = segment.get(2).strip() or None
    address["postal_code"] = segment.get(3).strip() or None
    raw = segment.get(4).strip().upper()
    try:
        address["country"] = _ISO3.get(raw) or country_code(raw)
    except TransformError:
        address["country"] = None


def _per(state: _State, segment: Segment, _position: int) -> None:
    if state.lines:
        return
    contact: dict[str, str] = {}
    for qualifier_at in (3, 5, 7):
        qualifier, number = segment.get(qualifier_at).strip(), segment.get(qualifier_at + 1).strip()
        if qualifier == "TE" and number:
            contact.setdefault("phone", number)
        elif qualifier == "EM" and number:
            contact.setdefault("email", number)
    address = state.parties.get(state.party or "") if state.party else None
    if address is not None and state.party == "ST":
        address.setdefault("phone", contact.get("phone"))
        return
    customer = state.order.setdefault("customer", {})
    if segment.get(2).strip():
        customer.setdefault("name", segment.get(2).strip())
    for key, value in contact.items():
        customer.setdefault(key, value)


def _dtm(state: _State, segment: Segment, position: int) -> None:
    qualifier = segment.get(1).strip()
    name = DATE_NAMES.get(qualifier, f"date_{qualifier}")
    value = _date(state, segment, position, 2) if segment.get(2).strip() else ""
    if state.lines:
        state.lines[-1].doc["properties"].append({"name": name, "value": value})
    else:
        _attribute(state, name, value)


def _ref(state: _State, segment: Segment, _position: int) -> None:
    name = f"ref_{segment.get(1).strip().lower()}"
    value = segment.get(2).strip() or segment.get(3).strip()
    if state.lines:
        if value:
            state.lines[-1].doc["properties"].append({"name": name, "value": value})
    else:
        _attribute(state, name, value)


def _cur(state: _State, segment: Segment, _position: int) -> None:
    if segment.get(2).strip():
        state.order["currency"] = segment.get(2).strip().upper()


def _td5(state: _State, segment: Segment, _position: int) -> None:
    _attribute(state, "carrier_scac", segment.get(3).strip() if segment.get(2) == "2" else "")
    _attribute(state, "routing", segment.get(5).strip())


def _ctt(state: _State, segment: Segment, position: int) -> None:
    state.ctt = (segment, position)


def _pid(state: _State, segment: Segment, _position: int) -> None:
    if not state.lines:
        return
    description = segment.get(5).strip()
    if not description:
        return
    line = state.lines[-1]
    characteristic = segment.get(2).strip()
    if characteristic in {"", "08"} and not line.titles:
        line.titles.append(description)
    else:
        name = f"description_{characteristic}" if characteristic else "description"
        line.doc["properties"].append({"name": name, "value": description})


_HEADER = {
    "BEG": _beg,
    "CUR": _cur,
    "REF": _ref,
    "PER": _per,
    "DTM": _dtm,
    "TD5": _td5,
    "N1": _n1,
    "N2": _n2,
    "N3": _n3,
    "N4": _n4,
    "PID": _pid,
    "CTT": _ctt,
}


def _po1(state: _State, segment: Segment, position: int, preference: Sequence[str]) -> None:
    quantity = _decimal(state, segment, position, 2)
    if quantity is None:
        raise _fail(state, segment, position, "PO102 (quantity ordered) is missing", element=2)
    if quantity != quantity.to_integral_value():
        raise _fail(
            state,
            segment,
            position,
            f"PO102 {segment.get(2)!r} is not a whole quantity",
            element=2,
            code=ElementError.INVALID_CHARACTER,
        )
    price = _decimal(state, segment, position, 4)
    identifiers = []
    for at in range(6, len(segment.elements) + 1, 2):
        qualifier, value = segment.get(at).strip(), segment.get(at + 1).strip()
        if qualifier and value:
            scheme = ID_SCHEMES.get(qualifier, f"x12_{qualifier.lower()}")
            identifiers.append({"scheme": scheme, "qualifier": qualifier, "value": value})
    rank = {scheme: index for index, scheme in enumerate(preference)}
    identifiers.sort(key=lambda item: rank.get(item["scheme"], len(rank)))
    doc: dict[str, Any] = {
        "external_line_id": segment.get(1).strip() or str(len(state.lines) + 1),
        "channel_sku": identifiers[0]["value"] if identifiers else None,
        "quantity": int(quantity),
        "unit_of_measure": segment.get(3).strip() or None,
        "unit_price": None if price is None else format(price, "f"),
        "identifiers": identifiers,
        "properties": [],
    }
    state.lines.append(_Line(segment, position, doc))


def map_purchase_order(
    ts: TransactionSet,
    *,
    channel: str,
    default_currency: str = "USD",
    identifier_order: Sequence[str] = DEFAULT_IDENTIFIER_ORDER,
    locations: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
) -> PurchaseOrder:
    """The canonical order of one 850; raises ``PurchaseOrderError`` (with its 997 note).

    ``locations`` is the partner's address book by (qualifier, code), e.g.
    ``{("92", "0042"): {"name": "Store 42", "address1": ..., "country": "US"}}``: a ship-to
    given by location code takes that address (canonical address keys)."""
    if ts.set_id != "850":
        raise ValueError(f"transaction set {ts.control_number} is a {ts.set_id}, not an 850")
    order: dict[str, Any] = {"channel": channel, "currency": default_currency}
    state = _State(ts, order)
    beg_seen = False
    for position, segment in enumerate(ts.body, start=2):
        tag = segment.tag
        if tag == "PO1":
            state.party = None
            _po1(state, segment, position, identifier_order)
        elif tag in _HEADER:
            beg_seen = beg_seen or tag == "BEG"
            _HEADER[tag](state, segment, position)
    if not beg_seen:
        note = SegmentNote("BEG", 2, SegmentError.MANDATORY_MISSING, text="BEG is missing")
        raise PurchaseOrderError(note, ts.control_number)
    if not state.lines:
        note = SegmentNote(
            "PO1", 2, SegmentError.MANDATORY_MISSING, text="the order has no PO1 line"
        )
        raise PurchaseOrderError(note, ts.control_number)
    return _finish(state, locations or {})


def _finish(state: _State, locations: Mapping[tuple[str, str], Mapping[str, Any]]) -> PurchaseOrder:
    order = state.order
    group = state.ts.group
    order["updated_at"] = _group_time(group.date, group.time)
    resolved = _resolve_location(state, locations)
    for party, key in (("ST", "ship_to"), ("BT", "bill_to")):
        if party in state.parties:
            order[key] = state.parties[party]
    lines = []
    for line in state.lines:
        doc = line.doc
        doc["title"] = line.titles[0] if line.titles else None
        lines.append(doc)
    order["lines"] = lines
    _attribute(state, "x12_interchange", state.ts.interchange.control_number)
    _attribute(state, "x12_group", group.control_number)
    _attribute(state, "x12_transaction_set", state.ts.control_number)
    order["attributes"] = state.attributes
    try:
        validate_order(order)
    except MappingError as error:
        raise _schema_failure(state, error) from None
    verdict = SetVerdict(notes=_ctt_notes(state))
    return PurchaseOrder(order, state.location, state.purpose, verdict, resolved)


def _resolve_location(
    state: _State, locations: Mapping[tuple[str, str], Mapping[str, Any]]
) -> bool:
    """Fill the ship-to from the partner's address for its location code; what the 850
    itself states (a name, an N3/N4 line) wins over the address book."""
    location = state.location
    if location is None:
        return False
    address = locations.get((location.qualifier, location.code))
    if address is None:
        return False
    ship_to = state.parties.setdefault("ST", {})
    for key, value in address.items():
        if ship_to.get(key) is None:
            ship_to[key] = value
    return True


@functools.lru_cache(maxsize=64)
def _group_time(date: str, time: str) -> str | None:
    # GS04 is CCYYMMDD from version 004010 on, YYMMDD before (and in some 004010 files).
    pattern = {8: "%Y%m%d%H%M", 6: "%y%m%d%H%M"}.get(len(date))
    if pattern is None:
        return None
    try:
        moment = dt.datetime.strptime(date + time[:4], pattern).replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    return moment.isoformat()


def _schema_failure(state: _State, error: MappingError) -> PurchaseOrderError:
    path = error.path or ""
    if path.startswith("lines[") and "]" in path:
        index = int(path[len("lines[") : path.index("]")])
        line = state.lines[index]
        segment, position = line.segment, line.position
    else:
        segment = next(s for s in state.ts.body if s.tag == "BEG")
        position = state.ts.body.index(segment) + 2
    note = SegmentNote(segment.tag, position, SegmentError.HAS_ELEMENT_ERRORS, text=str(error))
    return PurchaseOrderError(note, state.ts.control_number)


def _ctt_notes(state: _State) -> tuple[SegmentNote, ...]:
    if state.ctt is None:
        return ()
    segment, position = state.ctt
    declared = segment.get(1).strip()
    if declared.isdigit() and int(declared) == len(state.lines):
        return ()
    # The count is a business total, not syntax: the order is taken, the 997 notes it.
    element = ElementNote(1, ElementError.INVALID_CODE, declared, reference="354")
    text = f"CTT01 says {declared!r} line items, the order has {len(state.lines)}"
    return (
        SegmentNote(
            "CTT", position, SegmentError.HAS_ELEMENT_ERRORS, elements=(element,), text=text
        ),
    )
