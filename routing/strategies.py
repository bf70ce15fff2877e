"""Ranking of candidate warehouses as a chain of small, reorderable criteria, and its wording.

A chain is a tuple of :class:`Criterion`; candidates are compared on the first criterion,
ties go to the next one, and so on. A later rules engine builds its own chain from the same
pieces (or new ones), e.g.::

    chain = (FILLS_ORDER, PRIORITY, MOST_STOCK, CODE, WAREHOUSE_ID)
    best = rank(facts, chain)[0]
    why = explain_loss(runner_up, best, chain)
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

SortValue = int | str


@dataclass(frozen=True)
class RankFacts:
    """What a criterion may look at for one warehouse at one decision point."""

    warehouse_id: int
    code: str
    priority: int
    units_available: int  # available stock summed over the order's distinct SKUs
    units_coverable: int  # units this warehouse could allocate at this decision point
    units_needed: int  # units still to allocate at this decision point

    @property
    def fills(self) -> bool:
        """True when the warehouse can supply every unit still needed."""
        return self.units_coverable >= self.units_needed


@dataclass(frozen=True)
class Criterion:
    """One ranking step: a sort key (lower ranks first) and the words for losing or tying on it."""

    name: str
    key: Callable[[RankFacts], SortValue]
    explain: Callable[[RankFacts, RankFacts], str]  # (loser, winner) -> why the loser ranks lower
    tie: Callable[[RankFacts], str] | None = None  # words for "both were equal on this"


Chain = tuple[Criterion, ...]


FILLS_ORDER = Criterion(
    name="fills_order",
    key=lambda f: 0 if f.fills else 1,
    explain=lambda lo, _w: (
        f"cannot fill whole order (can supply {lo.units_coverable} of {lo.units_needed} units)"
    ),
)

COVERAGE = Criterion(
    name="coverage",
    key=lambda f: -f.units_coverable,
    explain=lambda lo, w: (
        f"covers fewer of the units still needed than {w.code} "
        f"({lo.units_coverable} vs {w.units_coverable})"
    ),
    tie=lambda f: f"the same coverage ({f.units_coverable} units)",
)

PRIORITY = Criterion(
    name="priority",
    key=lambda f: f.priority,
    explain=lambda lo, w: (
        f"lower priority than {w.code} ({lo.priority} vs {w.priority}; lower number wins)"
    ),
    tie=lambda f: f"the same priority ({f.priority})",
)

MOST_STOCK = Criterion(
    name="most_stock",
    key=lambda f: -f.units_available,
    explain=lambda lo, w: (
        f"less stock of the ordered items than {w.code} "
        f"({lo.units_available} vs {w.units_available} units)"
    ),
    tie=lambda f: f"the same stock of the ordered items ({f.units_available} units)",
)

CODE = Criterion(
    name="code",
    key=lambda f: f.code,
    explain=lambda _lo, w: f"{w.code} comes first by warehouse code (tie-break)",
)

WAREHOUSE_ID = Criterion(
    name="warehouse_id",
    key=lambda f: f.warehouse_id,
    explain=lambda _lo, w: f"{w.code} has the lower warehouse id (final tie-break)",
)

# WAREHOUSE_ID closes every chain so that duplicate codes still rank deterministically.
DEFAULT_CHAIN: Chain = (PRIORITY, MOST_STOCK, CODE, WAREHOUSE_ID)
SINGLE_CHAIN: Chain = (FILLS_ORDER, *DEFAULT_CHAIN)
SPLIT_CHAIN: Chain = (COVERAGE, *DEFAULT_CHAIN)


def sort_key(facts: RankFacts, chain: Chain) -> tuple[SortValue, ...]:
    """Return the composite sort key of ``facts`` under ``chain``."""
    return tuple(criterion.key(facts) for criterion in chain)


def rank(candidates: Sequence[RankFacts], chain: Chain) -> list[RankFacts]:
    """Return the candidates best first under ``chain``."""
    return sorted(candidates, key=lambda facts: sort_key(facts, chain))


def explain_loss(loser: RankFacts, winner: RankFacts, chain: Chain) -> str:
    """Say, in support-desk words, why ``loser`` ranks below ``winner`` under ``chain``."""
    ties: list[str] = []
    for criterion in chain:
        if criterion.key(loser) != criterion.key(winner):
            reason = criterion.explain(loser, winner)
            return f"{reason}, with {' and '.join(ties)}" if ties else reason
        if criterion.tie is not None:
            ties.append(criterion.tie(loser))
    return f"ranks the same as {winner.code}"


# Words for the trace: each verdict starts with "chosen", "lost" or "removed" and a colon.


def verdict_single_winner(facts: RankFacts) -> str:
    """Verdict of the warehouse chosen to ship the whole order."""
    return f"chosen: can fill the whole order and ranks first (priority {facts.priority})"


def verdict_lost(loser: RankFacts, winner: RankFacts, chain: Chain) -> str:
    """Verdict of a warehouse that ranked below the winner."""
    return f"lost: {explain_loss(loser, winner, chain)}"


def verdict_split_pick(pick: int, picks: int, covered: int, open_units: int) -> str:
    """Verdict of a warehouse chosen as one of the shipments of a split order."""
    return (
        f"chosen: pick {pick} of {picks} in the split; supplies {covered} of the {open_units} "
        f"units still needed, as many as any remaining warehouse could"
    )


def verdict_split_loser(facts: RankFacts, last_loss: str | None) -> str:
    """Verdict of a warehouse left out of a split order."""
    if last_loss is not None:
        return f"lost: {last_loss}; the chosen warehouses covered the rest"
    if facts.units_available == 0:
        return "lost: has none of the ordered items in stock"
    return "lost: cannot ship any still-open line in full, and lines may not be split"


def verdict_cannot_fill(facts: RankFacts) -> str:
    """Verdict of every enabled warehouse when the order cannot be routed."""
    return f"lost: {FILLS_ORDER.explain(facts, facts)}"


def describe(
    facts: RankFacts, *, enabled: bool, rank_no: int | None, verdict: str
) -> dict[str, Any]:
    """One JSON-serialisable trace entry for a candidate warehouse."""
    return {
        "warehouse_id": facts.warehouse_id,
        "code": facts.code,
        "priority": facts.priority,
        "eligible": enabled,
        "removed_by": None if enabled else "disabled",
        "can_fill_order": facts.fills,
        "units_available": facts.units_available,
        "units_coverable": facts.units_coverable,
        "units_needed": facts.units_needed,
        "rank": rank_no,
        "result": verdict.split(":", 1)[0],
        "verdict": verdict,
    }
