"""Minimum-split allocation: fewest shipments first, then the best-ranked warehouses.

Objective, lexicographic: (1) fewest shipments; (2) the sorted rank positions of the combined
shipments' warehouses, then the ranks of the ship-alone lines' warehouses in line order;
(3) quantities filled from the best-ranked chosen warehouse first. A ship-alone line is exactly
one shipment (never split), a keep-together group ships whole from one warehouse, so
shipments = ``|R| + ship-alone lines`` with R the combined shipments' warehouses.

Why this search (exact, no ILP):

* Feasibility is monotone in R, so iterative deepening on ``|R|`` from a lower bound (per SKU,
  the fewest warehouses whose largest stocks reach the demand) finds the minimum; warehouses
  holding none of the order's SKUs are dropped, and a scan in rank order settles ``|R| = 1``.
* Sets of one size are enumerated in lexicographic rank order, so the first feasible one is
  the best-ranked. Pruning: a SKU's open demand above ``picks_left * best stock still on
  offer`` ends the loop (that stock only falls with rank); with only splittable lines a
  warehouse adding nothing to a still-short SKU is skipped (a set holding it is not minimal);
  a whole-shipping block that fits in no reachable warehouse ends the branch.
* The last pick is one AND of cached bitmasks "warehouses with >= v units of SKU s", built in
  C with ``itertools.compress``, instead of a scan.
* Splittable lines only: a set is feasible iff each SKU's summed stock covers it. Blocks
  (keep-together groups, unsplittable and ship-alone lines) are backtracked onto warehouses in
  rank order with shared per-SKU stock, ship-alone ones first (any warehouse, line order),
  then the splittable lines get the summed check.
* Past ``node_budget`` nodes the heuristic answers; above ``exact_max_lines`` /
  ``exact_max_warehouses`` (warehouses holding any ordered SKU) only ``|R| = 1`` is exact.

The heuristic is greedy set cover (most open units, ties by rank: the ln(n)-approximation, and
``routing.plan``'s picks when the rank order is its tie-break chain); then each pick, worst-ranked
first, is dropped if the rest stays feasible, so it never uses more shipments than that greedy.
"""

from bisect import bisect_left
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate, compress, product, repeat
from operator import ge

from omniroute.routing.allocate import LineAllocation, LineDemand

Shipments = tuple[tuple[int, tuple[LineAllocation, ...]], ...]
Placement = dict[int, int]  # block index -> warehouse index
Found = tuple[list[int], Placement]  # warehouses of the combined shipments (rank order), blocks


@dataclass(frozen=True)
class SearchLimits:
    """Split policy of one decision, and how much effort the exact search may spend."""

    max_shipments: int | None = None
    allow_line_split: bool = True
    ship_alone_skus: frozenset[str] = frozenset()
    keep_together: tuple[frozenset[str], ...] = ()
    node_budget: int = 20_000
    exact_max_lines: int = 12
    exact_max_warehouses: int = 50


@dataclass(frozen=True)
class SearchResult:
    """Shipments as (warehouse_id, allocations); each ship-alone line is an entry of its own."""

    shipments: Shipments
    proven_minimal: bool  # the exact search finished: the plan is minimal, or none exists
    method: str  # "exact" | "heuristic" | "exact-budget-exhausted"
    nodes: int
    feasible: bool


@dataclass(frozen=True)
class _Block:
    """Order lines (positions) that ship whole from one warehouse."""

    lines: tuple[int, ...]
    demand: tuple[tuple[int, int], ...]  # (sku index, units)
    units: int
    alone: bool  # only ship-alone lines: any warehouse, never in a combined shipment
    fits: int  # bit i: warehouse i on its own holds the whole block


class _BudgetSpent(Exception):
    """The node budget is used up."""


def min_split(
    lines: Sequence[LineDemand],
    ranked_warehouses: Sequence[int],
    stock: Mapping[tuple[int, str], int],
    limits: SearchLimits,
) -> SearchResult:
    """Allocate ``lines`` over ``ranked_warehouses`` (best first) in the fewest shipments."""
    _check(lines, ranked_warehouses)
    if not lines:
        return SearchResult((), True, "exact", 0, True)
    need = _need(lines)
    # Without ship-alone lines the best-ranked warehouse holding everything is optimal, so
    # stock is read in growing chunks of warehouses (C-level passes) until one does.
    single = _single_allowed(lines, limits)
    skus, units, ranked = list(need), list(need.values()), list(ranked_warehouses)
    rows: list[tuple[int, ...]] = []
    at, chunk = 0, 8
    while at < len(ranked):
        got = list(map(stock.get, product(ranked[at : at + chunk], skus), repeat(0)))
        if min(got) < 0:
            got = [max(0, v) for v in got]
        rows += zip(*[iter(got)] * len(skus), strict=True)
        n = _first_whole(rows, units, at) if single else -1
        if n >= 0:
            return _whole(lines, ranked[n])
        at, chunk = at + chunk, chunk * 2
    return _Search(tuple(lines), ranked, rows, limits, no_single=single).solve()


