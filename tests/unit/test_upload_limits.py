"""Uploads that cannot be read reliably are refused whole, naming the line; limits are held.

A CSV whose quoting or column count is off is not guessed at: a quote left open would merge
the rows below it into one cell (an order silently gone), so the file is refused with the
line to fix. Row-level problems stay per-row errors, now with their physical line.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omniroute.connectors.base import PayloadError
from omniroute.connectors.generic import upload
from omniroute.connectors.generic.upload import (
    MAX_CELL_CHARS,
    MAX_REPORTED_ERRORS,
    CsvStructureError,
    UploadDefaults,
    parse_csv,
)
from omniroute.mapping.engine import MAX_LINE_QUANTITY, MAX_ORDER_LINES

DEFAULTS = UploadDefaults(channel="phone", currency="USD")
HEADER = "order_ref,sku,quantity,note\n"


def structure_error(text: str) -> CsvStructureError:
    with pytest.raises(CsvStructureError) as caught:
        parse_csv(text, DEFAULTS)
    assert isinstance(caught.value, PayloadError)  # the service's file-level 422
    return caught.value


# --- quoting ----------------------------------------------------------------------------


def test_a_quote_left_open_to_the_end_is_refused_naming_its_line() -> None:
    text = HEADER + "A,X,1,fine\n" + 'B,Y,1,"call first\n' + "C,Z,2,ok\n"
    error = structure_error(text)
    assert error.line == 3
    assert "line 3" in str(error) and "never closed" in str(error)


def test_a_quote_closed_rows_later_does_not_merge_the_rows_between() -> None:
    # The quote opened on line 3 closes at the end of line 4: the column count adds up,
    # and a plain reader makes one order of A and B (B's row sits inside A's note).
    text = HEADER + 'A,X,1,"call first\n' + 'B,Y,2,back door"\n' + "C,Z,1,\n"
    error = structure_error(text)
    assert error.line == 2
    assert "line 2" in str(error) and "line 3" in str(error)


def test_a_quote_closing_mid_cell_is_refused() -> None:
    error = structure_error(HEADER + "A,X,1,fine\n" + 'B,Y,1,"say "hi" twice"\n')
    assert error.line == 3
    assert '""' in str(error)


def test_a_note_on_several_lines_without_commas_is_still_one_cell() -> None:
    text = HEADER + 'A,X,1,"ring twice\nthen wait"\n' + "A,Y,2,\n" + "B,Z,1,0\n"
    result = parse_csv(text, DEFAULTS)
    assert [o["external_id"] for o in result.orders] == ["A", "B"]
    assert result.orders[0]["note"] == "ring twice\nthen wait"


def test_a_nul_byte_is_refused_naming_its_line() -> None:
    error = structure_error(HEADER + "A,X,1,\n" + "B,Y\x00,1,\n")
    assert error.line == 3


# --- column count -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "cells"),
    [("B,Y,1\n", 3), ("B,Y,1,,\n", 5), ("B,Y,1,note,more\n", 5), ("B\n", 1)],
)
def test_a_row_with_a_different_number_of_cells_is_refused(row: str, cells: int) -> None:
    error = structure_error(HEADER + "A,X,1,\n" + row)
    assert error.line == 3
    assert f"{cells} cells" in str(error) and "4 columns" in str(error)


def test_blank_rows_of_any_width_are_skipped() -> None:
    result = parse_csv(HEADER + "\n,,\n" + "A,X,1,\n" + ",,,,,\n", DEFAULTS)
    assert [o["external_id"] for o in result.orders] == ["A"]
    assert result.errors == ()


# --- cell size ---------------------------------------------------------------------------


def test_a_cell_at_the_limit_is_read() -> None:
    note = "n" * MAX_CELL_CHARS
    (order,) = parse_csv(HEADER + f"A,X,1,{note}\n", DEFAULTS).orders
    assert order["note"] == note


@pytest.mark.parametrize("size", [MAX_CELL_CHARS + 1, 128 * 1024 + 1, 300_000])
def test_a_cell_over_the_limit_is_refused_naming_its_line(size: int) -> None:
    error = structure_error(HEADER + "A,X,1,\n" + f'B,Y,1,"{"n" * size}"\n')
    assert error.line == 3
    assert f"{MAX_CELL_CHARS:,}" in str(error)


# --- per-row errors carry the physical line -------------------------------------------------


def test_row_errors_name_the_line_as_well_as_the_spreadsheet_row() -> None:
    text = HEADER + 'A,X,1,"two\nlines"\n' + "B,Y,two,\n"
    result = parse_csv(text, DEFAULTS)
    (error,) = result.errors
    assert (error.row, error.line, error.column) == (3, 4, "quantity")
    assert error.as_dict()["line"] == 4


# --- quantities and lines ------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(quantity=st.integers(min_value=MAX_LINE_QUANTITY - 3, max_value=MAX_LINE_QUANTITY + 3))
def test_quantities_up_to_the_maximum_are_taken_and_above_it_are_row_errors(
    quantity: int,
) -> None:
    result = parse_csv(HEADER + f"A,X,{quantity},\n", DEFAULTS)
    if quantity <= MAX_LINE_QUANTITY:
        assert result.orders[0]["lines"][0]["quantity"] == quantity
    else:
        (error,) = result.errors
        assert (error.row, error.column) == (2, "quantity")
        assert f"{MAX_LINE_QUANTITY:,}" in error.message


def test_a_huge_quantity_is_a_row_error() -> None:
    result = parse_csv(HEADER + f"A,X,{10**20},\n" + "B,Y,1,\n", DEFAULTS)
    assert [o["external_id"] for o in result.orders] == ["B"]
    assert [(e.row, e.column) for e in result.errors] == [(2, "quantity")]


def test_an_order_over_the_line_cap_is_rejected_whole() -> None:
    rows = "".join(f"A,S{n},1,\n" for n in range(MAX_ORDER_LINES + 1))
    result = parse_csv(HEADER + rows + "B,Y,1,\n", DEFAULTS)
    assert [o["external_id"] for o in result.orders] == ["B"]
    (error,) = result.errors
    assert (error.row, error.column, error.order_ref) == (2, "lines", "A")
    assert f"{MAX_ORDER_LINES:,}" in error.message
    at_cap = "".join(f"C,S{n},1,\n" for n in range(MAX_ORDER_LINES))
    (order,) = parse_csv(HEADER + at_cap, DEFAULTS).orders
    assert len(order["lines"]) == MAX_ORDER_LINES


@pytest.mark.parametrize("price", ["1" * 13, "1." + "0" * 13, "9" * 40])
def test_prices_beyond_the_stored_precision_are_row_errors(price: str) -> None:
    result = parse_csv("order_ref,sku,quantity,unit_price\n" + f"A,X,1,{price}\n", DEFAULTS)
    (error,) = result.errors
    assert (error.row, error.column) == (2, "unit_price")


def test_a_price_at_the_bounds_is_taken() -> None:
    price = "9" * 12 + "." + "9" * 12
    (order,) = parse_csv(f"order_ref,sku,quantity,unit_price\nA,X,1,{price}\n", DEFAULTS).orders
    assert order["lines"][0]["unit_price"] == price


# --- how many errors are reported ----------------------------------------------------------


def test_the_errors_reported_are_capped_and_the_count_stays_exact() -> None:
    rows = "".join(f"R{n},X,zero,\n" for n in range(MAX_REPORTED_ERRORS + 50))
    result = parse_csv(HEADER + rows + "OK,X,1,\n", DEFAULTS)
    assert len(result.errors) == MAX_REPORTED_ERRORS
    assert result.errors_omitted == 50
    assert result.failed == MAX_REPORTED_ERRORS + 50
    assert [o["external_id"] for o in result.orders] == ["OK"]


def test_json_upload_errors_are_capped_too() -> None:
    orders: list[Any] = ["not an order"] * (MAX_REPORTED_ERRORS + 5)
    result = upload.parse_json(json.dumps(orders).encode())
    assert len(result.errors) == MAX_REPORTED_ERRORS
    assert (result.errors_omitted, result.failed) == (5, MAX_REPORTED_ERRORS + 5)
