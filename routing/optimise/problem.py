"""One order's allocation as the optimiser sees it: blocks that ship whole, splittable lines.

The same hard constraints as :mod:`routing.search`: a keep-together group (groups sharing a
SKU merge), a line that may not be split and a ship-alone line each ship whole from one
warehouse; every ship-alone line is a shipment of its own, even beside a combined shipment
from the same warehouse; the other lines of a warehouse ship together as one (combined)
shipment; lines of one SKU share its stock; ``max_shipments`` bounds the count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from omniroute.routing.allocate import LineAllocation, LineDemand
from omniroute.routing.search import SearchLimits, Shipments, bound_together


@dataclass(frozen=True)
class Block:
    """Order lines (positions) that ship whole from one warehouse."""

    lines: tuple[int, ...]
    demand: tuple[tuple[int, int], ...]  # (SKU position, units)
    alone: tuple[int, ...]  # its ship-alone lines: each a shipment of its own
    combined: bool  # some line of it goes in the warehouse's combined shipment


@dataclass(frozen=True)
class Plan:
    """Warehouse positions of the combined shipments, and each block's warehouse position."""

    picks: frozenset[int]
    placement: tuple[int, ...]


class Problem:
    """The order, the stock rows (warehouse positions in rank order) and the split policy."""

    def __init__(
        self,
        lines: Sequence[LineDemand],
        ranked: Sequence[int],
        rows: Sequence[tuple[int, ...]],
        limits: SearchLimits,
    ) -> None:
        self.lines = tuple(lines)
        self.ids = tuple(ranked)
        self.rows = [tuple(max(0, v) for v in row) for row in rows]
        self.limits = limits
        index: dict[str, int] = {}
        self.sku = [index.setdefault(line.sku, len(index)) for line in self.lines]
        self.skus = tuple(index)
        self.is_alone = [line.sku in limits.ship_alone_skus for line in self.lines]
        self.blocks = self._blocks()
        grouped = {n for block in self.blocks for n in block.lines}
        self.fluid = [n for n in range(len(self.lines)) if n not in grouped]
        need = [0] * len(self.skus)
        for n in self.fluid:
            need[self.sku[n]] += self.lines[n].quantity
        self.fluid_need = tuple(need)
        self.alone_total = sum(self.is_alone)
        self.combined = bool(self.fluid) or any(block.combined for block in self.blocks)

    def _blocks(self) -> tuple[Block, ...]:
        parts = bound_together(self.lines, self.limits.keep_together)
        grouped = {n for part in parts for n in part}
        split = self.limits.allow_line_split
        parts += [
            [n]
            for n in range(len(self.lines))
            if n not in grouped and (self.is_alone[n] or not split)
        ]
        blocks = []
        for part in sorted(parts):
            units = [0] * len(self.skus)
            for n in part:
                units[self.sku[n]] += self.lines[n].quantity
            alone = tuple(n for n in part if self.is_alone[n])
            demand = tuple((s, q) for s, q in enumerate(units) if q)
            blocks.append(Block(tuple(part), demand, alone, len(alone) < len(part)))
        return tuple(blocks)

    def fewest_combined(self) -> int:
        """A lower bound on the combined shipments of any plan: per SKU, the fewest warehouses
        whose largest stocks reach what the combined shipments need of it; at least 2 when no
        warehouse holds all of that (stock that ship-alone lines also draw on is not taken
        off, so the bound stays valid)."""
        if not self.combined:
            return 0
        need = list(self.fluid_need)
        for block in self.blocks:
            for line in block.lines if block.combined else ():
                if not self.is_alone[line]:
                    need[self.sku[line]] += self.lines[line].quantity
        bound = 1 if any(all(map(int.__ge__, row, need)) for row in self.rows) else 2
        for s, q in enumerate(need):
            stocks = sorted((row[s] for row in self.rows), reverse=True)
            held, count = 0, 0
            while held < q and count < len(stocks):
                held, count = held + stocks[count], count + 1
            bound = max(bound, count)
        return bound

    def fits(self, block: Block, n: int) -> bool:
        """Whether warehouse ``n`` on its own holds all of ``block``."""
        row = self.rows[n]
        return all(row[s] >= q for s, q in block.demand)

    def plan_of(self, shipments: Shipments) -> Plan:
        """The plan behind shipments in :mod:`routing.search`'s form."""
        where = {wid: n for n, wid in enumerate(self.ids)}
        line_at = {line.line_id: n for n, line in enumerate(self.lines)}
        picks: set[int] = set()
        home: dict[int, int] = {}
        for wid, allocations in shipments:
            for a in allocations:
                n = line_at[a.line_id]
                home[n] = where[wid]
                if not self.is_alone[n]:
                    picks.add(where[wid])
        return Plan(frozenset(picks), tuple(home[block.lines[0]] for block in self.blocks))

    def feasible(self, plan: Plan) -> bool:
        """Whether ``plan`` keeps every hard constraint (fluid lines filled by any order)."""
        left = [list(row) for row in self.rows]
        for block, n in zip(self.blocks, plan.placement, strict=True):
            if block.combined and n not in plan.picks:
                return False
            for s, q in block.demand:
                left[n][s] -= q
                if left[n][s] < 0:
                    return False
        top = self.limits.max_shipments
        if top is not None and len(plan.picks) + self.alone_total > top:
            return False
        return all(
            sum(left[n][s] for n in plan.picks) >= q for s, q in enumerate(self.fluid_need) if q
        )

    def assemble(self, plan: Plan, unit_cost: Sequence[Sequence[float]]) -> Shipments:
        """The shipments of a feasible ``plan``: each SKU of the splittable lines taken from
        the chosen warehouses cheapest per unit first (``unit_cost[n][s]``), then by rank;
        for one SKU that fill is optimal. Entries in rank order, the combined shipment of a
        warehouse before its ship-alone ones, like :mod:`routing.search`."""
        left = [list(row) for row in self.rows]
        combined: dict[int, dict[int, int]] = {n: {} for n in sorted(plan.picks)}
        entries: list[tuple[int, int, int, list[tuple[int, int]]]] = []
        for block, n in zip(self.blocks, plan.placement, strict=True):
            for s, q in block.demand:
                left[n][s] -= q
            for line in block.lines:
                if self.is_alone[line]:
                    entries.append((n, 1, line, [(line, self.lines[line].quantity)]))
                else:
                    combined[n][line] = self.lines[line].quantity
        order = {
            s: _cheapest_first(plan.picks, [costs[s] for costs in unit_cost])
            for s, q in enumerate(self.fluid_need)
            if q
        }
        for line in self.fluid:
            want, s = self.lines[line].quantity, self.sku[line]
            for n in order[s]:
                got = min(want, left[n][s])
                if got > 0:
                    left[n][s] -= got
                    combined[n][line] = got
                    want -= got
            if want:
                raise ValueError("the plan does not cover the splittable lines")
        entries += [(n, 0, min(got), sorted(got.items())) for n, got in combined.items() if got]
        entries.sort(key=lambda e: e[:3])
        ln = self.lines
        return tuple(
            (self.ids[n], tuple(LineAllocation(ln[k].line_id, ln[k].sku, q) for k, q in got))
            for n, _, _, got in entries
        )


def _cheapest_first(picks: frozenset[int], cost: Sequence[float]) -> list[int]:
    return sorted(picks, key=lambda n: (cost[n], n))
