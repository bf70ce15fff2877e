"""Shopify's fraud risk on an order, read from the GraphQL Admin API (pure).

Since API version 2024-04 an order's risk is ``Order.risk``: a ``recommendation`` (ACCEPT,
INVESTIGATE, CANCEL, NONE) and the ``assessments`` Shopify and fraud apps made, each with a
``riskLevel`` (LOW, MEDIUM, HIGH, NONE, PENDING). The REST order object and its webhooks
carry none of it, so omniroute asks for it once per version of an order it may still route,
when the connector's ``fetch_risk_assessment`` is on (scope ``read_orders``). Shopify sends
``orders/risk_assessment_changed`` when an assessment is added; that delivery names the order
and makes omniroute read the order and its risk again.

The verdict is the highest level any assessment or the recommendation gives (CANCEL counts
as high, INVESTIGATE as medium, ACCEPT as low); an assessment still PENDING makes the verdict
``pending`` unless another already says high.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omniroute.connectors.base import PayloadError, RiskVerdict

QUERY = (
    "query OrderRisk($id: ID!) { order(id: $id) { id risk { recommendation "
    "assessments { riskLevel provider { title } } } } }"
)

_RANK = {"low": 1, "medium": 2, "high": 3}
_LEVELS = {"LOW": "low", "MEDIUM": "medium", "HIGH": "high"}
_RECOMMENDATIONS = {"ACCEPT": "low", "INVESTIGATE": "medium", "CANCEL": "high"}


def request_body(order_id: int) -> dict[str, Any]:
    return {"query": QUERY, "variables": {"id": f"gid://shopify/Order/{order_id}"}}


def verdict(data: Mapping[str, Any], order_id: int) -> RiskVerdict:
    """The verdict of a query's ``data``; ``PayloadError`` when Shopify has no such order or
    the answer is not shaped as the schema says."""
    order = data.get("order")
    if order is None:
        raise PayloadError(f"Shopify has no order {order_id} to read the risk of")
    if not isinstance(order, Mapping):
        raise PayloadError("Shopify's risk answer: 'order' is not an object")
    risk = order.get("risk")
    if risk is None:
        return None
    if not isinstance(risk, Mapping):
        raise PayloadError("Shopify's risk answer: 'risk' is not an object")
    levels, pending = _assessed_levels(risk.get("assessments") or [])
    recommended = _RECOMMENDATIONS.get(str(risk.get("recommendation") or "").upper())
    if recommended is not None:
        levels.append(recommended)
    highest = max(levels, key=_RANK.__getitem__, default=None)
    if pending and highest != "high":
        return "pending"
    return highest  # type: ignore[return-value]  # one of _RANK's keys or None


def _assessed_levels(assessments: Any) -> tuple[list[str], bool]:
    """The levels the assessments give, and whether one is still pending."""
    if not isinstance(assessments, list):
        raise PayloadError("Shopify's risk answer: 'assessments' is not a list")
    levels: list[str] = []
    pending = False
    for assessment in assessments:
        if not isinstance(assessment, Mapping):
            raise PayloadError("Shopify's risk answer: an assessment is not an object")
        level = str(assessment.get("riskLevel") or "").upper()
        if level == "PENDING":
            pending = True
        elif level in _LEVELS:
            levels.append(_LEVELS[level])
    return levels, pending


def order_of_risk_event(document: Any) -> str:
    """The order id an ``orders/risk_assessment_changed`` delivery names."""
    if not isinstance(document, Mapping):
        raise PayloadError("Shopify risk assessment webhook body must be a JSON object")
    order_id = document.get("order_id")
    if isinstance(order_id, bool) or not isinstance(order_id, int | str) or not str(order_id):
        gid = document.get("admin_graphql_api_order_id")
        if isinstance(gid, str) and gid.startswith("gid://shopify/Order/"):
            return gid.rsplit("/", 1)[1]
        raise PayloadError("Shopify risk assessment webhook names no order_id")
    return str(order_id)
