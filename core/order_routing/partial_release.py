"""Partial release of a backordered order: ship what stock covers now, backorder the rest.

When the rules answer ``on_no_stock: backorder`` with ``partial_release: true`` and the
router could not cover the order, the router is asked a second time for the demand less its
shortfall (the lines, and the units of a line, that stock covers). The second answer obeys
the same rules, split policy included: with ship_complete, the covered part must come from
one warehouse, else the whole order waits as before. Both answers go into one decision:
the second's plan and trace, with ``trace["partial_release"]`` holding the first's outcome,
summary and shortfall.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final

from omniroute import routing
from omniroute.routing.conditions import OrderFacts
from omniroute.routing.engine import DEFAULT_RULES, RoutingRequest, decide
from omniroute.routing.rules import Evaluation, RuleSet, evaluate

OUTCOME: Final = "partial_release"  # the decision row's outcome; the router has no such value


def evaluate_order(rule_set: RuleSet | None, facts: OrderFacts, now: datetime) -> Evaluation:
    """The rules' outcome for one order at ``now`` (naive means UTC), as the router sees it."""
    return evaluate(
        rule_set or DEFAULT_RULES, facts, now if now.tzinfo else now.replace(tzinfo=UTC)
    )


@dataclass(frozen=True)
class PartialRelease:
    """The plan for what stock covers now (``plan``) after the whole demand was backordered
    (``backorder``, whose shortfall is what waits)."""

    demand: tuple[routing.LineDemand, ...]
    backorder: routing.RoutingResult
    plan: routing.RoutingResult

    def waiting(self, line_ids: Collection[int] | None = None) -> tuple[routing.LineDemand, ...]:
        """What is missing (of the lines ``line_ids`` only, when given)."""
        return tuple(
            d for d in self.backorder.shortfall if line_ids is None or d.line_id in line_ids
        )

    @property
    def note(self) -> str:
        """The order's timeline entry."""
        return self.note_for(None)

    def note_for(self, line_ids: Collection[int] | None) -> str:
        """The timeline entry of the order with lines ``line_ids`` (all: None), e.g.
        ``released 1 of 2 lines; waiting for stock of B-200 (2 units)``."""
        demand = [d for d in self.demand if line_ids is None or d.line_id in line_ids]
        placed = {a.line_id for s in self.plan.shipments for a in s.lines}
        missing = ", ".join(
            f"{d.sku} ({d.quantity} unit{'s' if d.quantity != 1 else ''})"
            for d in self.waiting(line_ids)
        )
        released = sum(d.line_id in placed for d in demand)
        return f"released {released} of {len(demand)} lines; waiting for stock of {missing}"

    @property
    def trace(self) -> dict[str, Any]:
        """The decision's trace: the partial plan's, with the first answer under
        ``partial_release`` and its shortfall as the decision's."""
        first = self.backorder
        shortfall = first.trace.get("shortfall", [])
        codes = ", ".join(s.warehouse_code for s in self.plan.shipments)
        return self.plan.trace | {
            "headline": f"Partial release from {codes}: {self.note}",
            "outcome": OUTCOME,
            "shortfall": shortfall,
            "summary": f"Partial release from {codes}: {self.note}.",
            "partial_release": {
                "plan_summary": self.plan.trace.get("summary"),
                "first": {
                    "outcome": first.outcome.value,
                    "summary": first.trace.get("summary"),
                    "shortfall": shortfall,
                },
                "released": [
                    {
                        "warehouse_code": s.warehouse_code,
                        "line_id": a.line_id,
                        "sku": a.sku,
                        "quantity": a.quantity,
                    }
                    for s in self.plan.shipments
                    for a in s.lines
                ],
            },
        }


def partial_release(
    request: RoutingRequest, result: routing.RoutingResult
) -> PartialRelease | None:
    """The plan for the covered part of a backordered order when its rules allow a partial
    release and stock covers some of it; None when the order is to wait (or not backordered)."""
    if result.outcome != routing.Outcome.BACKORDER or not result.shortfall:
        return None
    rule_set = request.rule_set or DEFAULT_RULES
    if not rule_set.partial_releases:
        return None
    if not evaluate_order(rule_set, request.facts, request.now).outcome.partial_release:
        return None
    covered = covered_part(request.order.lines, result.shortfall)
    if not covered:
        return None
    plan = decide(replace(request, order=replace(request.order, lines=covered)))
    if not plan.shipments:
        return None
    return PartialRelease(request.order.lines, result, plan)


def covered_part(
    lines: tuple[routing.LineDemand, ...], shortfall: tuple[routing.LineDemand, ...]
) -> tuple[routing.LineDemand, ...]:
    """``lines`` less the units missing from each; lines missing everything are left out."""
    missing: dict[int, int] = {}
    for gap in shortfall:
        missing[gap.line_id] = missing.get(gap.line_id, 0) + gap.quantity
    covered = (
        replace(line, quantity=line.quantity - missing.get(line.line_id, 0)) for line in lines
    )
    return tuple(line for line in covered if line.quantity > 0)
