"""EDIFACT values ↔ Python: numbers with either decimal mark, DTM dates by format qualifier.

A problem raises ``ValueError`` with what is wrong; the caller names the segment.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, tzinfo
from decimal import Decimal, InvalidOperation

_NUMBER = re.compile(r"-?(\d+([.,]\d*)?|[.,]\d+)")

#: DTM format qualifiers (data element 2379) read here: the text's length and its layout.
_FORMATS = {
    "101": "%y%m%d",
    "102": "%Y%m%d",
    "201": "%y%m%d%H%M",
    "203": "%Y%m%d%H%M",
    "204": "%Y%m%d%H%M%S",
}


def decimal_of(text: str) -> Decimal:
    """A number as EDIFACT writes it: either '.' or ',' as the decimal mark (ISO 9735 lets
    the receiver take both), no thousands separators, no exponent."""
    if not _NUMBER.fullmatch(text):
        raise ValueError(f"{text!r} is not a number")
    try:
        return Decimal(text.replace(",", "."))
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid numbers
        raise ValueError(f"{text!r} is not a number") from None


def amount_text(value: Decimal) -> str:
    """A canonical decimal string ("12.50", "3"): fixed-point, no exponent."""
    text = format(value, "f")
    return "0" if text in {"-0", ""} else text


def quantity_of(text: str) -> int:
    """A whole quantity ("8", "8.000" and "8,0" are 8)."""
    value = decimal_of(text)
    if value != value.to_integral_value():
        raise ValueError(f"quantity {text!r} is not a whole number")
    return int(value)


def edifact_number(value: Decimal | int, decimal_mark: str = ".") -> str:
    """A number to write: no exponent, no trailing zeros after the mark, the partner's mark."""
    if isinstance(value, int):
        return str(value)
    return format(value.normalize(), "f").replace(".", decimal_mark)


def moment_of(text: str, format_code: str, zone: tzinfo) -> date | datetime | tuple[date, date]:
    """A DTM value by its format qualifier: 102/101 are dates, 203/204/201 moments in the
    partner's time zone ``zone`` (EDIFACT carries none), 718 a range of two dates."""
    if format_code == "718":
        start, sep, end = text.partition("-")
        if not sep:
            raise ValueError(f"{text!r} is not a date range CCYYMMDD-CCYYMMDD (format 718)")
        return _date(start, "718"), _date(end, "718")
    layout = _FORMATS.get(format_code)
    if layout is None:
        raise ValueError(f"date format qualifier {format_code or '(none)'!r} is not supported")
    try:
        parsed = datetime.strptime(text, layout)
    except ValueError:
        raise ValueError(f"{text!r} is not a date of format {format_code}") from None
    if format_code in {"101", "102"}:
        return parsed.date()
    return parsed.replace(tzinfo=zone)


def _date(text: str, format_code: str) -> date:
    try:
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise ValueError(f"{text!r} is not a date of format {format_code}") from None


def iso_of(value: date | datetime | tuple[date, date]) -> str:
    if isinstance(value, tuple):
        return f"{value[0].isoformat()}/{value[1].isoformat()}"
    return value.isoformat()


def start_of(value: date | datetime | tuple[date, date], zone: tzinfo) -> datetime:
    """The moment a date (or range) starts, in ``zone``."""
    if isinstance(value, tuple):
        value = value[0]
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time(0), tzinfo=zone)
