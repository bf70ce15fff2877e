"""Property: an 850 written with any partner delimiters reads back to the order it states."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omniroute.connectors.edi_x12.envelope import parse_interchanges
from omniroute.connectors.edi_x12.purchase_order import map_purchase_order
from omniroute.connectors.edi_x12.serializer import (
    GroupOut,
    InterchangeOut,
    OutSegment,
    Party,
    TransactionOut,
    seg,
    write_interchange,
)
from omniroute.connectors.edi_x12.tokenizer import Delimiters, iter_segments

_PUNCT = "*~:^|!'+\n\x15\\>"
_delimiters = (
    st.permutations(list(_PUNCT))
    .filter(lambda chars: chars[0] != "\n")  # an element separator is never a line break
    .map(lambda chars: Delimiters(chars[0], chars[1], chars[2], chars[3]))
)
_word = st.text(
    alphabet=st.characters(
        min_codepoint=32, max_codepoint=0x17F, exclude_characters=_PUNCT, exclude_categories=("Zs",)
    ),
    min_size=1,
    max_size=15,
)
_line = st.tuples(
    st.integers(min_value=1, max_value=99_999),
    st.sampled_from(["EA", "CA", "PK"]),
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999.99"), places=2),
    st.lists(
        st.tuples(st.sampled_from(["UP", "BP", "VN", "SK"]), _word),
        min_size=1,
        max_size=3,
        unique_by=lambda pair: pair[0],
    ),
    _word,
)


def _po(
    number: str, ship_name: str, lines: list[tuple[int, str, Decimal, list[tuple[str, str]], str]]
) -> list[OutSegment]:
    body = [
        seg("BEG", "00", "SA", number, None, "20261207"),
        seg("N1", "ST", ship_name, "92", "0042"),
    ]
    for index, (quantity, unit, price, ids, title) in enumerate(lines, start=1):
        pairs = [value for pair in ids for value in pair]
        body.append(seg("PO1", str(index), str(quantity), unit, str(price), None, *pairs))
        body.append(seg("PID", "F", "08", None, None, title))
    body.append(seg("CTT", str(len(lines))))
    return body


@settings(max_examples=60, deadline=None, derandomize=True)  # the same examples in every CI run
@given(
    delimiters=_delimiters,
    number=_word,
    ship_name=_word,
    lines=st.lists(_line, min_size=1, max_size=5),
    chunk=st.integers(min_value=1, max_value=64),
)
def test_850_round_trip(
    delimiters: Delimiters,
    number: str,
    ship_name: str,
    lines: list[tuple[int, str, Decimal, list[tuple[str, str]], str]],
    chunk: int,
) -> None:
    version = "00501" if delimiters.repetition else "00401"
    out = InterchangeOut(
        Party("ZZ", "BUYER"),
        Party("ZZ", "SELLER"),
        5,
        dt.datetime(2026, 12, 7, 8, 0),
        groups=[GroupOut("B", "S", 1, [TransactionOut("850", 1, _po(number, ship_name, lines))])],
        version=version,
        delimiters=delimiters,
    )
    raw = write_interchange(out)
    chunks = [raw[i : i + chunk] for i in range(0, len(raw), chunk)]
    assert len(list(iter_segments(chunks))) == len(list(iter_segments(raw)))
    (ic,) = parse_interchanges(iter(chunks))
    assert ic.problems == () and ic.groups[0].problems == ()
    (ts,) = ic.transactions
    assert ts.problems == ()
    po = map_purchase_order(
        ts, channel="edi", identifier_order=("gtin", "buyer_part", "vendor_part", "sku")
    )
    order = po.order
    assert order["external_id"] == number.strip()
    assert order["ship_to"]["name"] == ship_name.strip()
    assert po.verdict.notes == ()
    for line, (quantity, unit, price, ids, title) in zip(order["lines"], lines, strict=True):
        assert line["quantity"] == quantity and line["unit_of_measure"] == unit
        assert Decimal(line["unit_price"]) == price
        assert {(i["qualifier"], i["value"]) for i in line["identifiers"]} == {
            (q, v.strip()) for q, v in ids
        }
        assert line["title"] == title.strip()


def test_line_break_as_element_separator_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be a line break"):
        Delimiters("\n", ":", "~", None)
    with pytest.raises(ValueError, match="must be ASCII"):
        Delimiters("\u00a7", ":", "~", None)
    with pytest.raises(ValueError, match="must differ"):
        Delimiters("*", "*", "~", None)


def test_str_is_refused() -> None:
    with pytest.raises(TypeError, match="from bytes"):
        list(iter_segments("ISA*00"))  # type: ignore[arg-type]
