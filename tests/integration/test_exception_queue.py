"""One exception per subject and reason: a failed retry reopens it, the same bad payload
under another webhook id counts again on it, a resolved one stays closed; on SQLite and
PostgreSQL."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.bootstrap import Context, bootstrap
from omniroute.core.exceptions import queue as exception_queue
from omniroute.core.exceptions.opening import Reason, open_exception
from omniroute.core.orders import cancellation
from omniroute.core.orders.views import order_detail
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import InboundMessage, OrderException, SalesOrder
from omniroute.core.stock import inventory
from omniroute.worker.handlers import drain
from tests.conftest import make_settings
from tests.integration.builders import build_world, order_body, post, stock

BAD_BODY = b'{"id": 5, "line_items": "not a list"}'


@pytest.fixture
def make_ctx(db_url: str) -> Iterator[Any]:
    made: list[Context] = []

    def make(**settings: object) -> Context:
        made.append(bootstrap(make_settings(db_url, **settings)))
        return made[-1]

    yield make
    for c in made:
        c.close()


def all_exceptions(ctx: Context) -> list[OrderException]:
    with unit_of_work(ctx.sessions) as s:
        return list(s.scalars(select(OrderException).order_by(OrderException.id)))


def order_ids(ctx: Context) -> list[int]:
    with unit_of_work(ctx.sessions) as s:
        return list(s.scalars(select(SalesOrder.id).order_by(SalesOrder.id)))


def test_a_no_stock_retry_that_fails_again_reopens_the_same_exception(
    ctx: Context, wms: FakeWms
) -> None:
    world = build_world(ctx, wms.base_url)
    stock(ctx, world.warehouse_ids["EAST"], "GONE", 0)
    post(ctx, world, order_body(301, [("GONE", 1)]))
    drain(ctx)
    (exc,) = exception_queue.list_exceptions(ctx)
    assert (exc.reason, exc.occurrences, exc.retries) == ("no_stock", 1, 0)
    assert exc.first_seen_at == exc.last_seen_at

    exception_queue.retry_exception(ctx, exc.id, actor="ops")
    drain(ctx)  # routed again: still no stock

    (again,) = all_exceptions(ctx)
    assert again.id == exc.id
    assert (again.status, again.occurrences, again.retries) == ("open", 2, 1)
    assert again.resolved_at is None
    assert again.last_retried_at is not None
    assert again.first_seen_at == exc.first_seen_at
    assert again.last_seen_at >= again.last_retried_at >= exc.last_seen_at
    (shown,) = order_detail(ctx, again.order_id)["exceptions"]  # as the order's page shows it
    assert (shown["id"], shown["status"], shown["occurrences"], shown["retries"]) == (
        exc.id,
        "open",
        2,
        1,
    )


def test_fifty_failed_retries_leave_fifty_rows(ctx: Context, wms: FakeWms) -> None:
    world = build_world(ctx, wms.base_url)
    stock(ctx, world.warehouse_ids["EAST"], "SCARCE", 0)
    for n in range(50):
        post(ctx, world, order_body(4000 + n, [("SCARCE", 1)]))
    drain(ctx)
    parked = exception_queue.list_exceptions(ctx, limit=1000)
    assert len(parked) == 50

    inventory.adjust_stock(
        ctx, world.warehouse_ids["EAST"], "SCARCE", delta=5, actor="t", reason="receipt"
    )
    for exc in parked:
        exception_queue.retry_exception(ctx, exc.id, actor="ops")
    drain(ctx)

    rows = all_exceptions(ctx)
    assert len(rows) == 50  # not 95: the 45 that failed again reopened their own row
    # The 5 routed now are resolved: their retry got past what failed.
    assert sorted(r.status for r in rows) == ["open"] * 45 + ["resolved"] * 5
    assert {r.occurrences for r in rows if r.status == "open"} == {2}
    assert {r.occurrences for r in rows if r.status == "resolved"} == {1}
    assert {r.retries for r in rows} == {1}
    assert len({r.order_id for r in rows}) == 50


def test_a_redriven_dead_letter_that_fails_again_reopens_its_exception(
    make_ctx: Any, wms: FakeWms
) -> None:
    ctx = make_ctx(reroute_on_rejection=False)
    world = build_world(ctx, wms.base_url)
    stock(ctx, world.warehouse_ids["EAST"], "BAD", 5)
    wms.reject_skus({"BAD"})
    post(ctx, world, order_body(302, [("BAD", 1)]))
    drain(ctx)
    (exc,) = exception_queue.list_exceptions(ctx)
    assert exc.reason == "wms_rejected" and exc.outbox_message_id is not None

    exception_queue.retry_exception(ctx, exc.id, actor="ops")  # redrive: refused again
    drain(ctx)
    (again,) = all_exceptions(ctx)
    assert (again.id, again.status, again.occurrences, again.retries) == (exc.id, "open", 2, 1)
    assert again.outbox_message_id == exc.outbox_message_id

    wms.reject_skus(set())
    exception_queue.retry_exception(ctx, exc.id, actor="ops")  # fixed at the WMS
    drain(ctx)
    (done,) = all_exceptions(ctx)
    assert (done.status, done.occurrences, done.retries) == ("retried", 2, 2)
    assert wms.accepted_count == 1


def test_the_same_bad_body_under_two_webhook_ids_is_one_exception(
    ctx: Context, wms: FakeWms
) -> None:
    world = build_world(ctx, wms.base_url)
    first = post(ctx, world, BAD_BODY, webhook_id="hook-1")
    second = post(ctx, world, BAD_BODY, webhook_id="hook-2")
    assert first.inbound_id != second.inbound_id
    drain(ctx)

    (exc,) = all_exceptions(ctx)
    assert (exc.reason, exc.status, exc.occurrences) == ("invalid_payload", "open", 2)
    assert exc.detail["inbound_message_ids"] == [first.inbound_id, second.inbound_id]
    assert exc.inbound_message_id in (first.inbound_id, second.inbound_id)
    with unit_of_work(ctx.sessions) as s:
        statuses = s.scalars(select(InboundMessage.status).order_by(InboundMessage.id)).all()
    assert statuses == ["failed", "failed"]  # both kept, neither lost

    # Another bad body is another exception.
    post(ctx, world, b'{"id": 6, "line_items": "not a list"}', webhook_id="hook-3")
    drain(ctx)
    assert [e.occurrences for e in all_exceptions(ctx)] == [2, 1]


def test_two_workers_with_the_same_bad_body_open_one_exception(ctx: Context, wms: FakeWms) -> None:
    world = build_world(ctx, wms.base_url)
    rows = [post(ctx, world, BAD_BODY, webhook_id=f"hook-{n}").inbound_id for n in (1, 2)]
    ctx.dispatcher.drain()  # type: ignore[attr-defined]  # the tests play the workers
    opened, finish = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def worker(inbound_id: int | None, first: bool) -> None:
        try:
            with unit_of_work(ctx.sessions) as s:
                open_exception(s, Reason.INVALID_PAYLOAD, detail={}, inbound_message_id=inbound_id)
                if first:
                    opened.set()
                    finish.wait(10)  # the second looks while this one is not committed
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    a = threading.Thread(target=worker, args=(rows[0], True))
    b = threading.Thread(target=worker, args=(rows[1], False))
    a.start()
    assert opened.wait(10)
    b.start()
    b.join(0.5)
    finish.set()
    a.join(10)
    b.join(10)
    assert not errors
    (exc,) = all_exceptions(ctx)
    assert exc.occurrences == 2 and exc.detail["inbound_message_ids"] == rows


def test_a_replayed_bad_payload_that_fails_again_reopens_its_exception(
    ctx: Context, wms: FakeWms
) -> None:
    world = build_world(ctx, wms.base_url)
    post(ctx, world, BAD_BODY, webhook_id="hook-1")
    drain(ctx)
    (exc,) = exception_queue.list_exceptions(ctx)
    exception_queue.retry_exception(ctx, exc.id, actor="ops")
    drain(ctx)
    (again,) = all_exceptions(ctx)
    assert (again.id, again.status, again.occurrences, again.retries) == (exc.id, "open", 2, 1)
    assert again.detail.get("inbound_message_ids", [exc.inbound_message_id]) == [
        exc.inbound_message_id
    ]


def test_a_channel_update_still_failing_the_checks_is_the_same_exception(
    ctx: Context, wms: FakeWms
) -> None:
    world = build_world(ctx, wms.base_url)
    first = post(ctx, world, order_body(303, [("NOT-A-SKU", 1)]))
    drain(ctx)
    (exc,) = exception_queue.list_exceptions(ctx)
    assert exc.reason == "unknown_sku" and exc.inbound_message_id == first.inbound_id

    update = json.loads(order_body(303, [("NOT-A-SKU", 2)]))
    update["updated_at"] = "2099-01-01T00:00:00-05:00"
    second = post(ctx, world, json.dumps(update).encode())
    drain(ctx)

    (again,) = all_exceptions(ctx)
    assert (again.id, again.status, again.occurrences) == (exc.id, "open", 2)
    assert again.inbound_message_id == second.inbound_id  # a retry replays the latest version
    assert again.detail["problems"][0]["reason"] == "unknown_sku"


def test_a_problem_back_after_it_was_resolved_is_a_new_exception(
    ctx: Context, wms: FakeWms
) -> None:
    world = build_world(ctx, wms.base_url)
    stock(ctx, world.warehouse_ids["EAST"], "GONE", 0)
    post(ctx, world, order_body(304, [("GONE", 1)]))
    drain(ctx)
    (order_id,) = order_ids(ctx)
    cancellation.cancel_order(ctx, order_id, reason="customer called", actor="ops")
    (closed,) = all_exceptions(ctx)
    assert closed.status == "resolved"

    with unit_of_work(ctx.sessions) as s:  # the same problem found again later
        reopened = open_exception(s, Reason.NO_STOCK, detail={}, order_id=order_id)
        new_id = reopened.id
    rows = all_exceptions(ctx)
    assert [(r.id, r.status, r.occurrences) for r in rows] == [
        (closed.id, "resolved", 1),
        (new_id, "open", 1),
    ]


def test_exceptions_counted_per_subject_in_the_database(ctx: Context, wms: FakeWms) -> None:
    """What the rows say for an order parked twice by a re-check in one transaction."""
    world = build_world(ctx, wms.base_url)
    stock(ctx, world.warehouse_ids["EAST"], "GONE", 0)
    post(ctx, world, order_body(307, [("GONE", 1)]))
    drain(ctx)
    (order_id,) = order_ids(ctx)
    with unit_of_work(ctx.sessions) as s:
        open_exception(s, Reason.NO_STOCK, detail={"n": 2}, order_id=order_id)
        open_exception(s, Reason.NO_STOCK, detail={"n": 3}, order_id=order_id)
    with unit_of_work(ctx.sessions) as s:
        count = s.scalar(select(func.count()).select_from(OrderException))
        exc = s.scalars(select(OrderException)).one()
    assert count == 1 and exc.occurrences == 3 and exc.detail == {"n": 3}
