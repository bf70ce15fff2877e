"""The decision's result and its JSON-ready trace: why each warehouse won, lost or was removed."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from itertools import repeat
from operator import itemgetter
from typing import Any

from omniroute.routing.allocate import LineDemand, Outcome, Promise, RoutingResult, Shipment
from omniroute.routing.geo import GeoPoint
from omniroute.routing.rule_model import DEFAULT_CARRIER
from omniroute.routing.rules import Evaluation, NoStockAction
from omniroute.routing.search import SearchResult
from omniroute.routing.tracing.explain import (
    TIE_BREAKS,
    Losses,
    Removal,
    Stock,
    Verdicts,
    finite,
    headline,
    runner_up,
    warnings,
    weighed,
    why_not_eligible,
)
from omniroute.routing.tracing.render import FIGURES, figures
from omniroute.routing.warehouses import (
    Columns,
    ShipDay,
    Shipping,
    channel_buffer,
    held_back,
)

# The explanations' types and the headline moved to routing.explain; they stay importable
# from here.
__all__ = [
    "RANK_WORDS",
    "Losses",
    "Removal",
    "Stock",
    "Verdicts",
    "build_result",
    "headline",
    "permuter",
    "promised",
    "runner_up",
]

NO_STOCK_OUTCOME = {
    NoStockAction.EXCEPTION: Outcome.NO_STOCK,
    NoStockAction.BACKORDER: Outcome.BACKORDER,
    NoStockAction.HOLD: Outcome.HOLD,
    NoStockAction.REJECT: Outcome.REJECT,
}


def permuter(order: Sequence[int]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """A function taking a column to a tuple of its values at the positions in ``order``."""
    if len(order) > 1:
        return itemgetter(*order)  # in C; one position would give the bare value
    if order:
        only = order[0]
        return lambda column: (column[only],)
    return lambda column: ()


class _RankWords:
    """The verdicts of the chosen warehouses by rank, made once and shared (the trace is read,
    never changed in place, and equal strings serialise the same)."""

    def __init__(self) -> None:
        # One attribute, so that a thread growing it never reads a half-made one.
        self.words: tuple[str, ...] = ()

    def upto(self, ranks: int) -> tuple[str, ...]:
        words = self.words
        if len(words) <= ranks:
            size = max(ranks + 1, 2 * len(words), 64)
            words = tuple(f"chosen: ranked {rank}" for rank in range(size))
            self.words = words
        return words


RANK_WORDS = _RankWords()


def build_result(
    lines: Sequence[LineDemand],
    *,
    label: str,
    now: datetime,
    ship_to: GeoPoint | None,
    evaluation: Evaluation,
    search: SearchResult,
    shipments: tuple[Shipment, ...],
    policy_block: str | None,
    verdicts: Verdicts,
    stock: Stock,
    order_value: Mapping[str, Any] | None = None,
    address: tuple[str | None, str | None] = (None, None),
    optimiser: Mapping[str, Any] | None = None,
) -> RoutingResult:
    """The result and its trace. ``address``: the ship-to's country and postal code, to say
    in ``warnings`` when they could not be placed; ``optimiser``: how the plan was found
    (``routing.optimise``)."""
    rules = evaluation.outcome
    if shipments:
        outcome = Outcome.SINGLE if len(shipments) == 1 else Outcome.SPLIT
        shortfall: list[LineDemand] = []
        summary = _plan_summary(shipments, search, optimiser)
    else:
        outcome = NO_STOCK_OUTCOME[rules.on_no_stock]
        shortfall = _shortfall(lines, stock)
        summary = _no_plan_summary(evaluation, shortfall, policy_block, verdicts)
    currency = None if order_value is None else order_value.get("currency")
    demand = _demand(lines)
    candidates = _candidates(
        verdicts,
        {s.warehouse_id for s in shipments},
        Losses(
            stock,
            demand,
            rules.ranking,
            currency,
            summary if not shipments else None,
            weighed(optimiser),
        ),
    )
    short_of = figures(stock.skus, [demand.get(sku, 0) for sku in stock.skus], len(shipments))
    # No headline: it names the first losers in words, made when the trace is read
    # (routing.render.render_trace, which puts it first).
    trace = {
        "policy": label,
        "decided_at": now.isoformat(),
        "outcome": outcome._value_,  # .value is a slow descriptor
        "rules": {"matched": list(evaluation.matched), "steps": list(evaluation.steps)},
        "order_value": order_value,
        "ship_to": None
        if ship_to is None
        else {"level": ship_to.level._value_, "label": ship_to.label},
        "ranking": list(rules.ranking),
        "split": {
            "mode": rules.split.mode._value_,
            "max_shipments": rules.split.max_shipments,
            "allow_line_split": rules.split.allow_line_split,
        },
        "search": {
            "method": search.method,
            "proven_minimal": search.proven_minimal,
            "nodes": search.nodes,
        },
        "optimiser": None if optimiser is None else dict(optimiser),
        "candidates": candidates,
        "chosen": [s.warehouse_code for s in shipments],
        "shipments": len(shipments),
        "shortfall": [
            {"line_id": d.line_id, "sku": d.sku, "missing": d.quantity} for d in shortfall
        ],
        "summary": summary,
        "tie_breaks": list(TIE_BREAKS),
        "warnings": warnings(ship_to, address, verdicts),
        FIGURES: short_of,  # for the words of the warehouses short of stock, made on read
    }
    carrier = rules.carrier
    if carrier is not DEFAULT_CARRIER and carrier != DEFAULT_CARRIER:
        trace["carrier"] = carrier.to_json()  # what carrier booking reads; absent: the default
    return RoutingResult(
        outcome=outcome, shipments=shipments, shortfall=tuple(shortfall), trace=trace
    )


def promised(
    shipments: Sequence[Shipment],
    eligible: Columns,
    ships: Mapping[Shipping, ShipDay],
    service_level: str,
) -> Promise:
    """The promise of a plan: the last of its warehouses' ship dates (their local dates,
    after their cut-offs and calendars); None when one of them never ships."""
    ids, calendars = eligible.ids, eligible.shipping
    dates = [ships[calendars[ids.index(s.warehouse_id)]].date for s in shipments]
    known = [d for d in dates if d is not None]
    ship_by = max(known) if len(known) == len(dates) and known else None
    return Promise(ship_by=ship_by, service_level=service_level)


def _demand(lines: Sequence[LineDemand]) -> dict[str, int]:
    need: dict[str, int] = {}
    for line in lines:
        need[line.sku] = need.get(line.sku, 0) + line.quantity
    return need


# An eligible warehouse's trace entry and its scores, keys in their order: each entry is a
# copy with its values set. Never handed out themselves.
ELIGIBLE_ENTRY: dict[str, Any] = dict.fromkeys(
    (
        "warehouse_id",
        "code",
        "eligible",
        "removed_by",
        "rank",
        "scores",
        "location",
        "cannot_ship",
        "ship_date",
        "channel_buffer",
        "verdict",
        "why_not",
        "stock",
    )
) | {"eligible": True}
SCORES_ENTRY: dict[str, Any] = dict.fromkeys(
    ("priority", "distance", "stock_depth", "shipping_cost", "capacity_headroom", "ship_date")
)


def _candidates(verdicts: Verdicts, chosen: set[int], losses: Losses) -> list[dict[str, Any]]:
    """The trace entry of every warehouse: the eligible ones best-ranked first, then the
    removed ones. Entries are made in ``eligible`` order, column by column, and put in rank
    order once (cheaper than putting every column in rank order)."""
    eligible, blocked, scores, order = (
        verdicts.eligible,
        verdicts.blocked,
        verdicts.scores,
        verdicts.order,
    )
    kind, name = verdicts.channel
    values: Sequence[Sequence[float | None]] = scores[:6]
    if scores.infinite():
        values = [list(map(finite, column)) for column in values]
    dates: Any = (
        repeat(next(iter(verdicts.ships.values())).iso)
        if len(verdicts.ships) == 1
        else [verdicts.ships[key].iso for key in eligible.shipping]
    )
    held: Any = (
        [channel_buffer(dict(b), kind, name) if b else 0 for b in eligible.buffers]
        if eligible.buffered
        else repeat(0)
    )
    cannot: Any = map(blocked.get, range(len(order))) if blocked else repeat(None)
    ranks = [0] * len(order)
    for rank, n in enumerate(order, start=1):
        ranks[n] = rank
    won = RANK_WORDS.upto(len(order))
    whys, lost = why_not_eligible(verdicts, chosen, ranks, losses)
    if (
        order
        and len(verdicts.ships) == 1
        and not eligible.buffered
        and all(column.count(column[0]) == len(column) for column in values[3:])
    ):
        # The usual decision: one ship date for all, nothing held back, the same shipping
        # cost, capacity and days for every warehouse (none, mostly): those come with the
        # templates.
        plain = _plain_entries(
            verdicts, values, (whys, lost), ranks, losses, cannot, next(iter(dates))
        )
        return [*permuter(order)(plain), *_removed_entries(verdicts)]
    entries: list[dict[str, Any]] = []
    append = entries.append
    entry_of, scores_of = ELIGIBLE_ENTRY.copy, SCORES_ENTRY.copy
    for (
        row,
        why,
        words,
        rank,
        wid,
        code,
        level,
        priority,
        distance,
        depth,
        cost,
        capacity,
        days,
        skus,
        date,
        units,
    ) in zip(
        map(list, losses.stock.rows),  # lists, as JSON reads them back
        whys,
        lost,
        ranks,
        eligible.ids,
        eligible.codes,
        eligible.levels,
        *values,
        cannot,
        dates,
        held,
        strict=False,  # the constant columns repeat without end
    ):
        # A copy of a template, then its values set in place: about half the cost of a
        # dict display of the same keys (no insertion, no resizing), same keys in order.
        scored = scores_of()
        scored["priority"] = priority
        scored["distance"] = distance
        scored["stock_depth"] = depth
        scored["shipping_cost"] = cost
        scored["capacity_headroom"] = capacity
        scored["ship_date"] = days
        entry = entry_of()
        entry["warehouse_id"] = wid
        entry["code"] = code
        entry["rank"] = rank
        entry["scores"] = scored
        entry["location"] = level
        entry["cannot_ship"] = {} if skus is None else skus
        entry["ship_date"] = date
        entry["channel_buffer"] = units
        entry["verdict"] = won[rank] if why is None else words
        entry["why_not"] = why
        entry["stock"] = row  # dropped when the trace is read (routing.render)
        append(entry)
    entries = list(permuter(order)(entries))
    return entries + _removed_entries(verdicts)


def _plain_entries(  # noqa: PLR0917 - _candidates' own parts
    verdicts: Verdicts,
    values: Sequence[Sequence[float | None]],
    why_not: tuple[list[dict[str, Any] | None], list[str | None]],
    ranks: list[int],
    losses: Losses,
    cannot: Any,
    date: str | None,
) -> list[dict[str, Any]]:
    """:func:`_candidates`' entries of the eligible warehouses (``eligible`` order) when the
    last three score columns, the ship date and the units held back (none) are the same for
    every warehouse: set once in this decision's templates, the same keys in the same order."""
    eligible = verdicts.eligible
    whys, lost = why_not
    won = RANK_WORDS.upto(len(ranks))
    scores_of = (
        SCORES_ENTRY
        | {
            "shipping_cost": values[3][0],
            "capacity_headroom": values[4][0],
            "ship_date": values[5][0],
        }
    ).copy
    entry_of = (ELIGIBLE_ENTRY | {"ship_date": date, "channel_buffer": 0}).copy
    entries: list[dict[str, Any]] = []
    append = entries.append
    for row, why, words, rank, wid, code, level, priority, distance, depth, skus in zip(
        map(list, losses.stock.rows),  # lists, as JSON reads them back
        whys,
        lost,
        ranks,
        eligible.ids,
        eligible.codes,
        eligible.levels,
        values[0],
        values[1],
        values[2],
        cannot,
        strict=False,  # cannot may repeat without end
    ):
        scored = scores_of()
        scored["priority"] = priority
        scored["distance"] = distance
        scored["stock_depth"] = depth
        entry = entry_of()
        entry["warehouse_id"] = wid
        entry["code"] = code
        entry["rank"] = rank
        entry["scores"] = scored
        entry["location"] = level
        entry["cannot_ship"] = {} if skus is None else skus
        entry["verdict"] = won[rank] if why is None else words
        entry["why_not"] = why
        entry["stock"] = row  # dropped when the trace is read (routing.render)
        append(entry)
    return entries


