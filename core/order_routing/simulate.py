"""Dry runs: what a rule set (draft or published) would decide for an order. Writes nothing."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

from omniroute.core.order_routing import route
from omniroute.core.order_routing.inputs import parse_rules
from omniroute.core.order_routing.route import build_request
from omniroute.core.platform.errors import Invalid, NotFound
from omniroute.core.platform.models import Connector, OrderLine, RoutingRuleSet, SalesOrder
from omniroute.routing.engine import decide
from omniroute.routing.tracing.render import render_trace


class Deps(route.Deps, Protocol):
    """What a dry run uses (it writes nothing)."""


def simulate(
    deps: Deps,
    *,
    order_id: int | None = None,
    order: dict[str, Any] | None = None,
    rule_set_id: int | None = None,
    document: dict[str, Any] | None = None,
    now: datetime | None = None,
    connector_ids: Collection[int] | None = None,
) -> dict[str, Any]:
    """The plan and trace for an order under a rule set, against current stock; with
    ``connector_ids`` (a scoped caller), only for an order of one of them."""
    now = now or deps.clock.now()
    session = deps.sessions()
    try:
        target = _order(session, order_id, order, now)
        if connector_ids is not None and target.connector_id not in connector_ids:
            if order_id is not None:
                raise NotFound(f"order {order_id} does not exist")
            raise Invalid(f"connector {target.connector_id} does not exist", code="invalid_order")
        if session.get(Connector, target.connector_id) is None:
            raise Invalid(f"connector {target.connector_id} does not exist", code="invalid_order")
        request, rules = build_request(deps, session, target, now)
        label = rules.label
        if document is not None:
            request = replace(
                request,
                rule_set=parse_rules(document),
                rule_set_label=f"{document.get('name', 'draft')} (unsaved)",
            )
            label = request.rule_set_label
        elif rule_set_id is not None:
            row = session.get(RoutingRuleSet, rule_set_id)
            if row is None:
                raise NotFound(f"rule set {rule_set_id} does not exist")
            label = f"{row.name}@v{row.version} ({row.status})"
            request = replace(request, rule_set=parse_rules(row.document), rule_set_label=label)
        result = decide(request)
    finally:
        session.rollback()
        session.close()
    return {
        "rule_set": label,
        "outcome": result.outcome.value,
        "shipments": [
            {
                "warehouse_id": s.warehouse_id,
                "warehouse_code": s.warehouse_code,
                "lines": [
                    {"line_id": a.line_id, "sku": a.sku, "quantity": a.quantity} for a in s.lines
                ],
            }
            for s in result.shipments
        ],
        "shortfall": [
            {"line_id": d.line_id, "sku": d.sku, "missing": d.quantity} for d in result.shortfall
        ],
        "trace": render_trace(result.trace),
    }


def _order(
    session: Any, order_id: int | None, doc: dict[str, Any] | None, now: datetime
) -> SalesOrder:
    if order_id is not None:
        found = session.get(SalesOrder, order_id)
        if found is None:
            raise NotFound(f"order {order_id} does not exist")
        return found  # type: ignore[no-any-return]
    if doc is None:
        raise Invalid("give an order_id or an order", code="missing_order")
    return _transient_order(doc, now)


def _transient_order(doc: dict[str, Any], now: datetime) -> SalesOrder:
    """An unsaved order built from a canonical order document (lines need ``sku``)."""
    lines = doc.get("lines") or []
    if not lines or "connector_id" not in doc:
        raise Invalid("a simulated order needs connector_id and lines", code="invalid_order")
    order = SalesOrder(
        id=0,
        connector_id=int(doc["connector_id"]),
        external_id="simulation",
        channel=str(doc.get("channel", "simulation")),
        currency=str(doc.get("currency", "USD")),
        total=doc.get("total"),
        ship_to=doc.get("ship_to"),
        service_level=str(doc.get("service_level", "standard")),
        canonical=doc,
        status="validated",
        created_at=now.replace(tzinfo=UTC),
    )
    for n, line in enumerate(lines, start=1):
        sku = line.get("sku") or line.get("channel_sku")
        quantity = line.get("quantity")
        if not sku or not isinstance(quantity, int) or quantity <= 0:
            raise Invalid(
                f"lines[{n - 1}] needs a sku and a positive quantity", code="invalid_order"
            )
        order.lines.append(OrderLine(id=-n, line_no=n, sku=sku, quantity=quantity))
    return order