def min_split_rows(
    lines: Sequence[LineDemand],
    ranked_warehouses: Sequence[int],
    rows: Sequence[tuple[int, ...]],
    limits: SearchLimits,
) -> SearchResult:
    """:func:`min_split` with the stock already read: ``rows[n]`` holds the units (none
    negative) at ``ranked_warehouses[n]`` of each distinct SKU of ``lines``, in the order the
    SKUs first appear in ``lines``."""
    _check(lines, ranked_warehouses)
    if not lines:
        return SearchResult((), True, "exact", 0, True)
    single = _single_allowed(lines, limits)
    n = _first_whole(rows, list(_need(lines).values()), 0) if single else -1
    if n >= 0:
        return _whole(lines, ranked_warehouses[n])
    return _Search(
        tuple(lines), list(ranked_warehouses), list(rows), limits, no_single=single
    ).solve()


def _check(lines: Sequence[LineDemand], ranked_warehouses: Sequence[int]) -> None:
    if any(line.quantity <= 0 for line in lines):
        raise ValueError("every line quantity must be positive")
    if len({line.line_id for line in lines}) != len(lines):
        raise ValueError("duplicate line_id")
    if len(set(ranked_warehouses)) != len(ranked_warehouses):
        raise ValueError("duplicate warehouse id")


def _need(lines: Sequence[LineDemand]) -> dict[str, int]:
    need: dict[str, int] = {}
    for line in lines:
        need[line.sku] = need.get(line.sku, 0) + line.quantity
    return need


def _single_allowed(lines: Sequence[LineDemand], limits: SearchLimits) -> bool:
    """Whether one warehouse holding everything settles it: no ship-alone line, one allowed."""
    single = not any(line.sku in limits.ship_alone_skus for line in lines)
    return single and (limits.max_shipments is None or limits.max_shipments >= 1)


def _first_whole(rows: Sequence[tuple[int, ...]], units: list[int], start: int) -> int:
    """The first of ``rows`` from ``start`` holding every SKU's demand; -1 when none does."""
    if len(units) == 1:
        first = units[0]
        return next((n for n in range(start, len(rows)) if rows[n][0] >= first), -1)
    # Most rows lack one of the first two SKUs: checked inline before the full comparison.
    first, second = units[0], units[1]
    for n in range(start, len(rows)):
        row = rows[n]
        if row[0] >= first and row[1] >= second and all(map(ge, row, units)):
            return n
    return -1


def _whole(lines: Sequence[LineDemand], warehouse_id: int) -> SearchResult:
    every = tuple(LineAllocation(ln.line_id, ln.sku, ln.quantity) for ln in lines)
    return SearchResult(((warehouse_id, every),), True, "exact", 1, True)


def _bits(mask: int) -> Iterator[int]:
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def bound_together(
    lines: tuple[LineDemand, ...], groups: tuple[frozenset[str], ...]
) -> list[list[int]]:
    """Line positions bound together by (possibly overlapping) keep-together groups."""
    parts: list[set[int]] = []
    for group in groups:
        part = {n for n, line in enumerate(lines) if line.sku in group}
        for other in [p for p in parts if p & part]:
            parts.remove(other)
            part |= other
        parts += [part] if part else []
    return [sorted(part) for part in parts]