def _removed_entries(verdicts: Verdicts) -> list[dict[str, Any]]:
    """The trace entries of the warehouses a feasibility filter removed."""
    kind, name = verdicts.channel
    return [
        {
            "warehouse_id": s.warehouse_id,
            "code": s.code,
            "eligible": False,
            "removed_by": reason.text,
            "rank": None,
            "scores": {},
            "location": s.level,
            "cannot_ship": {},
            "ship_date": verdicts.ships[s.shipping].iso,
            "channel_buffer": held_back(s, kind, name) if s.buffers else 0,
            "verdict": f"removed: {reason.text}",
            "why_not": {"reason": reason.filter, **reason.detail, "text": reason.text},
        }
        for s, reason in verdicts.removed
    ]


def _shortfall(lines: Sequence[LineDemand], stock: Stock) -> list[LineDemand]:
    pooled = dict(zip(stock.skus, map(sum, zip(*stock.rows, strict=True)), strict=False))
    missing = []
    for line in lines:
        take = min(pooled.get(line.sku, 0), line.quantity)
        pooled[line.sku] = pooled.get(line.sku, 0) - take
        if take < line.quantity:
            missing.append(LineDemand(line.line_id, line.sku, line.quantity - take))
    return missing


def _plan_summary(
    shipments: tuple[Shipment, ...], search: SearchResult, optimiser: Mapping[str, Any] | None
) -> str:
    codes = ", ".join(s.warehouse_code for s in shipments)
    weighed = optimiser is not None and not _shipments_only(optimiser)
    if search.method == "mip" or weighed:
        assert optimiser is not None  # noqa: S101 - the mip's plans always come with a report
        objective = optimiser["objective"]
        if optimiser["status"] == "optimal":
            proof = f"optimal on the objective ({objective:g})"
        else:
            gap = optimiser.get("gap")
            within = "" if gap is None else f", within {gap:.1%} of the best possible"
            proof = f"best found in the time limit (objective {objective:g}{within})"
        if len(shipments) == 1:
            return f"Ship the whole order from {codes}; {proof}."
        return f"Split into {len(shipments)} shipments from {codes}; {proof}."
    proof = "proven minimal" if search.proven_minimal else f"{search.method} (not proven minimal)"
    if len(shipments) == 1:
        return f"Ship the whole order from {codes}."
    return f"Split into {len(shipments)} shipments from {codes}; {proof}."


def _shipments_only(optimiser: Mapping[str, Any]) -> bool:
    weights = optimiser["weights"]
    return not (weights["cost"] or weights["distance_km"] or weights["capacity"])


def _no_plan_summary(
    evaluation: Evaluation,
    shortfall: list[LineDemand],
    policy_block: str | None,
    verdicts: Verdicts,
) -> str:
    action = evaluation.outcome.on_no_stock.value
    if not verdicts.order:
        return f"No warehouse is eligible for this order; {action}."
    if policy_block:
        return f"{policy_block}; {action}."
    if shortfall:
        short = ", ".join(f"{d.sku} (short {d.quantity})" for d in shortfall)
        return f"Not enough stock in the eligible warehouses: {short}; {action}."
    return f"The split policy allows no plan with the stock there is; {action}."
