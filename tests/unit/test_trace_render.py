"""The trace is stored as figures for the warehouses short of stock and read in words
(routing.tracing.render): what is read is what the router used to write, and old traces
still read."""

from __future__ import annotations

import copy
import json

import pytest

from omniroute.routing.engine import decide
from omniroute.routing.tracing.render import FIGURES, render_trace
from tests.unit.test_engine import request, wh
from tests.unit.test_why_not import CHI_60601, LA_90001, NYC_10001, TO_10003


def houses() -> list[object]:
    return [wh(1, "NYC", NYC_10001), wh(2, "LA", LA_90001), wh(3, "CHI", CHI_60601)]


def test_a_short_warehouse_is_stored_as_figures_and_read_in_words() -> None:
    stock = {(1, "A"): 1, (1, "B"): 0, (2, "A"): 5, (2, "B"): 5, (3, "B"): 2}
    result = decide(request([("A", 3), ("B", 1)], houses(), stock, ship_to=TO_10003))
    stored = json.loads(json.dumps(result.trace))  # as the database gives it back
    nyc = next(c for c in stored["candidates"] if c["code"] == "NYC")
    assert (nyc["why_not"], nyc["verdict"], nyc["stock"]) == (
        {"reason": "no_stock"},
        "lost",
        [1, 0],
    )
    assert stored[FIGURES] == {"skus": ["A", "B"], "need": [3, 1], "shipments": 1}

    read = render_trace(stored)
    assert FIGURES not in read
    assert all("stock" not in c for c in read["candidates"])
    by_code = {c["code"]: c for c in read["candidates"]}
    assert by_code["NYC"]["why_not"] == {
        "reason": "no_stock",
        "short": {"A": 2, "B": 1},
        "text": "short of A, B",
    }
    assert by_code["NYC"]["verdict"] == "lost: short of A, B"
    assert by_code["CHI"]["why_not"]["short"] == {"A": 3}
    assert by_code["LA"]["verdict"].startswith("chosen")
    # The fields keep their places: the API's key order is the one the router wrote.
    assert list(by_code["NYC"]) == [k for k in nyc if k != "stock"]
    assert "headline" not in stored  # it names the first losers in words: made on read
    assert list(read) == ["headline", *(k for k in stored if k != FIGURES)]
    assert read["headline"].startswith("Shipped from LA: the only warehouse with all of it")
    assert "NYC short of A, B" in read["headline"]
    assert stored == json.loads(json.dumps(result.trace))  # reading changes nothing stored


def test_a_split_order_says_how_many_shipments_in_each_shortfall() -> None:
    stock = {(1, "A"): 1, (2, "B"): 1}
    result = decide(
        request([("A", 1), ("B", 1), ("C", 1)], houses(), stock | {(3, "C"): 1}, ship_to=TO_10003)
    )
    assert len(result.shipments) == 3
    read = render_trace(result.trace)
    texts = {c["code"]: c["why_not"] for c in read["candidates"]}
    assert all(why is None for why in texts.values())  # each ships a part

    lone = decide(request([("A", 1), ("B", 1)], houses(), stock, ship_to=TO_10003))
    assert len(lone.shipments) == 2
    chi = next(c for c in render_trace(lone.trace)["candidates"] if c["code"] == "CHI")
    assert chi["why_not"]["text"] == "short of A, B; the order ships in 2 shipments"


def test_a_trace_stored_in_words_reads_as_it_was() -> None:
    stock = {(1, "A"): 0, (2, "A"): 5}
    old = render_trace(decide(request([("A", 1)], houses(), stock, ship_to=TO_10003)).trace)
    kept = copy.deepcopy(old)
    assert render_trace(old) == kept
    assert json.dumps(render_trace(old)) == json.dumps(kept)
    assert render_trace({}) == {}


def test_figures_that_do_not_match_the_skus_are_refused_by_name() -> None:
    stock = {(1, "A"): 0, (2, "A"): 5}
    stored = json.loads(
        json.dumps(decide(request([("A", 1)], houses(), stock, ship_to=TO_10003)).trace)
    )
    stored[FIGURES]["skus"] = ["A", "B"]
    stored[FIGURES]["need"] = [1, 1]
    with pytest.raises(ValueError, match="stock figures"):
        render_trace(stored)
