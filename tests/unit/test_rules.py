"""Rule sets: the schema, validation with exact paths, evaluation order, layering and the trace."""

import copy
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from omniroute.routing.rules import (
    CRITERIA,
    DEFAULT_OUTCOME,
    NoStockAction,
    OrderFacts,
    RuleError,
    RuleOutcome,
    RuleSet,
    RuleSetError,
    SplitMode,
    SplitPolicy,
    WarehouseSelector,
    evaluate,
    parse_rule_set,
    rule_set_schema,
    validate_rule_set,
)

EXAMPLE: dict[str, Any] = {
    "name": "peak-2026",
    "timezone": "America/New_York",
    "default": {
        "ranking": ["priority", "distance", "stock_depth"],
        "split": {"mode": "split", "max_shipments": 3},
    },
    "rules": [
        {
            "id": "cold-chain",
            "when": {"field": "sku_tag", "op": "contains_any", "value": ["cold"]},
            "then": {"warehouses": {"require_tags": ["cold-chain"]}},
            "continue": True,
        },
        {
            "id": "ca-orders",
            "when": {
                "all": [
                    {"field": "country", "op": "eq", "value": "CA"},
                    {"not": {"field": "service_level", "op": "eq", "value": "express"}},
                ]
            },
            "then": {
                "warehouses": {"include": ["NORTH"]},
                "split": {"mode": "ship_complete"},
                "on_no_stock": "backorder",
            },
        },
        {
            "id": "after-hours-express",
            "when": {
                "all": [
                    {"field": "service_level", "op": "in", "value": ["express", "same_day"]},
                    {"field": "local_time", "op": "between", "value": ["16:00", "23:59"]},
                ]
            },
            "then": {"priority_boost": {"WEST": 5}},
        },
    ],
}
FACTS = OrderFacts(
    channel="shopify",
    connector_id=1,
    order_type="normal",
    country="US",
    region="NY",
    postal_code="10001",
    skus=("SKU-1",),
    sku_tags=frozenset(),
    line_count=1,
    order_value=Decimal("80.00"),
    currency="USD",
    service_level="standard",
    customer_tags=frozenset(),
    order_tags=frozenset(),
)
# 2026-01-05 is a Monday; New York is UTC-5 in January.
MORNING = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)  # 09:00 in New York
EVENING = datetime(2026, 1, 5, 22, 0, tzinfo=UTC)  # 17:00 in New York


def rules(*rule_docs: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"name": "test", "timezone": "UTC", "rules": list(rule_docs), **top}


def rule(rule_id: str, when: dict[str, Any], then: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"id": rule_id, "when": when, "then": then, **extra}


def country(code: str) -> dict[str, Any]:
    return {"field": "country", "op": "eq", "value": code}


def run(doc: dict[str, Any], now: datetime = MORNING, **facts: Any) -> Any:
    return evaluate(parse_rule_set(doc), replace(FACTS, **facts), now)


# --- the schema and the example


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = rule_set_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(schema["$defs"]["outcome"]["properties"]["ranking"]["items"]["enum"]) == set(
        CRITERIA
    )


def test_schema_is_a_fresh_copy_each_time() -> None:
    rule_set_schema()["title"] = "changed"
    assert rule_set_schema()["title"] != "changed"


def test_example_validates_and_parses() -> None:
    assert list(Draft202012Validator(rule_set_schema()).iter_errors(EXAMPLE)) == []
    assert validate_rule_set(EXAMPLE) == []
    rule_set = parse_rule_set(EXAMPLE)
    assert isinstance(rule_set, RuleSet)
    assert (rule_set.name, rule_set.timezone) == ("peak-2026", "America/New_York")
    assert [r.id for r in rule_set.rules] == ["cold-chain", "ca-orders", "after-hours-express"]
    assert [r.continue_after for r in rule_set.rules] == [True, False, False]
    assert rule_set.default == replace(
        DEFAULT_OUTCOME,
        ranking=("priority", "distance", "stock_depth"),
        split=SplitPolicy(mode=SplitMode.SPLIT, max_shipments=3),
    )
    assert rule_set.rules[1].when.describe() == "country eq CA and not service_level eq express"


