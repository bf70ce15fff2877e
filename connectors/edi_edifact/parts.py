"""What the outbound messages share: parties, item ids and dates as segments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from omniroute.connectors.edi_edifact.adapter import Segment, segment

#: PIA qualifiers 4347: 1 = additional identification, 5 = product identification.
_PIA_ADDITIONAL = "1"
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class ItemId:
    """An item number and its type (7143): EN (GTIN), SRV, UP, SA (supplier's article),
    IN (buyer's item), BP (buyer's part), MF (manufacturer's article) ..."""

    value: str
    qualifier: str


@dataclass(frozen=True)
class PartyRef:
    """A party by its coded id (NAD 3039 with agency 3055; 9 = GS1), with a name where one
    is to be written."""

    code: str
    agency: str = "9"
    name: str | None = None


#: LIN carries GTIN-like numbers; other ids go on PIA.
_LIN_TYPES = frozenset({"EN", "SRV", "UP", "UA"})


def nad(qualifier: str, party: PartyRef) -> Segment:
    return segment("NAD", qualifier, [party.code, "", party.agency], None, party.name)


def dtm(qualifier: str, moment: date | datetime) -> Segment:
    """DTM with format 102 for a date, 203 for a moment (written in its own offset)."""
    if isinstance(moment, datetime):
        return segment("DTM", [qualifier, moment.strftime("%Y%m%d%H%M"), "203"])
    return segment("DTM", [qualifier, moment.strftime("%Y%m%d"), "102"])


def line_items(number: str, ids: tuple[ItemId, ...], action: str | None = None) -> list[Segment]:
    """LIN with the first GTIN-type id (or none), then PIA+1 with the others, five a PIA."""
    main = next((item for item in ids if item.qualifier in _LIN_TYPES), None)
    lin_item = [main.value, main.qualifier] if main else None
    out = [segment("LIN", number, action, lin_item)]
    rest = [item for item in ids if item is not main]
    for start in range(0, len(rest), 5):
        chunk = rest[start : start + 5]
        out.append(segment("PIA", _PIA_ADDITIONAL, *([i.value, i.qualifier] for i in chunk)))
    return out


def amount(value: Decimal, decimal_mark: str) -> str:
    """A money amount to two places, rounded half up."""
    return format(money(value), "f").replace(".", decimal_mark)


def money(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)
