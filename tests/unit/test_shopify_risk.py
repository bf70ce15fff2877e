"""Shopify's risk verdict from ``Order.risk`` and the risk webhook (pure)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from omniroute.connectors.base import PayloadError
from omniroute.connectors.shopify import risk, webhooks
from omniroute.core.channels.release_policy import (
    DEFAULT_POLICY,
    HoldCode,
    ReleasePolicy,
    hold_for,
)


def data(recommendation: str, *levels: str) -> dict[str, Any]:
    assessments = [{"riskLevel": level, "provider": None} for level in levels]
    summary = {"recommendation": recommendation, "assessments": assessments}
    return {"order": {"id": "gid", "risk": summary}}


@pytest.mark.parametrize(
    ("recommendation", "levels", "expected"),
    [
        ("ACCEPT", ("LOW",), "low"),
        ("NONE", (), None),
        ("NONE", ("NONE",), None),
        ("INVESTIGATE", ("LOW",), "medium"),
        ("ACCEPT", ("MEDIUM", "LOW"), "medium"),
        ("CANCEL", ("LOW",), "high"),
        ("ACCEPT", ("LOW", "HIGH"), "high"),
        ("NONE", ("PENDING",), "pending"),
        ("ACCEPT", ("LOW", "PENDING"), "pending"),
        ("NONE", ("PENDING", "HIGH"), "high"),
        ("accept", ("low",), "low"),
    ],
)
def test_the_verdict_is_the_highest_level_and_pending_waits(
    recommendation: str, levels: tuple[str, ...], expected: str | None
) -> None:
    assert risk.verdict(data(recommendation, *levels), 1) == expected


def test_no_risk_object_is_no_verdict() -> None:
    assert risk.verdict({"order": {"id": "gid", "risk": None}}, 1) is None


@pytest.mark.parametrize(
    "answer",
    [
        {"order": None},
        {"order": []},
        {"order": {"risk": "HIGH"}},
        {"order": {"risk": {"assessments": {"riskLevel": "HIGH"}}}},
        {"order": {"risk": {"assessments": ["HIGH"]}}},
    ],
)
def test_an_unknown_order_or_a_misshapen_answer_is_a_payload_error(answer: Any) -> None:
    with pytest.raises(PayloadError):
        risk.verdict(answer, 5)


def test_the_query_names_the_order_by_its_global_id() -> None:
    body = risk.request_body(450789469)
    assert body["variables"] == {"id": "gid://shopify/Order/450789469"}
    assert "risk" in body["query"] and "assessments" in body["query"]


def headers(topic: str) -> dict[str, str]:
    return {"X-Shopify-Topic": topic}


def test_the_risk_webhook_names_the_order_to_read_again() -> None:
    body = {"order_id": 450789469, "risk_level": "high", "provider_title": "Shopify"}
    event = webhooks.parse(headers("orders/risk_assessment_changed"), json.dumps(body).encode())
    assert (event.topic, event.order, event.external_id) == (
        "orders/risk_assessment_changed",
        None,
        "450789469",
    )
    only_gid = {"admin_graphql_api_order_id": "gid://shopify/Order/77"}
    event = webhooks.parse(headers("orders/risk_assessment_changed"), json.dumps(only_gid).encode())
    assert event.external_id == "77"


@pytest.mark.parametrize("body", [b"[]", b'{"order_id": true}', b"{}", b"not json"])
def test_a_risk_webhook_without_an_order_is_a_payload_error(body: bytes) -> None:
    with pytest.raises(PayloadError):
        webhooks.parse(headers("orders/risk_assessment_changed"), body)


def test_pending_risk_holds_until_it_ends_unless_the_policy_holds_no_risk() -> None:
    order = {"financial_status": "paid", "risk_level": "pending"}
    hold = hold_for(order, DEFAULT_POLICY)
    assert hold is not None and hold.code is HoldCode.RISK_PENDING and not hold.needs_review
    assert hold_for(order, ReleasePolicy(hold_risk_levels=[])) is None
    assert hold_for({**order, "risk_level": "low"}, DEFAULT_POLICY) is None
