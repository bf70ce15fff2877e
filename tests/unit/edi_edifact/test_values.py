"""EDIFACT numbers and dates, and any text surviving a write and a read."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omniroute.connectors.edi_edifact.adapter import Delimiters, read_chunks, render, segment
from omniroute.connectors.edi_edifact.values import (
    decimal_of,
    edifact_number,
    iso_of,
    moment_of,
    quantity_of,
    start_of,
)


def test_numbers_take_either_decimal_mark() -> None:
    assert decimal_of("12,50") == decimal_of("12.50") == Decimal("12.50")
    assert decimal_of(",5") == Decimal("0.5") and decimal_of("-3") == Decimal(-3)
    for bad in ("1.000,00", "1e3", "", " 1", "1-"):
        with pytest.raises(ValueError, match="is not a number"):
            decimal_of(bad)
    assert quantity_of("8,000") == 8
    with pytest.raises(ValueError, match="whole"):
        quantity_of("8.5")
    assert edifact_number(Decimal("4.50"), ",") == "4,5" and edifact_number(Decimal("100")) == "100"


def test_dates_by_format_qualifier() -> None:
    plus2 = timezone(timedelta(hours=2))
    assert moment_of("20240229", "102", UTC) == date(2024, 2, 29)
    assert moment_of("240229", "101", UTC) == date(2024, 2, 29)
    assert moment_of("202402291530", "203", plus2) == datetime(2024, 2, 29, 15, 30, tzinfo=plus2)
    assert moment_of("20240229153045", "204", UTC) == datetime(2024, 2, 29, 15, 30, 45, tzinfo=UTC)
    assert moment_of("2402291530", "201", UTC) == datetime(2024, 2, 29, 15, 30, tzinfo=UTC)
    span = moment_of("20240301-20240305", "718", UTC)
    assert iso_of(span) == "2024-03-01/2024-03-05"
    assert start_of(span, plus2).isoformat() == "2024-03-01T00:00:00+02:00"
    for text, code in (("20230229", "102"), ("2024-03-01", "102"), ("20240301", "718")):
        with pytest.raises(ValueError, match=code):
            moment_of(text, code, UTC)
    with pytest.raises(ValueError, match="'999' is not supported"):
        moment_of("1", "999", UTC)


SERVICE = Delimiters(
    component="|", element="*", decimal=",", release="!", reserved="^", terminator="~"
)
VALUES = st.text(st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=8)


def normalised(elements: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """What a reader sees: trailing empty components and elements are not written."""
    out = []
    for parts in elements:
        kept = list(parts)
        while len(kept) > 1 and kept[-1] == "":
            kept.pop()
        out.append(tuple(kept))
    while out and out[-1] == ("",):
        out.pop()
    return out


@given(st.lists(st.lists(VALUES, min_size=1, max_size=3), max_size=4))
def test_any_value_survives_render_and_read(elements: list[list[str]]) -> None:
    for delimiters in (Delimiters(), SERVICE):
        text = render([segment("FTX", *elements), segment("UNZ", "1")], delimiters)
        (chunk,) = read_chunks(text)
        item = chunk.segments[0]
        assert list(item.elements) == normalised([tuple(parts) for parts in elements])
        assert chunk.segments[1].tag == "UNZ"