def test_default_outcome() -> None:
    expected = RuleOutcome(
        warehouses=WarehouseSelector(),
        ranking=("distance", "priority", "stock_depth"),
        split=SplitPolicy(),
        on_no_stock=NoStockAction.EXCEPTION,
        priority_boost=(),
    )
    assert expected == DEFAULT_OUTCOME
    assert DEFAULT_OUTCOME.split.mode is SplitMode.SPLIT
    assert parse_rule_set(rules()).default == DEFAULT_OUTCOME


# --- evaluation


def test_no_match_gives_the_default() -> None:
    result = run(EXAMPLE)
    assert result.outcome == parse_rule_set(EXAMPLE).default
    assert result.matched == ()
    assert [step["matched"] for step in result.steps] == [False, False, False]


def test_continue_lays_later_rules_over_earlier_ones() -> None:
    result = run(EXAMPLE, country="CA", sku_tags=frozenset({"Cold"}))
    assert result.matched == ("cold-chain", "ca-orders")
    assert result.outcome == RuleOutcome(
        warehouses=WarehouseSelector(include=("NORTH",), require_tags=("cold-chain",)),
        ranking=("priority", "distance", "stock_depth"),
        split=SplitPolicy(mode=SplitMode.SHIP_COMPLETE, max_shipments=3),
        on_no_stock=NoStockAction.BACKORDER,
    )


def test_a_matching_rule_without_continue_stops_evaluation() -> None:
    result = run(EXAMPLE, country="CA", service_level="same_day", now=EVENING)
    assert result.matched == ("ca-orders",)
    assert [step["rule"] for step in result.steps] == ["cold-chain", "ca-orders"]
    assert result.outcome.boost("WEST") == 0


def test_trace_steps() -> None:
    result = run(EXAMPLE, now=EVENING, service_level="express", sku_tags=frozenset({"dry"}))
    assert result.matched == ("after-hours-express",)
    assert list(result.steps) == [
        {
            "rule": "cold-chain",
            "matched": False,
            "why": "sku_tag contains_any [cold] (was [dry])",
        },
        {
            "rule": "ca-orders",
            "matched": False,
            "why": "country eq CA (was US)",
        },
        {
            "rule": "after-hours-express",
            "matched": True,
            "why": "service_level in [express, same_day] (was express) "
            "and local_time between [16:00, 23:59] (was 17:00)",
            "applied": ["priority_boost"],
            "continue": False,
        },
    ]
    assert result.outcome.priority_boost == (("WEST", 5),)
    assert result.outcome.boost("WEST") == 5
    json.dumps(result.steps)  # JSON-serialisable as it is


def test_time_conditions_use_the_rule_set_time_zone() -> None:
    # 09:00 in New York is after 16:00 nowhere near: the rule must not fire in the morning.
    assert run(EXAMPLE, now=MORNING, service_level="express").matched == ()
    # 04:30 UTC on Tuesday is 23:30 on Monday in New York.
    late = datetime(2026, 1, 6, 4, 30, tzinfo=UTC)
    assert run(EXAMPLE, now=late, service_level="express").matched == ("after-hours-express",)


def test_time_zone_without_daylight_saving() -> None:
    # Tokyo is UTC+9 all year: 23:30 UTC on Wednesday is 08:30 on Thursday there.
    doc = rules(
        rule(
            "tokyo-morning",
            {
                "all": [
                    {"field": "local_time", "op": "between", "value": ["08:00", "09:00"]},
                    {"field": "weekday", "op": "in", "value": ["thu"]},
                ]
            },
            {"on_no_stock": "hold"},
        ),
        timezone="Asia/Tokyo",
    )
    wednesday_night_utc = datetime(2024, 5, 1, 23, 30, tzinfo=UTC)
    assert run(doc, now=wednesday_night_utc).matched == ("tokyo-morning",)
    same_instant = wednesday_night_utc.astimezone(timezone(timedelta(hours=-7)))
    assert run(doc, now=same_instant).matched == ("tokyo-morning",)
    assert run(doc, now=wednesday_night_utc - timedelta(hours=1)).matched == ()
    assert run(doc, now=wednesday_night_utc + timedelta(days=1)).matched == ()  # Friday


