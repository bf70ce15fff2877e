"""Reserving an order's stock rows all at once (three rows or more: one locking read, one
executemany) keeps the guarantees of one conditional UPDATE a row: all or nothing, no
oversell, and no deadlock between orders taking the same rows."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.bootstrap import Context
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import StockLedger, StockLevel
from omniroute.core.stock.levels import Allocation, ReservationLost, reserve
from tests.integration.builders import build_world, stock

SKUS = ("R-1", "R-2", "R-3", "R-4")


def _levels(ctx: Context) -> dict[tuple[int, str], int]:
    with unit_of_work(ctx.sessions) as s:
        rows = s.execute(select(StockLevel.warehouse_id, StockLevel.sku, StockLevel.reserved))
        return {(w, sku): r for w, sku, r in rows}


def _ledger_sum(ctx: Context) -> int:
    with unit_of_work(ctx.sessions) as s:
        return int(s.scalar(select(func.coalesce(func.sum(StockLedger.delta_reserved), 0))) or 0)


def test_many_rows_reserved_together_with_one_ledger_row_each(ctx: Context, wms: FakeWms) -> None:
    world = build_world(ctx, wms.base_url)
    east, west = world.warehouse_ids["EAST"], world.warehouse_ids["WEST"]
    for sku in SKUS:
        stock(ctx, east, sku, 10)
    stock(ctx, west, "R-1", 10)
    before = _ledger_sum(ctx)
    with unit_of_work(ctx.sessions) as s:
        reserve(
            s,
            [
                Allocation(east, "R-3", 2),
                Allocation(east, "R-1", 1),
                Allocation(west, "R-1", 4),
                Allocation(east, "R-1", 2),  # the same row twice: taken once, for 3
            ],
            reference="order:1",
        )
    levels = _levels(ctx)
    assert levels[(east, "R-1")] == 3
    assert levels[(east, "R-3")] == 2
    assert levels[(west, "R-1")] == 4
    assert levels[(east, "R-2")] == 0
    assert _ledger_sum(ctx) - before == 9


@pytest.mark.parametrize("short", ["held back", "too few", "no row"])
def test_one_short_row_reserves_nothing_and_leaves_the_transaction_usable(
    ctx: Context, wms: FakeWms, short: str
) -> None:
    world = build_world(ctx, wms.base_url)
    east, west = world.warehouse_ids["EAST"], world.warehouse_ids["WEST"]
    for sku in SKUS[:3]:
        stock(ctx, east, sku, 5)
    wanted = [Allocation(east, "R-1", 1), Allocation(east, "R-2", 1)]
    if short == "held back":  # free 5, but 5 are held back from this channel
        wanted.append(Allocation(east, "R-3", 1, held_back=5))
    elif short == "too few":
        wanted.append(Allocation(east, "R-3", 6))
    else:
        wanted.append(Allocation(west, "R-3", 1))
    before = _ledger_sum(ctx)
    with unit_of_work(ctx.sessions) as s:
        with pytest.raises(ReservationLost) as lost:
            reserve(s, wanted, reference="order:2")
        assert lost.value.sku == "R-3"
        # The same transaction goes on, as a re-plan does.
        reserve(s, [Allocation(east, "R-2", 2)], reference="order:2")
    levels = _levels(ctx)
    assert levels[(east, "R-1")] == 0
    assert levels[(east, "R-2")] == 2
    assert levels[(east, "R-3")] == 0
    assert _ledger_sum(ctx) - before == 2


def test_orders_racing_for_the_same_rows_in_any_order_never_oversell(
    ctx: Context, wms: FakeWms
) -> None:
    """Each thread reserves the four rows, listed in its own order: the rows are taken in key
    order whatever the listing, so no two transactions wait on each other in a cycle."""
    world = build_world(ctx, wms.base_url)
    east = world.warehouse_ids["EAST"]
    for sku in SKUS:
        stock(ctx, east, sku, 12)
    threads, rounds = 6, 5
    barrier = threading.Barrier(threads)
    won, errors = [0] * threads, []

    def run(n: int) -> None:
        order = list(SKUS[n % 4 :] + SKUS[: n % 4])
        if n % 2:
            order.reverse()
        barrier.wait()
        for _ in range(rounds):
            try:
                with unit_of_work(ctx.sessions) as s:
                    reserve(s, [Allocation(east, sku, 1) for sku in order], reference=f"t{n}")
                won[n] += 1
            except ReservationLost:
                pass
            except BaseException as exc:  # a deadlock would land here
                errors.append(exc)

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    levels = _levels(ctx)
    assert sum(won) == 12  # 30 tries for 12 units of each row
    assert all(levels[(east, sku)] == 12 for sku in SKUS)