class _Search:
    """One min_split call: the order and stock as index arrays, plus the search state."""

    def __init__(
        self,
        lines: tuple[LineDemand, ...],
        ranked: Sequence[int],
        rows: list[tuple[int, ...]],
        limits: SearchLimits,
        *,
        no_single: bool,  # the caller saw no warehouse holding the whole order
    ) -> None:
        self.lines, self.limits, self.nodes, self.limit = lines, limits, 0, limits.node_budget
        self.no_single = no_single
        index: dict[str, int] = {}
        self.sku = [index.setdefault(line.sku, len(index)) for line in lines]
        self.m = len(index)
        useful = list(map(any, rows))
        self.ids = list(compress(ranked, useful))
        self.caps = list(compress(rows, useful))
        self.cols = list(zip(*self.caps, strict=True)) or [()] * self.m
        self.n = len(self.ids)
        self.bit = list(map((1).__lshift__, range(self.n)))
        self.masks: dict[tuple[int, int], int] = {}
        self.sufmax: list[list[int]] = []
        self.alone = [line.sku in limits.ship_alone_skus for line in lines]
        self.alone_count = sum(self.alone)
        self._make_blocks()
        self._make_needs()

    def _make_blocks(self) -> None:
        parts = bound_together(self.lines, self.limits.keep_together)
        grouped = {n for part in parts for n in part}
        free = [n for n in range(len(self.lines)) if n not in grouped]
        split = self.limits.allow_line_split
        parts += [[n] for n in free if self.alone[n] or not split]
        self.fluid = [n for n in free if split and not self.alone[n]]
        self.blocks: list[_Block] = []
        for part in sorted(parts):
            units = [0] * self.m
            for n in part:
                units[self.sku[n]] += self.lines[n].quantity
            demand = tuple((s, q) for s, q in enumerate(units) if q)
            fits = self._fitting(demand)
            alone = all(self.alone[n] for n in part)
            self.blocks.append(_Block(tuple(part), demand, sum(units), alone, fits))
        self.fixed: Placement = {}  # ship-alone blocks sharing no SKU: best-ranked fit
        self.order: list[int] = []  # blocks to backtrack: the other ship-alone ones first
        for b, block in enumerate(self.blocks):
            if block.alone and all(
                self.sku.count(s) == sum(self.sku[n] == s for n in block.lines)
                for s, _ in block.demand
            ):
                self.fixed[b] = (block.fits & -block.fits).bit_length() - 1
            elif block.alone:
                self.order.append(b)
        regular = sorted(
            (b for b, k in enumerate(self.blocks) if not k.alone),
            key=lambda b: (-self.blocks[b].units, b),
        )
        self.order += regular
        self.regular = [self.blocks[b] for b in regular]

    def _make_needs(self) -> None:
        """Demand per SKU of the combined shipments (``need``) and of the splittable lines."""
        need, fluid = [0] * self.m, [0] * self.m
        for n in self.fluid:
            fluid[self.sku[n]] += self.lines[n].quantity
        for block in self.regular:
            for s, q in block.demand:
                need[s] += q
        self.need = tuple(q + f for q, f in zip(need, fluid, strict=True))
        self.needed = [(s, q) for s, q in enumerate(self.need) if q]
        self.fluid_need = [(s, q) for s, q in enumerate(fluid) if q]
        total = [0] * self.m
        for n, line in enumerate(self.lines):
            total[self.sku[n]] += line.quantity
        self.reg_mask = (1 << self.n) - 1  # every warehouse left holds some SKU of the order
        if not all(self.need):
            self.reg_mask = 0
            for s in (s for s, q in enumerate(self.need) if q):
                self.reg_mask |= self._at_least(s, 1)
        self.hit_all = self.reg_mask
        for block in self.regular:
            self.hit_all &= block.fits
        top = self.limits.max_shipments
        self.impossible = (
            any(sum(col) < t for col, t in zip(self.cols, total, strict=True))
            or any(not block.fits for block in self.blocks)
            or (top is not None and top < self.alone_count + (1 if any(self.need) else 0))
        )

    def _at_least(self, s: int, units: int) -> int:
        """Bitmask of the warehouses holding at least ``units`` of SKU ``s`` (cached)."""
        mask = self.masks.get((s, units))
        if mask is None:
            enough = map(ge, self.cols[s], repeat(units))
            mask = self.masks[s, units] = sum(compress(self.bit, enough))
        return mask

    def _fitting(self, demand: tuple[tuple[int, int], ...]) -> int:
        mask = (1 << self.n) - 1
        for s, q in demand:
            mask &= self._at_least(s, q)
        return mask

    def solve(self) -> SearchResult:
        if self.impossible:
            return self._result(None, "exact", proven=True)
        small = len(self.lines) <= self.limits.exact_max_lines
        small = small and self.n <= self.limits.exact_max_warehouses
        method = "heuristic"
        try:
            if small:
                return self._exact()
            found = None if self.no_single else self._level_one()
            if found is not None:
                return self._result(found, "exact", proven=True)
        except _BudgetSpent:
            method = "exact-budget-exhausted" if small else "heuristic"
        return self._heuristic(method)

    def _tick(self) -> None:
        self.nodes += 1
        if self.nodes > self.limit:
            raise _BudgetSpent

    def _result(self, found: Found | None, method: str, *, proven: bool) -> SearchResult:
        if found is None:
            return SearchResult((), proven, method, self.nodes, False)
        return SearchResult(self._assemble(*found), proven, method, self.nodes, True)

    def _exact(self) -> SearchResult:
        found = None if self.no_single else self._level_one()
        top = self.reg_mask.bit_count()
        if self.limits.max_shipments is not None:
            top = min(top, self.limits.max_shipments - self.alone_count)
        everything = [] if found or not self.order else list(_bits(self.reg_mask))
        if found is None and top >= 2 and self._check(everything, summed=True) is not None:
            for size in range(self._lower_bound(), top + 1):
                if size >= 3 and not self.sufmax:
                    self.sufmax = [[*accumulate(col[::-1], max)][::-1] for col in self.cols]
                found = self._dfs(0, size, self.need, 0, [])
                if found is not None:
                    break
        return self._result(found, "exact", proven=True)

    def _level_one(self) -> Found | None:
        """The best-ranked single combined shipment (or none, when every line ships alone)."""
        if not any(self.need):
            placement = self._check([])
            return None if placement is None else ([], placement)
        for i in _bits(self.hit_all & self._fitting(tuple(enumerate(self.need)))):
            self._tick()
            placement = self._check([i], summed=True)
            if placement is not None:
                return [i], placement
        return None

    def _lower_bound(self) -> int:
        """Per SKU, the fewest warehouses whose largest stocks add up to the demand."""
        bound = 2
        for col, q in zip(self.cols, self.need, strict=True):
            if q > 2 * max(col, default=0):
                bound = max(bound, bisect_left([*accumulate(sorted(col, reverse=True))], q) + 1)
        return bound

    def _dfs(
        self, start: int, left: int, short: tuple[int, ...], taken: int, picks: list[int]
    ) -> Found | None:
        self._tick()
        if left == 1:
            return self._last(start, short, taken, picks)
        reachable = taken | (self.reg_mask >> start << start)
        if any(not block.fits & reachable for block in self.regular):
            return None
        for i in range(start, self.n - left + 1):
            if self.sufmax and any(
                q > left * top[i] for q, top in zip(short, self.sufmax, strict=True)
            ):
                break  # the best stock still on offer only falls with rank
            row = self.caps[i]
            if not self.bit[i] & self.reg_mask or not (
                self.order or any(c and q > 0 for c, q in zip(row, short, strict=True))
            ):
                continue
            picks.append(i)
            rest = tuple(q - c for q, c in zip(short, row, strict=True))
            found = self._dfs(i + 1, left - 1, rest, taken | self.bit[i], picks)
            if found is not None:
                return found
            picks.pop()
        return None

    def _last(
        self, start: int, short: tuple[int, ...], taken: int, picks: list[int]
    ) -> Found | None:
        candidates = self.reg_mask >> start << start
        for s, q in enumerate(short):
            if q > 0:
                candidates &= self._at_least(s, q)
        for block in self.regular:
            if not block.fits & taken:
                candidates &= block.fits
        for i in _bits(candidates):
            self._tick()
            placement = self._check([*picks, i], summed=True)
            if placement is not None:
                return [*picks, i], placement
        return None

    def _check(self, picks: list[int], *, summed: bool = False) -> Placement | None:
        """Place the blocks, combined shipments from ``picks`` only; None when impossible.

        ``summed``: the caller knows each SKU's stock summed over ``picks`` covers ``need``.
        """
        placement = dict(self.fixed)
        if summed and not self.order:
            return placement
        if not summed and any(sum(self.cols[s][i] for i in picks) < q for s, q in self.needed):
            return None
        if self._place(0, sum(self.bit[i] for i in picks), picks, {}, placement):
            return placement
        return None

    def _place(
        self, k: int, mask: int, picks: list[int], left: dict[int, list[int]], placement: Placement
    ) -> bool:
        if k == len(self.order):
            return all(
                sum(left[i][s] if i in left else self.caps[i][s] for i in picks) >= q
                for s, q in self.fluid_need
            )
        b = self.order[k]
        block = self.blocks[b]
        for i in _bits(block.fits if block.alone else block.fits & mask):
            self._tick()
            row = left.get(i)
            if row is None:
                row = left[i] = list(self.caps[i])
            if _fits(row, block):
                _take(row, block, -1)
                placement[b] = i
                if self._place(k + 1, mask, picks, left, placement):
                    return True
                _take(row, block, 1)
        placement.pop(b, None)
        return False

    def _heuristic(self, method: str) -> SearchResult:
        self.limit = self.nodes + self.limits.node_budget
        found = self._greedy()
        if found is not None:
            found = self._drop_redundant(*found)
            top = self.limits.max_shipments
            if top is not None and len(found[0]) + self.alone_count > top:
                found = None
        return self._result(found, method, proven=False)

    def _greedy(self) -> Found | None:
        """Ship-alone blocks first (best rank that fits), then greedy set cover by coverage."""
        left = [list(row) for row in self.caps]
        placement = dict(self.fixed)
        for b in [b for b in self.order if self.blocks[b].alone]:
            spot = next(
                (i for i in _bits(self.blocks[b].fits) if _fits(left[i], self.blocks[b])), -1
            )
            if spot < 0:
                return None
            _take(left[spot], self.blocks[b], -1)
            placement[b] = spot
        open_blocks = [b for b in self.order if not self.blocks[b].alone]
        remaining = {n: self.lines[n].quantity for n in self.fluid}
        picks: list[int] = []
        while open_blocks or any(remaining.values()):
            cover = self._cover(left, open_blocks, remaining)
            for i in picks:
                cover[i] = 0
            if max(cover) == 0:
                return None
            best = cover.index(max(cover))  # ties go to the best-ranked
            _, blocks, taken = self._offer(left[best], open_blocks, remaining)
            for b in blocks:
                placement[b] = best
                open_blocks.remove(b)
            for n, q in taken.items():
                remaining[n] -= q
            picks.append(best)
        return sorted(picks), placement

    def _cover(
        self, left: list[list[int]], open_blocks: list[int], remaining: dict[int, int]
    ) -> list[int]:
        """Units each warehouse would ship now (lines sharing a SKU share its stock)."""
        if open_blocks:
            return [self._offer(row, open_blocks, remaining)[0] for row in left]
        open_need = [0] * self.m
        for n, want in remaining.items():
            open_need[self.sku[n]] += want
        return [sum(map(min, row, open_need)) for row in left]

    def _offer(
        self, row: list[int], open_blocks: list[int], remaining: dict[int, int]
    ) -> tuple[int, list[int], dict[int, int]]:
        """What one warehouse would ship now: whole blocks (largest first), then line units."""
        left, blocks, taken = list(row), [], {}
        for b in open_blocks:
            if _fits(left, self.blocks[b]):
                _take(left, self.blocks[b], -1)
                blocks.append(b)
        for n, want in remaining.items():
            taken[n] = min(want, left[self.sku[n]])
            left[self.sku[n]] -= taken[n]
        units = sum(taken.values()) + sum(self.blocks[b].units for b in blocks)
        return units, blocks, {n: q for n, q in taken.items() if q}

    def _drop_redundant(self, picks: list[int], placement: Placement) -> Found:
        try:
            for i in reversed(picks[:]):
                trial = [p for p in picks if p != i]
                found = self._check(trial) if trial or not any(self.need) else None
                if found is not None:
                    picks, placement = trial, found
        except _BudgetSpent:
            pass
        return picks, placement

    def _assemble(self, picks: list[int], placement: Placement) -> Shipments:
        left = {i: list(self.caps[i]) for i in {*picks, *placement.values()}}
        combined: dict[int, dict[int, int]] = {i: {} for i in picks}
        entries: list[tuple[int, int, int, list[tuple[int, int]]]] = []
        for b, i in placement.items():
            _take(left[i], self.blocks[b], -1)
            for n in self.blocks[b].lines:
                if self.alone[n]:
                    entries.append((i, 1, n, [(n, self.lines[n].quantity)]))
                else:
                    combined[i][n] = self.lines[n].quantity
        for n in self.fluid:
            want, s = self.lines[n].quantity, self.sku[n]
            for i in picks:
                got = min(want, left[i][s])
                if got > 0:
                    left[i][s] -= got
                    combined[i][n] = got
                    want -= got
        entries += [(i, 0, min(got), sorted(got.items())) for i, got in combined.items() if got]
        entries.sort(key=lambda e: e[:3])
        line = self.lines
        return tuple(
            (self.ids[i], tuple(LineAllocation(line[n].line_id, line[n].sku, q) for n, q in got))
            for i, _, _, got in entries
        )


def _fits(row: list[int], block: _Block) -> bool:
    return all(row[s] >= q for s, q in block.demand)


def _take(row: list[int], block: _Block, sign: int) -> None:
    for s, q in block.demand:
        row[s] += sign * q