def test_weekday_is_read_in_the_rule_set_time_zone() -> None:
    monday = {"field": "weekday", "op": "in", "value": ["mon"]}
    ny = rules(rule("monday", monday, {"on_no_stock": "hold"}), timezone="America/New_York")
    utc = rules(rule("monday", monday, {"on_no_stock": "hold"}))
    tuesday_0300_utc = datetime(2026, 1, 6, 3, 0, tzinfo=UTC)  # Monday 22:00 in New York
    assert run(ny, now=tuesday_0300_utc).matched == ("monday",)
    assert run(utc, now=tuesday_0300_utc).matched == ()


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        run(EXAMPLE, now=datetime(2026, 1, 5, 12, 0))


ALWAYS = {"field": "line_count", "op": "gte", "value": 0}


def test_layering_rules() -> None:
    doc = rules(
        rule(
            "first",
            ALWAYS,
            {
                "warehouses": {"include": ["A", "B"], "exclude": ["C"], "require_tags": ["cold"]},
                "ranking": ["distance"],
                "split": {"max_shipments": 2, "allow_line_split": False},
                "priority_boost": {"A": 1, "B": 2},
            },
            **{"continue": True},
        ),
        rule(
            "second",
            ALWAYS,
            {
                "warehouses": {"include": ["B"], "exclude": ["D"], "require_tags": ["hazmat"]},
                "split": {"max_shipments": None, "ship_alone_skus": ["TV"]},
                "priority_boost": {"B": -3, "E": 4},
                "on_no_stock": "reject",
            },
        ),
        rule("never", ALWAYS, {"ranking": ["fewest_shipments"]}),
        default={"warehouses": {"exclude_tags": ["closed"]}, "on_no_stock": "hold"},
    )
    result = run(doc)
    assert result.matched == ("first", "second")
    assert result.outcome == RuleOutcome(
        warehouses=WarehouseSelector(
            include=("B",),  # replaced
            exclude=("C", "D"),  # the other filters add up
            require_tags=("cold", "hazmat"),
            exclude_tags=("closed",),
        ),
        ranking=("distance",),
        split=SplitPolicy(max_shipments=None, allow_line_split=False, ship_alone_skus=("TV",)),
        on_no_stock=NoStockAction.REJECT,
        priority_boost=(("A", 1), ("B", -3), ("E", 4)),
    )
    assert [step["applied"] for step in result.steps] == [
        ["warehouses", "ranking", "split", "priority_boost"],
        ["warehouses", "split", "on_no_stock", "priority_boost"],
    ]


def test_an_empty_then_stops_with_the_outcome_so_far() -> None:
    doc = rules(
        rule("b2b-plain", {"field": "order_type", "op": "eq", "value": "b2b"}, {}),
        rule("everything-else", ALWAYS, {"on_no_stock": "hold"}),
    )
    assert run(doc, order_type="b2b").outcome == DEFAULT_OUTCOME
    assert run(doc).outcome.on_no_stock is NoStockAction.HOLD


def test_evaluation_is_deterministic() -> None:
    first = run(EXAMPLE, country="CA", sku_tags=frozenset({"cold"}))
    second = run(copy.deepcopy(EXAMPLE), country="CA", sku_tags=frozenset({"cold"}))
    assert first == second
    assert json.dumps(first.steps) == json.dumps(second.steps)
    assert parse_rule_set(EXAMPLE) == parse_rule_set(copy.deepcopy(EXAMPLE))


def test_outcome_json_is_a_valid_default_that_parses_back() -> None:
    outcome = run(EXAMPLE, country="CA", sku_tags=frozenset({"cold"})).outcome
    doc = rules(default=outcome.to_json())
    assert validate_rule_set(doc) == []
    assert parse_rule_set(doc).default == outcome
    boosted = RuleOutcome(
        WarehouseSelector(exclude=("X",)),
        ("shipping_cost", "capacity_headroom"),
        SplitPolicy(keep_together=(("KIT", "PART"),), min_value_per_extra_shipment=Decimal("25")),
        NoStockAction.HOLD,
        (("WEST", 5),),
    )
    assert parse_rule_set(rules(default=boosted.to_json())).default == boosted


