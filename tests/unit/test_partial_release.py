"""The partial_release outcome: reading it, laying it over, and the second router call."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from omniroute.core.order_routing.partial_release import covered_part, partial_release
from omniroute.core.order_state.machine import AWAITING_REST, OrderStatus, can_transition
from omniroute.routing.allocate import LineDemand, Outcome
from omniroute.routing.engine import decide
from omniroute.routing.rules import evaluate, parse_rule_set, rule_set_schema, validate_rule_set
from tests.unit.test_engine import NOON_UTC, facts, request, wh

WAREHOUSES = [wh(1, "EAST", None, priority=1), wh(2, "WEST", None, priority=2)]


def doc(then: dict[str, Any], **default: Any) -> dict[str, Any]:
    return {
        "name": "partial",
        "timezone": "UTC",
        "default": default,
        "rules": [
            {"id": "ca", "when": {"field": "country", "op": "eq", "value": "CA"}, "then": then}
        ],
    }


def test_partial_release_is_off_unless_stated() -> None:
    rule_set = parse_rule_set(doc({"on_no_stock": "backorder"}))
    assert not rule_set.partial_releases
    assert not evaluate(rule_set, facts(country="CA"), NOON_UTC).outcome.partial_release
    assert rule_set.default.to_json()["partial_release"] is False


def test_a_rule_turns_it_on_and_a_later_one_off_again() -> None:
    rule_set = parse_rule_set(doc({"partial_release": False}, partial_release=True))
    assert rule_set.partial_releases
    assert evaluate(rule_set, facts(country="US"), NOON_UTC).outcome.partial_release
    canada = evaluate(rule_set, facts(country="CA"), NOON_UTC)
    assert not canada.outcome.partial_release
    assert canada.steps[0]["applied"] == ["partial_release"]  # false is stated, not absent


def test_to_json_is_itself_a_valid_outcome() -> None:
    rule_set = parse_rule_set(doc({"partial_release": True, "on_no_stock": "backorder"}))
    outcome = evaluate(rule_set, facts(country="CA"), NOON_UTC).outcome
    again = parse_rule_set(
        {"name": "x", "timezone": "UTC", "default": outcome.to_json(), "rules": []}
    )
    assert again.default == outcome


@pytest.mark.parametrize("value", ["yes", 1, 0, None, [True], {"on": True}])
def test_a_non_boolean_is_refused_with_its_path(value: Any) -> None:
    errors = validate_rule_set(doc({"partial_release": value}))
    assert [e.path for e in errors] == ["rules[0].then.partial_release"]
    assert "expected true or false" in errors[0].message


def test_the_schema_knows_the_key() -> None:
    validator = Draft202012Validator(rule_set_schema())
    assert list(validator.iter_errors(doc({"partial_release": True}))) == []
    assert [
        list(e.absolute_path) for e in validator.iter_errors(doc({"partial_release": "1"}))
    ] == [["rules", 0, "then", "partial_release"]]


def test_covered_part_takes_off_what_is_missing() -> None:
    lines = (LineDemand(1, "A", 2), LineDemand(2, "B", 3), LineDemand(3, "C", 5))
    shortfall = (LineDemand(2, "B", 3), LineDemand(3, "C", 2))
    assert covered_part(lines, shortfall) == (LineDemand(1, "A", 2), LineDemand(3, "C", 3))
    assert covered_part(lines, ()) == lines


BACKORDER_PARTIAL: dict[str, Any] = {
    "name": "p",
    "timezone": "UTC",
    "default": {"on_no_stock": "backorder", "partial_release": True},
    "rules": [],
}


def test_the_second_call_plans_the_covered_part_and_the_trace_keeps_both() -> None:
    req = request([("A", 2), ("B", 3)], WAREHOUSES, {(1, "A"): 5, (1, "B"): 1}, BACKORDER_PARTIAL)
    first = decide(req)
    assert first.outcome == Outcome.BACKORDER
    partial = partial_release(req, first)
    assert partial is not None
    placed = [
        (s.warehouse_code, a.sku, a.quantity) for s in partial.plan.shipments for a in s.lines
    ]
    assert placed == [("EAST", "A", 2), ("EAST", "B", 1)]
    assert partial.note == "released 2 of 2 lines; waiting for stock of B (2 units)"
    trace = partial.trace
    assert trace["outcome"] == "partial_release"
    assert trace["shortfall"] == [{"line_id": 2, "sku": "B", "missing": 2}]
    assert trace["summary"] == (
        "Partial release from EAST: released 2 of 2 lines; waiting for stock of B (2 units)."
    )
    assert trace["headline"] == trace["summary"][:-1]
    assert trace["partial_release"]["plan_summary"] == partial.plan.trace["summary"]
    assert trace["partial_release"]["first"]["outcome"] == "backorder"
    assert trace["partial_release"]["first"]["shortfall"] == trace["shortfall"]
    assert trace["partial_release"]["released"] == [
        {"warehouse_code": "EAST", "line_id": 1, "sku": "A", "quantity": 2},
        {"warehouse_code": "EAST", "line_id": 2, "sku": "B", "quantity": 1},
    ]


@pytest.mark.parametrize(
    ("default", "why"),
    [
        ({"on_no_stock": "backorder"}, "partial release not allowed"),
        ({"on_no_stock": "exception", "partial_release": True}, "not a backorder"),
        ({"on_no_stock": "hold", "partial_release": True}, "not a backorder"),
    ],
)
def test_nothing_is_released_unless_the_outcome_is_a_backorder_with_partial_release(
    default: dict[str, Any], why: str
) -> None:
    rules = {"name": "p", "timezone": "UTC", "default": default, "rules": []}
    req = request([("A", 2), ("B", 3)], WAREHOUSES, {(1, "A"): 5}, rules)
    assert partial_release(req, decide(req)) is None, why


def test_ship_complete_still_holds_for_the_covered_part() -> None:
    rules = dict(BACKORDER_PARTIAL)
    rules["default"] = {**BACKORDER_PARTIAL["default"], "split": {"mode": "ship_complete"}}
    lines = [("A", 1), ("B", 1), ("C", 1)]
    # A in EAST and C in WEST: the covered part needs two shipments, ship_complete forbids it.
    apart = request(lines, WAREHOUSES, {(1, "A"): 1, (2, "C"): 1}, rules)
    assert partial_release(apart, decide(apart)) is None
    together = request(lines, WAREHOUSES, {(2, "A"): 1, (2, "C"): 1}, rules)
    partial = partial_release(together, decide(together))
    assert partial is not None
    assert [s.warehouse_code for s in partial.plan.shipments] == ["WEST"]
    assert partial.note == "released 2 of 3 lines; waiting for stock of B (1 unit)"


def test_nothing_covered_means_nothing_to_release() -> None:
    req = request([("A", 2)], WAREHOUSES, {}, BACKORDER_PARTIAL)
    assert partial_release(req, decide(req)) is None


def test_an_order_awaiting_the_rest_can_still_be_routed_and_cancelled() -> None:
    for status in AWAITING_REST:
        assert status == OrderStatus.VALIDATED or can_transition(status, OrderStatus.VALIDATED)
        assert can_transition(status, OrderStatus.CANCELLED)
    assert OrderStatus.ROUTED not in AWAITING_REST and OrderStatus.RELEASED not in AWAITING_REST
