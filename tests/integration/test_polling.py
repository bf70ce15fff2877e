"""Order polling, fetch-on-hint, ignored deliveries and channel-fulfilled orders, on a fake
channel, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from omniroute.connectors.base import (
    ChannelOrder,
    OrderPage,
    PayloadError,
    RejectedRecord,
    TransientError,
)
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context
from omniroute.core.channels import connector_admin
from omniroute.core.exceptions.queue import retry_exception
from omniroute.core.intake.polling import enqueue_due_polls, poll_connector
from omniroute.core.intake.webhooks import receive_webhook
from omniroute.core.platform.clock import utcnow
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import (
    ConnectorCursor,
    FulfilmentOrder,
    InboundMessage,
    OrderException,
    SalesOrder,
    Sku,
    StockLedger,
    StockLevel,
)
from omniroute.core.platform.security import Role
from omniroute.worker.handlers import drain
from tests.fakes import REMOTES, FakeChannel, FakeRemote, remote
from tests.integration.builders import World, build_world, order_body, stock

T0 = datetime(2026, 11, 27, 12, 0, 0)


@pytest.fixture
def channel(ctx: Context, wms: FakeWms) -> Iterator[tuple[World, int, FakeRemote]]:
    ctx.registry.add(FakeChannel)  # type: ignore[arg-type]
    world = build_world(ctx, wms.base_url)
    for sku in ("A", "B", "C"):
        stock(ctx, world.warehouse_ids["EAST"], sku, 50)
    name = uuid.uuid4().hex
    row = connector_admin.create_connector(
        ctx,
        kind="fake_channel",
        name="fake",
        config={"remote": name, "locations": {"store-1": "WEST"}},
        secrets={},
        enabled=True,
        actor="test",
    )
    yield world, row.id, remote(name)
    REMOTES.pop(name, None)


def order(order_id: int, lines: list[tuple[str, int]], updated: datetime) -> dict[str, object]:
    data: dict[str, object] = json.loads(order_body(order_id, lines))
    data["updated_at"] = updated.replace(tzinfo=UTC).isoformat()
    return data


def aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)


def counts(ctx: Context) -> tuple[int, int]:
    with unit_of_work(ctx.sessions) as s:
        inbox = s.scalar(select(func.count()).select_from(InboundMessage))
        orders = s.scalar(select(func.count()).select_from(SalesOrder))
    return int(inbox or 0), int(orders or 0)


def test_poll_reads_every_page_into_orders_and_moves_the_cursor(
    ctx: Context, channel: tuple[World, int, FakeRemote]
) -> None:
    _, cid, fake = channel
    for i in range(5):
        stamp = T0 - timedelta(minutes=30 - i)
        fake.put(order(100 + i, [("A", 1)], stamp), aware(stamp))

    result = poll_connector(ctx, cid, now=T0)
    drain(ctx)

    assert (result.pages, result.orders_seen, result.new_messages, result.finished) == (
        3,
        5,
        5,
        True,
    )
    assert counts(ctx) == (5, 5)
    with unit_of_work(ctx.sessions) as s:
        statuses = set(s.scalars(select(SalesOrder.status)))
        cursor = s.get_one(ConnectorCursor, cid)
        assert cursor.updated_after == T0  # the run's start is later than any order seen
        assert cursor.run_after is None and cursor.page_token is None
    assert statuses == {"released"}
    # The first run looked back the initial window plus the overlap.
    lookback = ctx.settings.poll_initial_lookback + ctx.settings.poll_overlap
    assert fake.calls[0] == (aware(T0 - timedelta(seconds=lookback)), None)
    assert [token for _, token in fake.calls] == [None, "2", "4"]


def test_overlap_rereads_cost_no_duplicates_and_new_versions_apply(
    ctx: Context, channel: tuple[World, int, FakeRemote]
) -> None:
    _, cid, fake = channel
    stamp = T0 - timedelta(minutes=1)
    fake.put(order(200, [("A", 1)], stamp), aware(stamp))
    poll_connector(ctx, cid, now=T0)
    drain(ctx)
    assert counts(ctx) == (1, 1)

    # Next turn: asks from the cursor minus the overlap, which re-reads order 200.
    later = T0 + timedelta(minutes=1)
    poll_connector(ctx, cid, now=later)
    drain(ctx)
    assert fake.calls[-1][0] == aware(T0 - timedelta(seconds=ctx.settings.poll_overlap))
    assert counts(ctx) == (1, 1)

    # A new version of an order not yet routed (held: no stock for D) is applied.
    v1 = T0 + timedelta(minutes=2)
    fake.put(order(201, [("D", 1)], v1), aware(v1))
    poll_connector(ctx, cid, now=T0 + timedelta(minutes=3))
    drain(ctx)
    v2 = T0 + timedelta(minutes=4)
    fake.put(order(201, [("A", 2)], v2), aware(v2))
    poll_connector(ctx, cid, now=T0 + timedelta(minutes=5))
    drain(ctx)
    with unit_of_work(ctx.sessions) as s:
        o = s.scalars(select(SalesOrder).where(SalesOrder.external_id == "201")).one()
        assert o.status == "released"
        assert [(ln.sku, ln.quantity) for ln in o.lines] == [("A", 2)]
    assert counts(ctx) == (3, 2)


def test_a_run_killed_mid_way_resumes_from_its_page(
    ctx: Context, channel: tuple[World, int, FakeRemote]
) -> None:
    _, cid, fake = channel
    for i in range(5):
        stamp = T0 - timedelta(minutes=10 - i)
        fake.put(order(300 + i, [("B", 1)], stamp), aware(stamp))
    original_page = fake.page
    served: list[int] = []

    def page(after: datetime, token: str | None):  # type: ignore[no-untyped-def]
        if token == "2" and not served:
            served.append(1)
            fake.calls.append((after, token))
            raise TransientError("connection reset", retry_after=7)
        return original_page(after, token)

    fake.page = page  # type: ignore[method-assign]
    first = poll_connector(ctx, cid, now=T0)
    assert first.error is not None and "connection reset" in first.error
    with unit_of_work(ctx.sessions) as s:
        cursor = s.get_one(ConnectorCursor, cid)
        assert cursor.page_token == "2" and cursor.claimed_at is None
        assert cursor.next_poll_at == T0 + timedelta(seconds=7)  # the remote's Retry-After
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 2
    health = connector_admin.connector_health_view(ctx, cid)
    assert health["consecutive_failures"] == 1
    assert "connection reset" in health["last_error"]
    assert health["poll_in_progress"] is True

    second = poll_connector(ctx, cid, now=T0 + timedelta(seconds=8))
    drain(ctx)
    assert second.finished and second.orders_seen == 3
    assert fake.calls[-2][1] == "2"  # resumed at the stored page, with the run's lower bound
    assert fake.calls[-2][0] == fake.calls[0][0]
    assert counts(ctx) == (5, 5)
    health = connector_admin.connector_health_view(ctx, cid)
    assert health["consecutive_failures"] == 0 and health["last_success_at"] is not None


def read_fake_record(record: object) -> ChannelOrder:
    """The fake channel's reading of one polled record: an order with a valid updated_at."""
    if not isinstance(record, dict) or "id" not in record:
        raise PayloadError("not an order")
    try:
        stamp = datetime.fromisoformat(str(record.get("updated_at")))
    except ValueError:
        raise PayloadError(f"order {record['id']} has no valid updated_at") from None
    return ChannelOrder(str(record["id"]), stamp, record)