# --- validation: every error, each with its path


def good_rule(**changes: Any) -> dict[str, Any]:
    return {**rule("r1", country("CA"), {"on_no_stock": "hold"}), **changes}


SCHEMA_TOO = True  # the JSON Schema rejects it as well
SERVER_ONLY = False  # only the server can tell (time zones, uniqueness, overlaps, ordering)

INVALID: list[tuple[str, Any, str, str, bool]] = [
    (
        "unknown field",
        rules(good_rule(when={"field": "colour", "op": "eq", "value": "red"})),
        "rules[0].when.field",
        "unknown field 'colour'",
        SCHEMA_TOO,
    ),
    (
        "op not allowed for field",
        rules(good_rule(when={"all": [country("CA"), {"field": "sku", "op": "eq", "value": "A"}]})),
        "rules[0].when.all[1].op",
        "'eq' is not allowed for sku; use contains_any, contains_all, not_contains",
        SCHEMA_TOO,
    ),
    (
        "bad value type",
        rules(good_rule(when={"field": "line_count", "op": "gt", "value": "3"})),
        "rules[0].when.value",
        "expected an integer >= 0, got '3'",
        SCHEMA_TOO,
    ),
    (
        "bad time",
        rules(good_rule(when={"field": "local_time", "op": "between", "value": ["9:00", "17:00"]})),
        "rules[0].when.value[0]",
        "expected a time of day 'HH:MM' (00:00 to 23:59), got '9:00'",
        SCHEMA_TOO,
    ),
    (
        "unknown criterion",
        rules(good_rule(then={"ranking": ["priority", "cheapest"]})),
        "rules[0].then.ranking[1]",
        "unknown criterion 'cheapest'; expected one of " + ", ".join(CRITERIA),
        SCHEMA_TOO,
    ),
    (
        "criterion twice",
        rules(default={"ranking": ["distance", "distance"]}),
        "default.ranking[1]",
        "'distance' is listed twice",
        SCHEMA_TOO,
    ),
    (
        "duplicate rule ids",
        rules(good_rule(), good_rule(id="r2"), good_rule()),
        "rules[2].id",
        "duplicate id 'r1', first at rules[0]",
        SERVER_ONLY,
    ),
    (
        "unknown time zone",
        rules(timezone="Mars/Olympus_Mons"),
        "timezone",
        "unknown time zone 'Mars/Olympus_Mons'; use an IANA name",
        SERVER_ONLY,
    ),
    (
        "empty all",
        rules(good_rule(when={"all": []})),
        "rules[0].when.all",
        "expected a non-empty list of conditions",
        SCHEMA_TOO,
    ),
    (
        "empty any",
        rules(good_rule(when={"not": {"any": []}})),
        "rules[0].when.not.any",
        "expected a non-empty list of conditions",
        SCHEMA_TOO,
    ),
    (
        "include and exclude overlap",
        rules(good_rule(then={"warehouses": {"include": ["A", "B"], "exclude": ["B"]}})),
        "rules[0].then.warehouses.exclude",
        "B also in include",
        SERVER_ONLY,
    ),
    (
        "required and excluded tag",
        rules(default={"warehouses": {"require_tags": ["cold"], "exclude_tags": ["cold"]}}),
        "default.warehouses.exclude_tags",
        "cold also in require_tags",
        SERVER_ONLY,
    ),
    (
        "postal range of mixed lengths",
        rules(good_rule(when={"field": "postal_code", "op": "range", "value": ["100", "19999"]})),
        "rules[0].when.value",
        "range ends must have the same length ('100', '19999')",
        SERVER_ONLY,
    ),
    (
        "between the wrong way round",
        rules(good_rule(when={"field": "order_value", "op": "between", "value": ["50", "10"]})),
        "rules[0].when.value",
        "low 50 is greater than high 10",
        SERVER_ONLY,
    ),
    (
        "unknown key at the top",
        rules(version=3),
        "version",
        "unknown key; expected one of schema_version, name, description, timezone, default, rules",
        SCHEMA_TOO,
    ),
    (
        "missing name",
        {"timezone": "UTC", "rules": []},
        "name",
        "is required",
        SCHEMA_TOO,
    ),
    (
        "missing then",
        rules({"id": "r1", "when": country("CA")}),
        "rules[0].then",
        "is required",
        SCHEMA_TOO,
    ),
    (
        "bad on_no_stock",
        rules(good_rule(then={"on_no_stock": "cancel"})),
        "rules[0].then.on_no_stock",
        "expected one of exception, backorder, hold, reject, got 'cancel'",
        SCHEMA_TOO,
    ),
    (
        "no shipments",
        rules(default={"split": {"mode": "split", "max_shipments": 0}}),
        "default.split.max_shipments",
        "expected an integer >= 1, got 0",
        SCHEMA_TOO,
    ),
    (
        "ship-alone SKU in a kit",
        rules(default={"split": {"ship_alone_skus": ["TV"], "keep_together": [["TV", "MOUNT"]]}}),
        "default.split.keep_together[0]",
        "TV must ship alone",
        SERVER_ONLY,
    ),
    (
        "kit of one",
        rules(default={"split": {"keep_together": [["TV"]]}}),
        "default.split.keep_together[0]",
        "expected a list of 2 or more strings, got list",
        SCHEMA_TOO,
    ),
    (
        "negative minimum value",
        rules(default={"split": {"min_value_per_extra_shipment": "-5"}}),
        "default.split.min_value_per_extra_shipment",
        "expected an amount >= 0, got '-5'",
        SCHEMA_TOO,
    ),
    (
        "boost not an integer",
        rules(good_rule(then={"priority_boost": {"WEST": "high"}})),
        "rules[0].then.priority_boost.WEST",
        "expected an integer >= -1000 and <= 1000, got 'high'",
        SCHEMA_TOO,
    ),
    (
        "continue not a boolean",
        rules(good_rule(**{"continue": "yes"})),
        "rules[0].continue",
        "expected true or false, got 'yes'",
        SCHEMA_TOO,
    ),
    (
        "rules not a list",
        rules(rules={"r1": good_rule()}),
        "rules",
        "expected a list of rules, got object",
        SCHEMA_TOO,
    ),
    (
        "document not an object",
        ["not", "a", "rule", "set"],
        "$",
        "expected an object, got list",
        SCHEMA_TOO,
    ),
]


