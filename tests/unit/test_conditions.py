"""Conditions of routing rules: every field and operator, nesting, missing facts, parse errors."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from omniroute.routing.condition_parser import FIELD_OPS, parse_condition
from omniroute.routing.conditions import OrderFacts, RuleError
from omniroute.routing.rules import validate_rule_set

FACTS = OrderFacts(
    channel="shopify",
    connector_id=7,
    order_type="normal",
    country="US",
    region="NY",
    postal_code="10001",
    skus=("SKU-1", "SKU-2"),
    sku_tags=frozenset({"cold", "Fragile"}),
    line_count=2,
    order_value=Decimal("120.00"),
    currency="USD",
    service_level="standard",
    customer_tags=frozenset({"vip"}),
    order_tags=frozenset({"gift"}),
)
NOON = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)  # a Wednesday


def at(hhmm: str, *, seconds: int = 0) -> datetime:
    hours, minutes = map(int, hhmm.split(":"))
    return NOON.replace(hour=hours, minute=minutes, second=seconds)


def leaf(field: str, op: str, value: Any, **extra: Any) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value, **extra}


def matches(doc: dict[str, Any], now: datetime = NOON, **facts: Any) -> bool:
    return parse_condition(doc, "when").matches(replace(FACTS, **facts), now)


# (field, op, value, fact overrides, expected); NOON and FACTS unless overridden.
CASES: list[tuple[str, str, Any, dict[str, Any], bool]] = [
    ("channel", "eq", "shopify", {}, True),
    ("channel", "eq", "amazon", {}, False),
    ("channel", "ne", "amazon", {}, True),
    ("channel", "ne", "shopify", {}, False),
    ("channel", "in", ["amazon", "shopify"], {}, True),
    ("channel", "not_in", ["shopify"], {}, False),
    ("connector_id", "eq", 7, {}, True),
    ("connector_id", "ne", 7, {}, False),
    ("connector_id", "in", [1, 7], {}, True),
    ("connector_id", "not_in", [1, 2], {}, True),
    ("order_type", "eq", "normal", {}, True),
    ("order_type", "ne", "presale", {}, True),
    ("order_type", "in", ["presale", "b2b"], {"order_type": "b2b"}, True),
    ("order_type", "not_in", ["normal", "group"], {}, False),
    ("country", "eq", "US", {}, True),
    ("country", "eq", "US", {"country": "us"}, True),
    ("country", "ne", "DE", {}, True),
    ("country", "in", ["US", "CA"], {"country": "DE"}, False),
    ("country", "not_in", ["DE", "FR"], {}, True),
    ("region", "eq", "ny", {}, True),
    ("region", "ne", "CA", {}, True),
    ("region", "in", ["NJ", "NY"], {}, True),
    ("region", "not_in", ["NY"], {}, False),
    ("postal_code", "eq", "10001", {}, True),
    ("postal_code", "eq", "k1a 0b1", {"postal_code": "K1A0B1"}, True),
    ("postal_code", "in", ["10002", "10001"], {}, True),
    ("postal_code", "in", ["10002"], {}, False),
    ("postal_code", "prefix", "100", {}, True),
    ("postal_code", "prefix", ["90", "10"], {}, True),
    ("postal_code", "prefix", "20", {}, False),
    ("postal_code", "prefix", "sw1a", {"postal_code": "SW1A 1AA"}, True),
    ("postal_code", "range", ["10000", "19999"], {"postal_code": "10000"}, True),
    ("postal_code", "range", ["10000", "19999"], {"postal_code": "19999"}, True),
    ("postal_code", "range", ["10000", "19999"], {"postal_code": "20000"}, False),
    ("postal_code", "range", ["10000", "19999"], {"postal_code": "09999"}, False),
    ("postal_code", "range", ["10000", "19999"], {"postal_code": "1000"}, False),
    ("postal_code", "range", ["10000", "19999"], {"postal_code": "10000-1234"}, False),
    ("sku", "contains_any", ["SKU-1", "X"], {}, True),
    ("sku", "contains_any", ["X"], {}, False),
    ("sku", "contains_any", ["SKU-1"], {"skus": ()}, False),
    ("sku", "contains_all", ["SKU-1", "SKU-2"], {}, True),
    ("sku", "contains_all", ["SKU-1", "X"], {}, False),
    ("sku", "not_contains", ["X"], {}, True),
    ("sku", "not_contains", ["X", "SKU-2"], {}, False),
    ("sku", "not_contains", ["SKU-1"], {"skus": ()}, True),
    ("sku", "contains_any", ["sku-1"], {}, False),  # SKUs compare exactly
    ("sku_tag", "contains_any", ["COLD"], {}, True),  # tags compare case-insensitively
    ("sku_tag", "contains_all", ["cold", "fragile"], {}, True),
    ("sku_tag", "contains_all", ["cold", "hazmat"], {}, False),
    ("sku_tag", "not_contains", ["hazmat"], {}, True),
    ("customer_tags", "contains_any", ["vip", "b2b"], {}, True),
    ("customer_tags", "contains_all", ["vip", "wholesale"], {}, False),
    ("customer_tags", "not_contains", ["vip"], {}, False),
    ("customer_tags", "not_contains", ["vip"], {"customer_tags": frozenset()}, True),
    ("order_tags", "contains_any", ["Gift"], {}, True),
    ("order_tags", "contains_all", ["gift"], {}, True),
    ("order_tags", "not_contains", ["rush"], {}, True),
    ("line_count", "eq", 2, {}, True),
    ("line_count", "ne", 2, {}, False),
    ("line_count", "gt", 1, {}, True),
    ("line_count", "gt", 2, {}, False),
    ("line_count", "gte", 2, {}, True),
    ("line_count", "lt", 2, {}, False),
    ("line_count", "lte", 2, {}, True),
    ("line_count", "between", [2, 5], {}, True),
    ("line_count", "between", [0, 2], {}, True),
    ("line_count", "between", [3, 5], {}, False),
    ("order_value", "gt", "119.99", {}, True),
    ("order_value", "gt", 120, {}, False),
    ("order_value", "gte", "120.00", {}, True),
    ("order_value", "lt", 120.5, {}, True),
    ("order_value", "lt", "120", {}, False),
    ("order_value", "lte", "120", {}, True),
    ("order_value", "between", ["100", "120"], {}, True),
    ("order_value", "between", ["120", 150], {}, True),
    ("order_value", "between", [120.01, 200], {}, False),
    ("currency", "eq", "USD", {}, True),
    ("currency", "eq", "USD", {"currency": "usd"}, True),
    ("currency", "ne", "EUR", {}, True),
    ("currency", "in", ["EUR", "GBP"], {}, False),
    ("currency", "not_in", ["USD"], {}, False),
    ("service_level", "eq", "standard", {}, True),
    ("service_level", "ne", "express", {}, True),
    ("service_level", "in", ["express", "same_day"], {}, False),
    ("service_level", "not_in", ["standard"], {}, False),
    ("weekday", "in", ["wed"], {}, True),
    ("weekday", "in", ["mon", "tue", "thu"], {}, False),
    ("local_time", "between", ["12:30", "13:00"], {}, True),
    ("local_time", "between", ["12:00", "12:30"], {}, True),
    ("local_time", "between", ["12:31", "13:00"], {}, False),
    ("local_time", "between", ["12:00", "12:29"], {}, False),
]


@pytest.mark.parametrize(("field", "op", "value", "facts", "expected"), CASES)
def test_field_and_operator(
    field: str, op: str, value: Any, facts: dict[str, Any], expected: bool
) -> None:
    assert matches(leaf(field, op, value), **facts) is expected


def test_every_field_and_operator_has_a_case() -> None:
    covered = {(field, op) for field, op, *_ in CASES}
    assert covered == {(f, op) for f, ops in FIELD_OPS.items() for op in ops}


@pytest.mark.parametrize(
    ("window", "now", "expected"),
    [
        (["22:00", "06:00"], at("23:00"), True),
        (["22:00", "06:00"], at("03:00"), True),
        (["22:00", "06:00"], at("22:00"), True),
        (["22:00", "06:00"], at("06:00"), True),
        (["22:00", "06:00"], at("06:01"), False),
        (["22:00", "06:00"], at("21:59"), False),
        (["22:00", "06:00"], at("12:30"), False),
        (["00:00", "23:59"], at("23:59", seconds=59), True),
        (["12:00", "12:30"], at("12:30", seconds=59), True),  # compared to the minute
        (["09:15", "09:15"], at("09:15"), True),
        (["09:15", "09:15"], at("09:16"), False),
    ],
)
def test_time_windows_include_both_ends_and_wrap_past_midnight(
    window: list[str], now: datetime, expected: bool
) -> None:
    assert matches(leaf("local_time", "between", window), now) is expected


def test_time_and_weekday_are_read_from_the_local_time_given() -> None:
    tokyo = timezone(timedelta(hours=9))
    local = NOON.astimezone(tokyo)  # 21:30 on the same Wednesday
    assert matches(leaf("local_time", "between", ["21:00", "22:00"]), local)
    assert not matches(leaf("local_time", "between", ["12:00", "13:00"]), local)
    late = datetime(2024, 5, 1, 20, 0, tzinfo=UTC).astimezone(tokyo)  # Thursday 05:00
    assert matches(leaf("weekday", "in", ["thu"]), late)


def test_order_value_with_a_currency_compares_only_in_that_currency() -> None:
    in_usd = leaf("order_value", "gte", "100", currency="USD")
    assert matches(in_usd)
    assert matches(in_usd, currency="usd")
    assert not matches(in_usd, currency="EUR")
    assert not matches(leaf("order_value", "lt", "100000", currency="USD"), currency="EUR")
    assert matches(leaf("order_value", "gte", "100"), currency="EUR")  # no currency key


MISSING: list[tuple[dict[str, Any], dict[str, Any], bool]] = [
    (leaf("country", "eq", "US"), {"country": None}, False),
    (leaf("country", "in", ["US"]), {"country": None}, False),
    (leaf("country", "ne", "DE"), {"country": None}, True),
    (leaf("country", "not_in", ["DE"]), {"country": None}, True),
    (leaf("country", "eq", "US"), {"country": "  "}, False),
    (leaf("region", "ne", "CA"), {"region": None}, True),
    (leaf("region", "eq", "CA"), {"region": None}, False),
    (leaf("postal_code", "eq", "10001"), {"postal_code": None}, False),
    (leaf("postal_code", "prefix", "1"), {"postal_code": None}, False),
    (leaf("postal_code", "range", ["0", "9"]), {"postal_code": None}, False),
    (leaf("postal_code", "prefix", "1"), {"postal_code": " "}, False),
    (leaf("order_value", "gte", "0"), {"order_value": None}, False),
    (leaf("order_value", "lt", "1000000"), {"order_value": None}, False),
    (leaf("order_value", "between", ["0", "1"]), {"order_value": None}, False),
]


@pytest.mark.parametrize(("doc", "facts", "expected"), MISSING)
def test_missing_facts_match_only_ne_and_not_in(
    doc: dict[str, Any], facts: dict[str, Any], expected: bool
) -> None:
    assert matches(doc, **facts) is expected


CA = leaf("country", "eq", "CA")
EXPRESS = leaf("service_level", "eq", "express")
VIP = leaf("customer_tags", "contains_any", ["vip"])


@pytest.mark.parametrize(
    ("doc", "facts", "expected"),
    [
        ({"all": [CA, VIP]}, {"country": "CA"}, True),
        ({"all": [CA, VIP]}, {}, False),
        ({"any": [CA, VIP]}, {}, True),
        ({"any": [CA, EXPRESS]}, {}, False),
        ({"not": CA}, {}, True),
        ({"not": {"not": CA}}, {}, False),
        ({"all": [{"any": [CA, VIP]}, {"not": EXPRESS}]}, {}, True),
        ({"all": [{"any": [CA, VIP]}, {"not": EXPRESS}]}, {"service_level": "express"}, False),
        ({"any": [{"all": [CA, EXPRESS]}, {"not": {"any": [VIP]}}]}, {"country": "CA"}, False),
        ({"all": [CA]}, {"country": "CA"}, True),
    ],
)
def test_nesting(doc: dict[str, Any], facts: dict[str, Any], expected: bool) -> None:
    assert matches(doc, **facts) is expected


def test_describe_and_explain_read_like_the_trace() -> None:
    doc = {"all": [leaf("country", "in", ["US", "CA"]), {"not": EXPRESS}, {"any": [VIP, CA]}]}
    condition = parse_condition(doc, "when")
    assert condition.describe() == (
        "country in [US, CA] and not service_level eq express "
        "and (customer_tags contains_any [vip] or country eq CA)"
    )
    de = replace(FACTS, country="DE")
    assert condition.explain(de, NOON) == "country in [US, CA] (was DE)"
    assert condition.explain(FACTS, NOON) == (
        "country in [US, CA] (was US) and not service_level eq express (was standard) "
        "and (customer_tags contains_any [vip] (was [vip]))"
    )
    nobody = replace(FACTS, customer_tags=frozenset())
    assert parse_condition({"any": [VIP, CA]}, "w").explain(nobody, NOON) == (
        "none of: customer_tags contains_any [vip] (was []); country eq CA (was US)"
    )


@pytest.mark.parametrize(
    ("doc", "facts", "now", "text"),
    [
        (leaf("local_time", "between", ["22:00", "06:00"]), {}, NOON, "[22:00, 06:00] (was 12:30)"),
        (leaf("weekday", "in", ["mon"]), {}, NOON, "weekday in [mon] (was wed)"),
        (leaf("order_value", "gte", "1.5", currency="EUR"), {}, NOON, "1.5 EUR (was 120.00 USD)"),
        (leaf("postal_code", "prefix", "1"), {"postal_code": None}, NOON, "(was missing)"),
        (leaf("sku_tag", "contains_any", ["X"]), {}, NOON, "[x] (was [cold, fragile])"),
    ],
)
def test_explain_shows_the_actual_value(
    doc: dict[str, Any], facts: dict[str, Any], now: datetime, text: str
) -> None:
    assert parse_condition(doc, "w").explain(replace(FACTS, **facts), now).endswith(text)


@pytest.mark.parametrize(
    ("doc", "path", "message"),
    [
        (leaf("colour", "eq", "red"), "when.field", "unknown field 'colour'"),
        (leaf("country", "gt", "US"), "when.op", "'gt' is not allowed for country"),
        (leaf("weekday", "eq", "mon"), "when.op", "use in"),
        (leaf("country", "eq", 5), "when.value", "ISO country code"),
        (leaf("country", "eq", "us"), "when.value", "upper-case ISO country code"),
        (leaf("country", "in", "US"), "when.value", "expected a non-empty list"),
        (leaf("country", "in", []), "when.value", "expected a non-empty list"),
        (leaf("country", "in", ["US", "USA"]), "when.value[1]", "ISO country code"),
        (leaf("channel", "eq", " "), "when.value", "non-empty string"),
        (leaf("connector_id", "eq", True), "when.value", "integer >= 1"),
        (leaf("connector_id", "eq", "7"), "when.value", "integer >= 1"),
        (leaf("line_count", "gt", 2.5), "when.value", "integer >= 0"),
        (leaf("line_count", "between", [5, 2]), "when.value", "low 5 is greater than high 2"),
        (leaf("line_count", "between", [1]), "when.value", "two values"),
        (leaf("order_value", "gt", "1,000"), "when.value", "decimal"),
        (leaf("order_value", "gt", True), "when.value", "decimal"),
        (leaf("order_value", "gt", "1", currency="usd"), "when.currency", "ISO 4217"),
        (leaf("country", "eq", "US", currency="USD"), "when.currency", "only order_value"),
        (leaf("order_type", "eq", "wholesale"), "when.value", "normal, presale, group, b2b"),
        (leaf("service_level", "in", ["next_day"]), "when.value[0]", "standard, express"),
        (leaf("local_time", "between", ["24:00", "06:00"]), "when.value[0]", "HH:MM"),
        (leaf("local_time", "between", ["22:00", "6:00"]), "when.value[1]", "HH:MM"),
        (leaf("local_time", "between", "22:00-06:00"), "when.value", "two values"),
        (leaf("weekday", "in", ["monday"]), "when.value[0]", "mon, tue"),
        (leaf("postal_code", "range", ["1000", "19999"]), "when.value", "same length"),
        (leaf("postal_code", "range", ["20000", "10000"]), "when.value", "greater than"),
        (leaf("postal_code", "prefix", []), "when.value", "non-empty list"),
        (leaf("sku", "contains_any", "SKU-1"), "when.value", "non-empty list"),
        (leaf("sku_tag", "contains_all", ["cold", 3]), "when.value[1]", "non-empty string"),
        ({"field": "country", "op": "eq"}, "when.value", "is required"),
        ({**CA, "note": "x"}, "when.note", "unknown key"),
        ({"all": []}, "when.all", "non-empty list of conditions"),
        ({"any": []}, "when.any", "non-empty list of conditions"),
        ({"any": CA}, "when.any", "non-empty list of conditions"),
        ({"all": [CA, "country = CA"]}, "when.all[1]", "expected a condition object"),
        ({"all": [CA], "any": [CA]}, "when.any", "unexpected key beside 'all'"),
        ({"not": [CA]}, "when.not", "expected a condition object"),
        ({"not": {"all": [leaf("x", "eq", 1)]}}, "when.not.all[0].field", "unknown field"),
        ("country == 'CA'", "when", "expected a condition object"),
    ],
)
def test_parse_errors_name_the_path(doc: Any, path: str, message: str) -> None:
    with pytest.raises(RuleError) as caught:
        parse_condition(doc, "when")
    assert caught.value.path == path
    assert message in caught.value.message
    assert str(caught.value) == f"{path}: {caught.value.message}"


def test_deep_nesting_is_refused_not_a_crash() -> None:
    doc: dict[str, Any] = CA
    for _ in range(40):
        doc = {"not": doc}
    with pytest.raises(RuleError, match="nest deeper"):
        parse_condition(doc, "when")


def test_user_text_is_never_executed() -> None:
    sneaky = "__import__('os').system('false')"
    condition = parse_condition(leaf("channel", "eq", sneaky), "when")
    assert not condition.matches(FACTS, NOON)
    assert condition.matches(replace(FACTS, channel=sneaky), NOON)


# --- properties over random nestings of valid leaves

VALID_LEAVES = [leaf(field, op, value) for field, op, value, _facts, _ in CASES] + [
    leaf("order_value", "gte", "50", currency="EUR"),
    leaf("local_time", "between", ["22:00", "06:00"]),
]
conditions = hs.recursive(
    hs.sampled_from(VALID_LEAVES),
    lambda inner: hs.one_of(
        hs.lists(inner, min_size=1, max_size=3).map(lambda parts: {"all": parts}),
        hs.lists(inner, min_size=1, max_size=3).map(lambda parts: {"any": parts}),
        inner.map(lambda part: {"not": part}),
    ),
    max_leaves=12,
)
tags = hs.frozensets(hs.sampled_from(["cold", "COLD", "vip", "gift", "hazmat", "b2b"]), max_size=3)
facts = hs.builds(
    OrderFacts,
    channel=hs.sampled_from(["shopify", "amazon"]),
    connector_id=hs.integers(1, 9),
    order_type=hs.sampled_from(["normal", "presale", "group", "b2b"]),
    country=hs.sampled_from([None, "", "US", "ca", "DE"]),
    region=hs.sampled_from([None, "NY", "on"]),
    postal_code=hs.sampled_from([None, "", "10000", "19999", "1000", "K1A 0B1", "10001-1234"]),
    skus=hs.lists(hs.sampled_from(["SKU-1", "SKU-2", "X"]), max_size=3).map(tuple),
    sku_tags=tags,
    line_count=hs.integers(0, 9),
    order_value=hs.one_of(hs.none(), hs.decimals(0, 1000, places=2)),
    currency=hs.sampled_from(["USD", "EUR", "usd"]),
    service_level=hs.sampled_from(["standard", "express", "same_day"]),
    customer_tags=tags,
    order_tags=tags,
)
moments = hs.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=hs.just(UTC)
)


@settings(max_examples=200, deadline=None)
@given(doc=conditions, order=facts, now=moments)
def test_random_nesting_evaluates_and_not_inverts(
    doc: dict[str, Any], order: OrderFacts, now: datetime
) -> None:
    condition = parse_condition(doc, "when")
    result = condition.matches(order, now)
    assert isinstance(result, bool)
    assert isinstance(condition.explain(order, now), str)
    assert parse_condition({"not": doc}, "when").matches(order, now) is (not result)
    assert parse_condition({"all": [doc]}, "when").matches(order, now) is result
    assert parse_condition({"any": [doc, {"not": doc}]}, "when").matches(order, now)


@settings(max_examples=60, deadline=None)
@given(doc=conditions)
def test_the_schema_accepts_every_condition_the_parser_accepts(doc: dict[str, Any]) -> None:
    rule_set = {"name": "n", "timezone": "UTC", "rules": [{"id": "r", "when": doc, "then": {}}]}
    assert validate_rule_set(rule_set) == []
