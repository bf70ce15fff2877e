"""Branch and bound for a weighted objective when every line may split.

With no block (no keep-together group, ship-alone line or unsplittable line) a plan is just
the set ``P`` of warehouses that send a shipment: each SKU is then filled from ``P``
cheapest unit first, which is optimal for that set. The search enumerates sets ``P``:

* Branching, like a set cover: take the SKU still short whose cheapest completion costs
  most; one child per warehouse holding it, in order of reduced cost, each child excluding
  the warehouses of the children before it. Once ``P`` covers the order, its supersets are
  tried only with warehouses whose saving on the fill (never more than it saves on ``P``:
  the fill's savings only shrink as warehouses are added) exceeds what their shipment costs.
* Bound: the Lagrangian relaxation of the demand rows (and of ``Σ y ≥ least``) at the
  multipliers of the program's LP relaxation (:func:`routing.optimise.solve.relax`): each
  warehouse gets a reduced cost ``g``, the bound is a constant plus ``g`` of each warehouse
  in ``P``, plus each still-free warehouse's negative ``g``, plus, for the SKU worst off, the
  least ``g`` of a free warehouse that must come in for it. Valid for any multipliers; at the
  LP's own, the root bound equals the LP's.

Why not HiGHS here: its relaxation is the same LP bound, but on these models its root cuts,
probing and sub-MIP heuristics cost 0.1-1 s before any branching, while the combinatorial
bound above costs a few additions a node (bench/optimiser_bench.py). HiGHS still solves the
models with blocks, where a plan is more than a set of warehouses.

Deterministic and pure: the effort is bounded by ``budget`` (SKU scans, a proxy for time),
not by a clock, so the same input always gives the same plan, proof and gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from omniroute.routing.optimise.problem import Problem

EPSILON = 1e-9
Taken = list[tuple[float, int]]  # (unit price, units) of one SKU
INF = float("inf")


@dataclass(frozen=True)
class Covered:
    """The best set of warehouses found (None: no plan), its cost with tie terms, a lower
    bound on every plan's, whether the search finished, and its effort."""

    picks: frozenset[int] | None
    worth: float
    bound: float
    proven: bool
    nodes: int
    work: int


class _Spent(Exception):
    """The budget ran out."""