def test_a_record_the_poll_cannot_read_is_kept_aside_and_the_rest_comes_in(
    ctx: Context, channel: tuple[World, int, FakeRemote], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, cid, fake = channel
    monkeypatch.setattr(FakeChannel, "read_polled", staticmethod(read_fake_record), raising=False)
    stamps = [T0 - timedelta(minutes=5 - i) for i in range(3)]
    good = [order(700 + i, [("A", 1)], stamp) for i, stamp in enumerate(stamps)]
    bad = {**order(799, [("B", 1)], T0), "updated_at": "not a time"}
    reason = "order 799 has no valid updated_at"

    def page(after: datetime, token: str | None) -> OrderPage:
        fake.calls.append((after, token))
        read = [
            ChannelOrder(str(o["id"]), aware(ts), o) for o, ts in zip(good, stamps, strict=True)
        ]
        if token is None:  # a page of three: good, bad, good
            return OrderPage((read[0], read[1]), "2", (RejectedRecord(bad, reason, "799"),))
        return OrderPage((read[2],), None)

    fake.page = page  # type: ignore[method-assign]
    result = poll_connector(ctx, cid, now=T0)
    drain(ctx)

    assert (result.pages, result.orders_seen, result.rejected, result.finished) == (2, 3, 1, True)
    assert result.new_messages == 3
    with unit_of_work(ctx.sessions) as s:
        placed = {o.external_id: o.status for o in s.scalars(select(SalesOrder))}
        (kept,) = s.scalars(select(InboundMessage).where(InboundMessage.status == "failed"))
        (problem,) = s.scalars(select(OrderException))
        cursor = s.get_one(ConnectorCursor, cid)
        assert cursor.run_after is None and cursor.page_token is None  # the run finished
        assert cursor.updated_after == T0  # and the cursor moved on past the bad record
        kept_id, problem_id = kept.id, problem.id
        assert kept.topic == "poll" and json.loads(kept.body) == bad  # the raw record
        assert kept.dedupe_key.startswith("poll-rejected:799:")
        assert kept.last_error == reason and kept.order_id is None
        assert (problem.reason, problem.status) == ("invalid_payload", "open")
        assert problem.inbound_message_id == kept_id and problem.detail["message"] == reason
    assert placed == {"700": "released", "701": "released", "702": "released"}
    assert counts(ctx) == (4, 3)

    # The next run re-reads the overlap, bad record included: no second row, no second problem.
    again = poll_connector(ctx, cid, now=T0 + timedelta(minutes=1))
    drain(ctx)
    assert again.finished and again.rejected == 1 and again.new_messages == 0
    assert counts(ctx) == (4, 3)
    with unit_of_work(ctx.sessions) as s:
        assert s.scalar(select(func.count()).select_from(OrderException)) == 1

    # Ops retry it while the channel's data is still bad: it fails again, for the same reason.
    retry_exception(ctx, problem_id, actor="ops")
    drain(ctx)
    with unit_of_work(ctx.sessions) as s:
        row = s.get_one(InboundMessage, kept_id)
        reopened = s.scalars(select(OrderException).where(OrderException.status == "open")).one()
        assert reopened.id == problem_id  # the same exception, open again: one per record
        assert reopened.occurrences == 2
        assert (row.status, row.last_error) == ("failed", reason)
        assert reopened.inbound_message_id == kept_id and reopened.detail["message"] == reason
    assert counts(ctx) == (4, 3)


def test_repeated_failures_disable_the_connector_until_ops_enable_it(
    ctx: Context, channel: tuple[World, int, FakeRemote]
) -> None:
    _, cid, fake = channel
    limit = ctx.settings.connector_disable_after_failures
    fake.fail_next = [TransientError("503 from channel") for _ in range(limit)]
    for n in range(limit):
        poll_connector(ctx, cid, now=T0 + timedelta(hours=n))
    health = connector_admin.connector_health_view(ctx, cid)
    assert health["disabled_reason"] is not None and "503 from channel" in health["disabled_reason"]
    assert connector_admin.get_connector(ctx, cid).enabled is False
    assert poll_connector(ctx, cid, now=T0 + timedelta(days=1)).skipped is not None

    connector_admin.update_connector(ctx, cid, config=None, secrets=None, enabled=True, actor="ops")
    health = connector_admin.connector_health_view(ctx, cid)
    assert health["disabled_reason"] is None and health["consecutive_failures"] == 0
    assert poll_connector(ctx, cid, now=T0 + timedelta(days=2)).finished


def test_the_sweeper_nudges_each_due_connector_once_per_interval(
    ctx: Context, channel: tuple[World, int, FakeRemote]
) -> None:
    now = utcnow()
    assert enqueue_due_polls(ctx, now=now) == 1
    assert enqueue_due_polls(ctx, now=now + timedelta(seconds=1)) == 0
    later = now + timedelta(seconds=ctx.settings.poll_interval + 1)
    assert enqueue_due_polls(ctx, now=later) == 1


def test_an_id_only_webhook_is_fetched_and_a_test_delivery_is_ignored(
    ctx: Context, channel: tuple[World, int, FakeRemote]
) -> None:
    _, cid, fake = channel
    fake.put(order(400, [("C", 2)], T0), aware(T0))
    receive_webhook(ctx, cid, {"x-delivery": "d1"}, b'{"hint": "400"}')
    receive_webhook(ctx, cid, {"x-delivery": "d2"}, b'{"test": true}')
    receive_webhook(ctx, cid, {"x-delivery": "d3"}, b'{"hint": "999"}')
    drain(ctx)
    assert fake.fetched == ["400", "999"]
    with unit_of_work(ctx.sessions) as s:
        statuses = {
            key: status
            for key, status in s.execute(select(InboundMessage.dedupe_key, InboundMessage.status))
        }
        placed = s.scalars(select(SalesOrder)).one()
        reasons = list(s.scalars(select(OrderException.reason)))
    assert statuses == {"d1": "done", "d2": "ignored", "d3": "failed"}
    assert placed.external_id == "400" and placed.status == "released"
    assert reasons == ["invalid_payload"]  # the order the channel could not find


def test_a_store_sale_is_recorded_not_routed_and_leaves_the_shelf(
    ctx: Context, channel: tuple[World, int, FakeRemote]
) -> None:
    world, cid, fake = channel
    west = world.warehouse_ids["WEST"]
    stock(ctx, west, "A", 3)
    sale = order(500, [("A", 2), ("B", 1)], T0)
    sale["_fake"] = {"fulfilled_externally": True, "fulfilment_location": "store-1"}
    fake.put(sale, aware(T0))
    poll_connector(ctx, cid, now=T0 + timedelta(minutes=1))
    drain(ctx)
    # The same sale read again (overlap) posts nothing twice.
    poll_connector(ctx, cid, now=T0 + timedelta(minutes=2))
    drain(ctx)
    with unit_of_work(ctx.sessions) as s:
        o = s.scalars(select(SalesOrder)).one()
        on_hand = {
            sku: qty
            for sku, qty in s.execute(
                select(StockLevel.sku, StockLevel.on_hand).where(StockLevel.warehouse_id == west)
            )
        }
        ledger = [
            tuple(row)
            for row in s.execute(
                select(StockLedger.sku, StockLedger.delta_on_hand).where(
                    StockLedger.reason == "channel_sale"
                )
            )
        ]
        fulfilments = s.scalar(select(func.count()).select_from(FulfilmentOrder))
        exceptions = list(s.scalars(select(OrderException.detail)))
    assert o.status == "shipped" and fulfilments == 0
    assert on_hand["A"] == 1
    assert ledger == [("A", -2)]
    # B had no stock in the store: the shortfall is shown to ops, not hidden.
    (detail,) = exceptions
    assert detail["lines"] == [{"sku": "B", "sold": 1, "posted": 0}]


def test_store_sale_lines_that_match_no_sku_are_shown_to_ops_not_dropped(
    ctx: Context, channel: tuple[World, int, FakeRemote]
) -> None:
    world, cid, fake = channel
    west = world.warehouse_ids["WEST"]
    stock(ctx, west, "A", 3)
    sale = order(510, [("A", 1), ("GONE", 2), ("GONE", 1)], T0)
    lines = sale["line_items"]
    assert isinstance(lines, list)
    lines[1].update(sku=None, variant_id=None, title="Custom amount")  # nothing to match by
    lines[2].update(sku=None, variant_id=987654321, title="Gift wrap")  # a variant, no alias
    sale["_fake"] = {"fulfilled_externally": True, "fulfilment_location": "store-1"}
    fake.put(sale, aware(T0))
    poll_connector(ctx, cid, now=T0 + timedelta(minutes=1))
    drain(ctx)
    with unit_of_work(ctx.sessions) as s:
        o = s.scalars(select(SalesOrder)).one()
        shelf = s.scalars(
            select(StockLevel.on_hand).where(StockLevel.warehouse_id == west, StockLevel.sku == "A")
        ).one()
        problems = [(e.reason, e.order_id, e.detail) for e in s.scalars(select(OrderException))]
    # Recorded as today: shipped, what matched (A) taken off the store's shelf.
    assert o.status == "shipped" and shelf == 2
    ((reason, order_id, detail),) = problems
    assert (reason, order_id, detail["warehouse"]) == ("stock_discrepancy", o.id, "WEST")
    assert detail["unmatched_lines"] == [
        {
            "external_line_id": "51001",
            "title": "Custom amount",
            "quantity": 2,
            "channel_sku": None,
            "variant_id": None,
        },
        {
            "external_line_id": "51002",
            "title": "Gift wrap",
            "quantity": 1,
            "channel_sku": None,
            "variant_id": "987654321",
        },
    ]
    assert "no stock was taken off the shelf" in detail["message"]
    assert "lines" not in detail  # nothing was short of what matched


def test_health_and_poll_now_over_the_api(
    ctx: Context, channel: tuple[World, int, FakeRemote], client: TestClient
) -> None:
    world, cid, fake = channel
    ops = {"Authorization": f"Bearer {create_token(ctx, role=Role.OPS, name='ops')}"}
    support = {"Authorization": f"Bearer {create_token(ctx, role=Role.SUPPORT, name='s')}"}
    # The API polls at the real time: the order must fall inside its first look-back window
    # (a fixed date here stopped being found a day after it was written).
    updated = utcnow() - timedelta(minutes=1)
    fake.put(order(600, [("A", 1)], updated), aware(updated))

    assert client.post(f"/api/v1/connectors/{cid}/poll", headers=support).status_code == 403
    answer = client.post(f"/api/v1/connectors/{cid}/poll", headers=ops)
    assert answer.status_code == 202, answer.text
    drain(ctx)
    assert counts(ctx)[1] == 1

    health = client.get(f"/api/v1/connectors/{cid}/health", headers=ops)
    assert health.status_code == 200
    assert health.json()["last_poll_at"] is not None
    assert health.json()["consecutive_failures"] == 0

    shop = client.post(f"/api/v1/connectors/{world.shopify_id}/poll", headers=ops)
    assert shop.status_code == 409 and shop.json()["code"] == "not_polling"
    assert client.get("/api/v1/connectors/999/health", headers=ops).status_code == 404


def test_a_hinted_order_is_fetched_while_no_transaction_is_open(
    ctx: Context, channel: tuple[World, int, FakeRemote]
) -> None:
    from omniroute.core.stock.levels import ensure_sku

    _, cid, fake = channel

    def write_while_fetching(_: str) -> None:
        # On SQLite a writer holding the database would make this fail with "locked".
        with unit_of_work(ctx.sessions) as s:
            ensure_sku(s, "WRITTEN-DURING-FETCH")

    fake.on_fetch = write_while_fetching
    fake.put(order(450, [("A", 1)], T0), aware(T0))
    receive_webhook(ctx, cid, {"x-delivery": "h1"}, b'{"hint": "450"}')
    drain(ctx)
    with unit_of_work(ctx.sessions) as s:
        placed = s.scalars(select(SalesOrder)).one()
        assert placed.status == "released"
        assert s.get(Sku, "WRITTEN-DURING-FETCH") is not None
