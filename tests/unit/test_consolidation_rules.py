"""The consolidate outcome of a rule set, and the key orders consolidate under."""

from datetime import UTC, datetime
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from omniroute.core.order_routing.merge_key import address_identity, customer_identity, merge_key
from omniroute.routing.rules import (
    OrderFacts,
    evaluate,
    parse_rule_set,
    rule_set_schema,
    validate_rule_set,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def facts(country: str) -> OrderFacts:
    return OrderFacts(
        channel="shopify",
        connector_id=1,
        order_type="normal",
        country=country,
        region=None,
        postal_code=None,
        skus=("A",),
        sku_tags=frozenset(),
        line_count=1,
        order_value=None,
        currency="USD",
        service_level="standard",
        customer_tags=frozenset(),
        order_tags=frozenset(),
    )


FACTS = facts("US")


def rules(then: dict[str, Any], default: dict[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": "merge",
        "timezone": "UTC",
        "rules": [
            {"id": "us", "when": {"field": "country", "op": "eq", "value": "US"}, "then": then}
        ],
    }
    if default is not None:
        doc["default"] = default
    return doc


def test_a_rule_that_consolidates_sets_the_window_and_says_so_in_the_trace() -> None:
    rule_set = parse_rule_set(rules({"consolidate": {"window_minutes": 45}}))
    assert rule_set.consolidates
    result = evaluate(rule_set, FACTS, NOW)
    assert result.outcome.consolidate_minutes == 45
    assert result.steps[0]["applied"] == ["consolidate"]
    assert result.outcome.to_json()["consolidate"] == {"window_minutes": 45}
    again = parse_rule_set(rules({}, default=result.outcome.to_json()))
    assert again.default == result.outcome


def test_without_consolidate_nothing_waits() -> None:
    rule_set = parse_rule_set(rules({"on_no_stock": "backorder"}))
    assert not rule_set.consolidates
    assert evaluate(rule_set, FACTS, NOW).outcome.consolidate_minutes == 0


def test_a_later_rule_can_switch_consolidation_off() -> None:
    doc = rules(
        {"consolidate": {"window_minutes": 0}}, default={"consolidate": {"window_minutes": 60}}
    )
    rule_set = parse_rule_set(doc)
    assert rule_set.consolidates
    assert evaluate(rule_set, FACTS, NOW).outcome.consolidate_minutes == 0
    assert evaluate(rule_set, facts("CA"), NOW).outcome.consolidate_minutes == 60


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"window_minutes": 1441}, "rules[0].then.consolidate.window_minutes"),
        ({"window_minutes": -1}, "rules[0].then.consolidate.window_minutes"),
        ({"window_minutes": True}, "rules[0].then.consolidate.window_minutes"),
        ({"window_minutes": "30"}, "rules[0].then.consolidate.window_minutes"),
        ({"window_minutes": 1.5}, "rules[0].then.consolidate.window_minutes"),
        ({}, "rules[0].then.consolidate.window_minutes"),
        ({"window_minutes": 5, "cap": 9}, "rules[0].then.consolidate.cap"),
        (30, "rules[0].then.consolidate"),
    ],
)
def test_an_invalid_consolidate_is_refused_with_its_path(value: Any, path: str) -> None:
    doc = rules({"consolidate": value})
    assert [e.path for e in validate_rule_set(doc)] == [path]
    assert list(Draft202012Validator(rule_set_schema()).iter_errors(doc))  # clients see it too


@pytest.mark.parametrize("minutes", [0, 1, 1440])
def test_the_schema_and_the_reader_accept_the_bounds(minutes: int) -> None:
    doc = rules({"consolidate": {"window_minutes": minutes}})
    assert validate_rule_set(doc) == []
    assert list(Draft202012Validator(rule_set_schema()).iter_errors(doc)) == []


ADDRESS = {
    "address1": "Chestnut Street 92",
    "address2": "",
    "city": "Louisville",
    "postal_code": "40202",
    "country": "US",
}


def key(**changes: Any) -> str | None:
    values: dict[str, Any] = {
        "email": "Bob.Norman@Hostmail.com",
        "phone": None,
        "ship_to": ADDRESS,
        "service_level": "standard",
    }
    values.update(changes)
    return merge_key(**values)


def test_the_key_ignores_case_and_spacing() -> None:
    messy = {
        **ADDRESS,
        "address1": "  chestnut   STREET 92 ",
        "city": "LOUISVILLE",
        "postal_code": "402 02",
        "name": "Someone Else",  # the recipient's name is not part of the address
    }
    assert key() == key(email=" bob.norman@hostmail.com ", ship_to=messy)
    assert key() is not None and len(key() or "") == 64


@pytest.mark.parametrize(
    "changes",
    [
        {"email": "alice@example.com"},
        {"ship_to": {**ADDRESS, "address1": "Chestnut Street 94"}},
        {"ship_to": {**ADDRESS, "address2": "Apt 2"}},
        {"ship_to": {**ADDRESS, "postal_code": "40203"}},
        {"ship_to": {**ADDRESS, "country": "CA"}},
        {"service_level": "express"},
    ],
)
def test_another_customer_address_or_service_level_is_another_key(
    changes: dict[str, Any],
) -> None:
    assert key(**changes) != key()


def test_the_phone_stands_in_for_a_missing_email_and_nothing_for_neither() -> None:
    assert customer_identity(None, "+1 (555) 625-1199") == "phone:15556251199"
    assert key(email=None, phone="555 625 1199") == key(email="", phone="555-625-1199")
    assert key(email=None, phone="555") is None
    assert key(email=None, phone=None) is None


def test_an_address_without_a_street_or_country_never_merges() -> None:
    assert address_identity(None) is None
    assert key(ship_to={**ADDRESS, "address1": " "}) is None
    assert key(ship_to={**ADDRESS, "country": None}) is None