@pytest.mark.parametrize(
    ("doc", "path", "message", "schema_too"),
    [case[1:] for case in INVALID],
    ids=[case[0] for case in INVALID],
)
def test_validation_errors_name_the_path(
    doc: Any, path: str, message: str, schema_too: bool
) -> None:
    [error] = validate_rule_set(doc)
    assert error.path == path
    assert error.message.startswith(message)
    schema_errors = list(Draft202012Validator(rule_set_schema()).iter_errors(doc))
    assert bool(schema_errors) is schema_too


def test_every_error_is_reported_at_once() -> None:
    doc = rules(
        good_rule(when={"all": [{"field": "colour", "op": "eq", "value": 1}, country("ca")]}),
        good_rule(then={"ranking": ["cheapest"]}),
        timezone="Nowhere/Town",
    )
    paths = [error.path for error in validate_rule_set(doc)]
    assert paths == [
        "timezone",
        "rules[0].when.all[0].field",
        "rules[0].when.all[1].value",
        "rules[1].id",
        "rules[1].then.ranking[0]",
    ]
    with pytest.raises(RuleSetError) as caught:
        parse_rule_set(doc)
    assert isinstance(caught.value, ValueError)
    assert [error.path for error in caught.value.errors] == paths
    assert all(isinstance(error, RuleError) for error in caught.value.errors)
    assert "rules[1].then.ranking[0]: unknown criterion 'cheapest'" in str(caught.value)


def test_validation_never_raises_on_junk() -> None:
    junks: list[Any] = [None, 3, "rules", [], {"rules": None}, {"name": {}, "rules": [None, 1]}]
    for junk in junks:
        assert validate_rule_set(junk)
        with pytest.raises(RuleSetError):
            parse_rule_set(junk)