class _Search:
    def __init__(
        self,
        problem: Problem,
        ship: Sequence[float],
        unit: Sequence[Sequence[float]],
        prices: Sequence[float],
        *,
        least: int,
        least_price: float,
        room: int | None,
        budget: int,
    ) -> None:
        q = problem.fluid_need
        self.q = q
        self.ship = ship
        self.unit = unit
        self.room = room
        self.budget = budget
        self.skus = [s for s, need in enumerate(q) if need]
        count = len(problem.rows)
        self.r = [[min(row[s], q[s]) for s in range(len(q))] for row in problem.rows]
        self.useful = [n for n in range(count) if any(self.r[n][s] for s in self.skus)]
        # Two sets of multipliers, both valid, each the better bound in places: with the
        # price of Σ y ≥ least (the LP's own, whose bound is the LP's) and without it (whose
        # reduced costs, higher, cut more of the tree).
        self.w = max(least_price, 0.0)
        self.g = [0.0] * count
        for n in self.useful:
            gain = sum(min(0.0, unit[n][s] - prices[s]) * self.r[n][s] for s in self.skus)
            self.g[n] = ship[n] + gain
        demand = sum(prices[s] * q[s] for s in self.skus)
        self.base = demand + sum(min(0.0, self.g[n]) for n in self.useful)
        self.base_w = demand + self.w * least
        self.base_w += sum(min(0.0, self.g[n] - self.w) for n in self.useful)
        g = self.g
        self.holders = {
            s: sorted((n for n in self.useful if self.r[n][s]), key=lambda n: (g[n], n))
            for s in self.skus
        }
        self.cheapest = {
            s: sorted(self.holders[s], key=lambda n: (unit[n][s], n)) for s in self.skus
        }
        self.stocked = [[s for s in self.skus if self.r[n][s]] for n in range(count)]
        # Warehouses that could not save their shipment's cost on any fill: each unit they
        # hold replacing the dearest unit of its SKU.
        dearest = {
            s: max(unit[n][s] for n in self.holders[s]) for s in self.skus if self.holders[s]
        }
        self.idle = {
            n
            for n in self.useful
            if sum(self.r[n][s] * (dearest[s] - unit[n][s]) for s in self.stocked[n])
            <= ship[n] + EPSILON
        }
        self.mask = {s: sum(1 << n for n in self.holders[s]) for s in self.skus}
        self.enough = {
            (s, t): sum(1 << n for n in self.holders[s] if self.r[n][s] >= t)
            for s in self.skus
            for t in range(1, q[s] + 1)
        }
        self.best = float("inf")
        self.picks: frozenset[int] | None = None
        self.nodes = 0
        self.work = 0
        self.open: list[float] = []  # per active node: the bound of what it has left to try
        self.spent_at: float | None = None  # where the budget ran out: the least open bound

    def cost(self, picks: int) -> float:
        """Shipments plus the fill of each SKU from ``picks``, cheapest unit first."""
        used = self.fill(picks)
        if used is None:
            return INF
        total = sum(self.ship[n] for n in self.useful if picks >> n & 1)
        return total + sum(price * got for taken in used.values() for price, got in taken)

    def floor(self, extra: tuple[float, float], worst: float = 0.0) -> float:
        """The bound of a node: ``extra`` as in :meth:`node`, ``worst`` the ``g`` of a
        warehouse that must still come in."""
        plain = self.base + extra[0] + max(0.0, worst)
        return max(plain, self.base_w + extra[1] + max(0.0, worst - self.w))

    def take(self, extra: tuple[float, float], n: int) -> tuple[float, float]:
        g = self.g[n]
        return extra[0] + max(0.0, g), extra[1] + max(0.0, g - self.w)

    def drop(self, extra: tuple[float, float], n: int) -> tuple[float, float]:
        g = self.g[n]
        return extra[0] - min(0.0, g), extra[1] - min(0.0, g - self.w)

    def spend(self) -> None:
        if self.work > self.budget:
            # Every node not yet searched lies under an active one: the least of their
            # bounds bounds them all (the root's, before it has any: ``base``).
            self.spent_at = min(self.open, default=self.floor((0.0, 0.0)))
            raise _Spent

    def offer(self, picks: int, worth: float) -> None:
        if worth < self.best - EPSILON:
            self.best = worth
            self.picks = frozenset(n for n in self.useful if picks >> n & 1)

    def run(self, starts: Sequence[int]) -> Covered:
        proven = True
        try:
            for start in starts:
                self.improve(start)
            self.node(0, 0, (0.0, 0.0), [0] * len(self.q), 0)
        except _Spent:
            proven = False
        spent = self.floor((0.0, 0.0)) if self.spent_at is None else self.spent_at
        bound = self.best if proven else min(self.best, spent)
        return Covered(self.picks, self.best, bound, proven, self.nodes, self.work)

    def improve(self, picks: int) -> None:
        """Local search from ``picks`` (when it covers the order): drop a warehouse, swap one
        for another or add one, while that lowers the cost; the result is offered."""
        top = len(self.useful) if self.room is None else self.room
        worth = self.cost(picks)
        self.work += len(self.skus)
        if worth == INF or picks.bit_count() > top:
            return
        self.offer(picks, worth)
        better = True
        while better:
            better = False
            inside = [n for n in self.useful if picks >> n & 1]
            outside = [n for n in self.useful if not picks >> n & 1]
            moves = [picks & ~(1 << n) for n in inside]
            moves += [picks & ~(1 << n) | 1 << m for n in inside for m in outside]
            moves += [picks | 1 << m for m in outside] if len(inside) < top else []
            for move in moves:
                self.work += len(self.skus)
                self.spend()
                cost = self.cost(move)
                if cost < worth - EPSILON:
                    picks, worth, better = move, cost, True
                    break
        self.offer(picks, worth)

    def node(
        self, picks: int, out: int, extra: tuple[float, float], have: list[int], count: int
    ) -> None:
        """``extra``: reduced costs of the picks not counted in ``base`` (the positive ones)
        and of the excluded warehouses counted there (the negative ones), taken back."""
        self.nodes += 1
        self.work += 1 + len(self.skus)
        self.spend()
        taken = picks | out
        shortest = self.shortest(taken, have)
        if shortest is None:
            return
        worst, short = shortest
        bound = self.floor(extra, worst)
        if bound >= self.best - EPSILON:
            return
        if short < 0:
            self.grow(picks, out, extra, have, count)
            return
        if self.room is not None and count >= self.room:
            return
        self.open.append(bound)
        try:
            for n in self.holders[short]:
                if taken >> n & 1:
                    continue
                if self.floor(extra, self.g[n]) >= self.best - EPSILON:
                    break  # and so would every later one: in order of ``g``
                row = self.r[n]
                grown = [h + row[s] for s, h in enumerate(have)]
                self.node(picks | 1 << n, out, self.take(extra, n), grown, count + 1)
                out |= 1 << n
                taken |= 1 << n
                extra = self.drop(extra, n)
                if self.floor(extra) >= self.best - EPSILON:
                    return
                self.open[-1] = self.floor(extra)
        finally:
            self.open.pop()

    def shortest(self, taken: int, have: list[int]) -> tuple[float, int] | None:
        """The SKU still short whose cheapest free warehouse has the highest ``g`` (fewest
        free warehouses on a tie) and that ``g``; (-inf, -1) when none is short; None when
        the warehouses not ``taken`` cannot complete some SKU."""
        worst, short, choices = -INF, -1, 0
        for s in self.skus:
            left = self.q[s] - have[s]
            if left <= 0:
                continue
            free = self.mask[s] & ~taken
            if not free & self.enough[s, left] and (
                sum(self.r[n][s] for n in self.holders[s] if free >> n & 1) < left
            ):
                return None
            first = next(n for n in self.holders[s] if free >> n & 1)
            need = self.g[first]
            size = free.bit_count()
            if short < 0 or need > worst or (need == worst and size < choices):
                worst, short, choices = need, s, size
        return worst, short

    def grow(
        self,
        picks: int,
        out: int,
        extra: tuple[float, float],
        have: list[int],
        count: int,
    ) -> None:
        """``picks``, which covers the order, and its supersets: only warehouses that would
        save more on the fill of ``picks`` than their shipment costs can lower the objective."""
        used = self.fill(picks)
        if used is None:
            return
        worth = sum(self.ship[n] for n in self.useful if picks >> n & 1)
        worth += sum(price * got for taken in used.values() for price, got in taken)
        self.offer(picks, worth)
        if self.room is not None and count >= self.room:
            return
        gains, out, extra = self.gains(picks, out, extra, used)
        if worth + sum(d for d, _ in gains) >= self.best - EPSILON:
            return
        gains.sort()
        self.open.append(max(self.floor(extra), worth + sum(d for d, _ in gains)))
        try:
            for k, (_, n) in enumerate(gains):
                row = self.r[n]
                grown = [h + row[s] for s, h in enumerate(have)]
                self.node(picks | 1 << n, out, self.take(extra, n), grown, count + 1)
                out |= 1 << n
                extra = self.drop(extra, n)
                rest = max(self.floor(extra), worth + sum(d for d, _ in gains[k + 1 :]))
                if rest >= self.best - EPSILON:
                    return
                self.open[-1] = rest
        finally:
            self.open.pop()

    def gains(
        self, picks: int, out: int, extra: tuple[float, float], used: dict[int, Taken]
    ) -> tuple[list[tuple[float, int]], int, tuple[float, float]]:
        """(shipment cost less fill saving, warehouse) of each free warehouse that saves more
        than it costs on the fill ``used``; the others join ``out``, with ``extra`` to match."""
        gains = []
        for n in self.useful:
            if (picks | out) >> n & 1:
                continue
            self.work += 1
            if n in self.idle or self.floor(self.take(extra, n)) >= self.best - EPSILON:
                saving = 0.0  # never worth its shipment, or no better plan holds it here
            else:
                self.work += len(self.stocked[n])
                saving = self.saving(used, n)
            if saving > self.ship[n] + EPSILON:
                gains.append((self.ship[n] - saving, n))
            else:
                out |= 1 << n
                if self.g[n] < self.w:  # else dropping it changes no bound
                    extra = self.drop(extra, n)
        return gains, out, extra

    def fill(self, picks: int) -> dict[int, Taken] | None:
        """Per SKU, the (price, units) ``picks`` ships of it, dearest first (None: ``picks``
        does not cover the order)."""
        used = {}
        r, unit = self.r, self.unit
        self.work += 4 * len(self.skus)  # a scan of each SKU's warehouses, cheapest first
        for s in self.skus:
            want, taken = self.q[s], []
            for m in self.cheapest[s]:
                if not picks >> m & 1:
                    continue
                got = r[m][s]
                if got >= want:
                    taken.append((unit[m][s], want))
                    want = 0
                    break
                taken.append((unit[m][s], got))
                want -= got
            if want:
                return None
            used[s] = taken[::-1]
        return used

    def saving(self, used: dict[int, Taken], n: int) -> float:
        """What adding warehouse ``n`` saves on the fill ``used``: its units replace the
        dearest units shipped, where dearer."""
        total = 0.0
        row, prices = self.r[n], self.unit[n]
        for s in self.stocked[n]:
            left, price = row[s], prices[s]
            for dear, got in used[s]:
                if dear <= price:
                    break
                moved = min(left, got)
                total += moved * (dear - price)
                left -= moved
                if not left:
                    break
        return total


def cover_search(
    problem: Problem,
    ship: Sequence[float],
    unit: Sequence[Sequence[float]],
    prices: Sequence[float],
    *,
    least: int = 0,
    least_price: float = 0.0,
    starts: Sequence[frozenset[int]] = (),
    budget: int,
) -> Covered:
    """The set of warehouses of least ``Σ ship + fill`` for a ``problem`` with no blocks.

    ``ship[n]``: a shipment from ``n`` (tie terms included); ``unit[n][s]``: a unit of SKU
    ``s`` from ``n``; ``prices[s]`` and ``least_price``: multipliers of the demand rows and of
    ``Σ y ≥ least`` (a proven lower bound on the shipments); ``starts``: sets of warehouses to
    start from (improved by local search first); ``budget``: the effort allowed, in SKU scans."""
    if problem.blocks:
        raise ValueError("cover_search takes orders whose every line may split")
    top = problem.limits.max_shipments
    search = _Search(
        problem,
        ship,
        unit,
        prices,
        least=least,
        least_price=least_price,
        room=top,
        budget=budget,
    )
    return search.run([sum(1 << n for n in start) for start in starts])
