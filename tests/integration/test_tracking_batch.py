"""Carrier tracking rows taken in batches (issue 15): one worker's task takes every due row of
the connector in one transaction, with the same outcome as one row at a time: duplicates
absorbed, late and out-of-order events in one batch never move a status back, an unreadable
row fails alone, a row holding an order is handed back, channels are told each status once,
and two workers sharing the rows (PostgreSQL) take each row once, without deadlock."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.exc import DataError

from omniroute.connectors.generic import webhooks as generic_webhooks
from omniroute.core.bootstrap import Context
from omniroute.core.channels import connector_admin
from omniroute.core.exceptions.opening import Reason
from omniroute.core.intake.processing import process_inbound
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import (
    InboundMessage,
    OrderEvent,
    OrderException,
    OutboxMessage,
    SalesOrder,
    Shipment,
)
from omniroute.worker.handlers import drain
from tests.carrier_samples import EASYPOST_SECRET, easypost_delivery, easypost_event
from tests.integration.test_shopify_channel_e2e import (  # noqa: F401 - env is a fixture
    SAMPLE_ID,
    Env,
    env,
    order_detail,
    poll,
)
from tests.integration.test_shopify_channel_e2e import ship as ship_shopify
from tests.integration.test_tracking_flow import (  # noqa: F401 - shop is a fixture
    GENERIC_SECRET,
    Shop,
    easypost_with,
    event_count,
    order_status,
    send,
    ship,
    shipment_of,
    shop,
)
from tests.integration.test_tracking_to_channel import carrier_event, tracking_rows

LABEL = ("pre_transit", "label_created", "2026-11-26T09:00:00Z")
TRANSIT = ("in_transit", "arrived_at_facility", "2026-11-27T20:00:00Z")
OUT = ("out_for_delivery", "out_for_delivery", "2026-11-28T08:00:00Z")
DONE = ("delivered", "arrived_at_destination", "2026-11-28T12:30:00Z")


def inbox(ctx: Context, connector_id: int) -> list[InboundMessage]:
    with unit_of_work(ctx.sessions) as s:
        rows = s.scalars(
            select(InboundMessage)
            .where(InboundMessage.connector_id == connector_id)
            .order_by(InboundMessage.id)
        ).all()
        s.expunge_all()
        return list(rows)


def post_easypost(client: TestClient, to: Shop, event_id: str, number: str, *details: Any) -> str:
    event = easypost_with(event_id, number, list(details))
    return send(client, to.easypost_id, easypost_delivery(event))


def test_one_task_takes_the_batch_and_absorbs_duplicates(
    ctx: Context,
    client: TestClient,
    shop: Shop,  # noqa: F811
) -> None:
    first = ship(ctx, shop, "pkg-1", "EZ1", [("IPOD2008GREEN", 1)])
    second = ship(ctx, shop, "pkg-2", "EZ2", [("IPOD2008RED", 2)])
    assert post_easypost(client, shop, "evt_1", "EZ1", LABEL, TRANSIT) == "accepted"
    assert post_easypost(client, shop, "evt_1", "EZ1", LABEL, TRANSIT) == "duplicate"
    # The same history again under other ids, in the same batch.
    assert post_easypost(client, shop, "evt_2", "EZ1", LABEL, TRANSIT) == "accepted"
    assert post_easypost(client, shop, "evt_3", "EZ2", LABEL) == "accepted"
    assert post_easypost(client, shop, "evt_4", "EZ2", LABEL, TRANSIT) == "accepted"
    assert post_easypost(client, shop, "evt_5", "EZ1", LABEL, TRANSIT) == "accepted"
    rows = inbox(ctx, shop.easypost_id)
    assert len(rows) == 5

    process_inbound(ctx, rows[0].id)  # one task: the whole batch

    rows = inbox(ctx, shop.easypost_id)
    assert [(r.status, r.attempts, r.last_error) for r in rows] == [("done", 1, None)] * 5
    assert event_count(ctx, shipment_id=first) == 2
    assert event_count(ctx, shipment_id=second) == 2
    for shipment_id in (first, second):
        row = shipment_of(ctx, shipment_id)
        assert row.status == "in_transit"
        assert row.status_at is not None and row.status_at.isoformat() == "2026-11-27T20:00:00"
    drain(ctx)  # the rows' own tasks find them done
    assert [r.status for r in inbox(ctx, shop.easypost_id)] == ["done"] * 5


def test_out_of_order_events_of_one_parcel_in_one_batch(
    ctx: Context,
    client: TestClient,
    shop: Shop,  # noqa: F811
) -> None:
    only = ship(ctx, shop, "pkg-1", "EZ1")
    post_easypost(client, shop, "evt_1", "EZ1", LABEL, TRANSIT, OUT, DONE)
    post_easypost(client, shop, "evt_2", "EZ1", LABEL, TRANSIT, OUT)  # late
    post_easypost(client, shop, "evt_3", "EZ1", LABEL)  # later still
    # A scan after delivery does not take it out of delivered.
    post_easypost(client, shop, "evt_4", "EZ1", ("in_transit", "x", "2026-11-29T08:00:00Z"))
    drain(ctx)
    row = shipment_of(ctx, only)
    assert row.status == "delivered"
    assert row.status_at is not None and row.status_at.isoformat() == "2026-11-28T12:30:00"
    assert row.delivered_at == row.status_at
    assert row.last_event_at is not None and row.last_event_at.isoformat() == "2026-11-29T08:00:00"
    assert event_count(ctx, shipment_id=only) == 5
    assert order_status(ctx, shop.order_id) == "delivered"
    assert [r.status for r in inbox(ctx, shop.easypost_id)] == ["done"] * 4


def test_an_unreadable_row_fails_alone_and_the_batch_is_taken(
    ctx: Context,
    client: TestClient,
    shop: Shop,  # noqa: F811
) -> None:
    only = ship(ctx, shop, "pkg-1", "EZ1")
    post_easypost(client, shop, "evt_1", "EZ1", LABEL)
    bad = easypost_event()
    bad["id"] = "evt_bad"
    del bad["result"]["tracking_code"]
    assert send(client, shop.easypost_id, easypost_delivery(bad)) == "accepted"
    post_easypost(client, shop, "evt_3", "EZ1", LABEL, TRANSIT)
    rows = inbox(ctx, shop.easypost_id)

    process_inbound(ctx, rows[0].id)

    rows = inbox(ctx, shop.easypost_id)
    assert [r.status for r in rows] == ["done", "failed", "done"]
    assert "result.tracking_code" in (rows[1].last_error or "")
    assert shipment_of(ctx, only).status == "in_transit"
    with unit_of_work(ctx.sessions) as s:
        reasons = s.execute(select(OrderException.reason, OrderException.inbound_message_id)).all()
    assert [(str(r), i) for r, i in reasons] == [(Reason.INVALID_PAYLOAD.value, rows[1].id)]


def _generic(ctx: Context, payload: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    body = json.dumps(payload).encode()
    key = generic_webhooks.decode_secret(GENERIC_SECRET)
    msg_id = f"msg_{uuid.uuid4().hex}"
    stamp = int(ctx.clock.now().timestamp())
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": generic_webhooks.sign(key, msg_id, stamp, body),
    }
    return headers, body


def test_a_row_that_holds_an_order_is_handed_back(
    ctx: Context,
    client: TestClient,
    shop: Shop,  # noqa: F811
) -> None:
    only = ship(ctx, shop, "pkg-1", "AB1")

    def tracking(at: str) -> dict[str, Any]:
        data = {
            "carrier": "FedEx",
            "tracking_number": "AB1",
            "events": [{"status": "in_transit", "occurred_at": at}],
        }
        return {"type": "tracking.updated", "data": data}

    send(client, shop.generic_id, _generic(ctx, tracking("2026-11-28T10:00:00Z")))
    send(client, shop.generic_id, _generic(ctx, {"type": "something.else", "data": {}}))
    send(client, shop.generic_id, _generic(ctx, tracking("2026-11-28T11:00:00Z")))
    rows = inbox(ctx, shop.generic_id)

    process_inbound(ctx, rows[0].id)

    rows = inbox(ctx, shop.generic_id)
    assert [(r.status, r.attempts) for r in rows] == [("done", 1), ("pending", 0), ("done", 1)]
    assert shipment_of(ctx, only).status_at.isoformat() == "2026-11-28T11:00:00"  # type: ignore[union-attr]
    drain(ctx)  # handed back with a task of its own: taken on the order path
    assert inbox(ctx, shop.generic_id)[1].status != "pending"


def test_channels_are_told_each_status_once_when_the_rows_come_together(
    env: Env,  # noqa: F811
) -> None:
    carrier = connector_admin.create_connector(
        env.ctx,
        kind="easypost",
        name="easypost",
        config={},
        secrets={"webhook_secret": EASYPOST_SECRET},
        enabled=True,
        actor="test",
    )
    poll(env)
    (fo,) = order_detail(env, SAMPLE_ID)["fulfilment_orders"]
    body = {"external_ref": "PKG-1", "carrier": "FedEx", "tracking_number": "EZ 4000 0001"}
    ship_shopify(env, fo["id"], body)
    drain(env.ctx)
    # The four deliveries of test_tracking_to_channel, queued before any is processed.
    for event in (
        carrier_event("evt_1", "EZ40000001", [TRANSIT]),
        carrier_event("evt_2", "EZ40000001", [TRANSIT, OUT]),
        carrier_event("evt_3", "EZ40000001", [TRANSIT]),
        carrier_event("evt_4", "EZ40000001", [TRANSIT, OUT, DONE]),
    ):
        headers, raw = easypost_delivery(event)
        response = env.client.post(f"/webhooks/{carrier.id}", content=raw, headers=headers)
        assert response.status_code == 200, response.text
    drain(env.ctx)
    assert tracking_rows(env) == [
        ("in_transit", "sent"),
        ("out_for_delivery", "sent"),
        ("delivered", "sent"),
    ]
    assert order_detail(env, SAMPLE_ID)["status"] == "delivered"
    # Each status told under the correlation id of the row that brought it.
    rows = inbox(env.ctx, carrier.id)
    with unit_of_work(env.ctx.sessions) as s:
        told = s.scalars(
            select(OutboxMessage.correlation_id)
            .where(OutboxMessage.kind == "channel.tracking")
            .order_by(OutboxMessage.id)
        ).all()
    assert told == [rows[0].correlation_id, rows[1].correlation_id, rows[3].correlation_id]
    assert len(set(told)) == 3


@pytest.mark.postgres
def test_two_workers_share_the_rows_each_taken_once(
    ctx: Context,
    client: TestClient,
    shop: Shop,  # noqa: F811
) -> None:
    if ctx.engine.dialect.name != "postgresql":
        pytest.skip("two writers at once: PostgreSQL")
    ctx.settings.tracking_batch_size = 4
    parcels = {
        "EZ1": ship(ctx, shop, "pkg-1", "EZ1", [("IPOD2008GREEN", 1)]),
        "EZ2": ship(ctx, shop, "pkg-2", "EZ2", [("IPOD2008RED", 1)]),
        "EZ3": ship(ctx, shop, "pkg-3", "EZ3", [("IPOD2008RED", 1)]),
    }
    history = [LABEL, TRANSIT, OUT, DONE]
    n = 0
    for cut in (4, 1, 3, 2, 4, 1):  # late copies among the rows
        for number in parcels:
            n += 1
            post_easypost(client, shop, f"evt_{n}", number, *history[:cut])
    ids = [r.id for r in inbox(ctx, shop.easypost_id)]
    assert len(ids) == 18

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda row_id: process_inbound(ctx, row_id), ids))

    rows = inbox(ctx, shop.easypost_id)
    assert [(r.status, r.attempts) for r in rows] == [("done", 1)] * 18
    for shipment_id in parcels.values():
        assert shipment_of(ctx, shipment_id).status == "delivered"
        assert event_count(ctx, shipment_id=shipment_id) == 4
    assert order_status(ctx, shop.order_id) == "delivered"


@pytest.mark.postgres
def test_a_row_the_database_refuses_does_not_fail_the_rows_batched_with_it(
    ctx: Context,
    client: TestClient,
    shop: Shop,  # noqa: F811
) -> None:
    if ctx.engine.dialect.name != "postgresql":
        pytest.skip("SQLite stores a NUL in text")
    only = ship(ctx, shop, "pkg-1", "AB1")

    def tracking(at: str, message: str) -> dict[str, Any]:
        event = {"status": "in_transit", "occurred_at": at, "message": message}
        data = {"carrier": "FedEx", "tracking_number": "AB1", "events": [event]}
        return {"type": "tracking.updated", "data": data}

    send(client, shop.generic_id, _generic(ctx, tracking("2026-11-28T10:00:00Z", "ok")))
    # PostgreSQL refuses a NUL in text: this row's INSERT fails, whichever batch it is in.
    send(client, shop.generic_id, _generic(ctx, tracking("2026-11-28T11:00:00Z", "bad\0")))
    send(client, shop.generic_id, _generic(ctx, tracking("2026-11-28T12:00:00Z", "ok")))
    rows = inbox(ctx, shop.generic_id)

    process_inbound(ctx, rows[0].id)  # the batch fails; the first row is taken alone

    rows = inbox(ctx, shop.generic_id)
    assert [(r.status, r.attempts) for r in rows] == [("done", 1), ("pending", 0), ("pending", 0)]
    assert shipment_of(ctx, only).status_at.isoformat() == "2026-11-28T10:00:00"  # type: ignore[union-attr]
    assert event_count(ctx, shipment_id=only) == 1

    # Each handed-back row on its own: the bad one fails and is retried later, alone.
    with pytest.raises(DataError):
        process_inbound(ctx, rows[1].id)
    process_inbound(ctx, rows[2].id)

    rows = inbox(ctx, shop.generic_id)
    assert (rows[1].status, rows[1].attempts) == ("pending", 1)
    assert "NUL" in (rows[1].last_error or "")
    assert rows[2].status == "done"
    assert shipment_of(ctx, only).status_at.isoformat() == "2026-11-28T12:00:00"  # type: ignore[union-attr]


def test_two_parcels_of_one_order_delivered_in_one_batch(
    ctx: Context,
    client: TestClient,
    shop: Shop,  # noqa: F811
) -> None:
    """The order's move to delivered is decided for the batch at once: with both of its
    parcels delivered in one batch (late rows, duplicates and an unreadable row among them),
    it moves once, with one timeline row."""
    first = ship(ctx, shop, "pkg-1", "EZ1", [("IPOD2008GREEN", 1)])
    second = ship(ctx, shop, "pkg-2", "EZ2", [("IPOD2008RED", 2)])
    assert order_status(ctx, shop.order_id) == "shipped"
    post_easypost(client, shop, "evt_1", "EZ2", LABEL, TRANSIT)
    post_easypost(client, shop, "evt_2", "EZ1", LABEL, TRANSIT, OUT, DONE)
    bad = easypost_event()
    bad["id"] = "evt_bad"
    del bad["result"]["tracking_code"]
    assert send(client, shop.easypost_id, easypost_delivery(bad)) == "accepted"
    post_easypost(client, shop, "evt_4", "EZ2", DONE, LABEL, OUT)  # out of order in itself
    post_easypost(client, shop, "evt_5", "EZ1", LABEL, TRANSIT)  # late
    post_easypost(client, shop, "evt_6", "EZ2", DONE, LABEL, OUT)  # the same history again
    rows = inbox(ctx, shop.easypost_id)
    with unit_of_work(ctx.sessions) as s:
        shipped_at = s.get_one(SalesOrder, shop.order_id).updated_at

    process_inbound(ctx, rows[0].id)  # one task: the whole batch

    rows = inbox(ctx, shop.easypost_id)
    assert [r.status for r in rows] == ["done", "done", "failed", "done", "done", "done"]
    for shipment_id in (first, second):
        assert shipment_of(ctx, shipment_id).status == "delivered"
    assert event_count(ctx, shipment_id=first) == 4
    assert event_count(ctx, shipment_id=second) == 4
    with unit_of_work(ctx.sessions) as s:
        moves = s.execute(
            select(OrderEvent.from_status, OrderEvent.note).where(
                OrderEvent.order_id == shop.order_id, OrderEvent.to_status == "delivered"
            )
        ).all()
        updated_at = s.get_one(SalesOrder, shop.order_id).updated_at
    assert [m.from_status for m in moves] == ["shipped"]
    assert moves[0].note == f"every shipment delivered (the last: shipment {first})"
    assert updated_at > shipped_at
    assert order_status(ctx, shop.order_id) == "delivered"
    drain(ctx)
    assert order_status(ctx, shop.order_id) == "delivered"


def test_the_rows_a_batch_took_end_their_tasks_without_a_read_but_a_replay_is_processed(
    ctx: Context,
    client: TestClient,
    shop: Shop,  # noqa: F811
) -> None:
    ship(ctx, shop, "pkg-1", "EZ1", [("IPOD2008GREEN", 1)])
    for n, cut in enumerate((1, 2, 3, 2), start=1):
        post_easypost(client, shop, f"evt_{n}", "EZ1", *[LABEL, TRANSIT, OUT][:cut])
    rows = inbox(ctx, shop.easypost_id)
    ctx.dispatcher.drain()  # type: ignore[attr-defined]  # the rows' tasks, run below by hand
    process_inbound(ctx, rows[0].id)  # takes the other three
    # A replay of one of them before its task ran: pending again, with a task of its own.
    with unit_of_work(ctx.sessions) as s:
        replayed = s.get_one(InboundMessage, rows[2].id)
        replayed.status, replayed.attempts = "pending", 0
    reads: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "inbound_message" in statement:
            reads.append(statement.split(maxsplit=1)[0])

    sa_event.listen(ctx.engine, "before_cursor_execute", count)
    try:
        for row in rows[1:]:  # their own tasks
            process_inbound(ctx, row.id)
        assert reads == []  # each took its mark, the replayed row's too
        process_inbound(ctx, rows[2].id)  # the replay's task reads the row and takes it
    finally:
        sa_event.remove(ctx.engine, "before_cursor_execute", count)
    assert reads and reads[0] == "SELECT"
    got = inbox(ctx, shop.easypost_id)
    assert [(r.status, r.attempts) for r in got] == [("done", 1)] * 4
    assert shipment_of(ctx, shipment_id_of(ctx, "EZ1")).status == "out_for_delivery"


def shipment_id_of(ctx: Context, number: str) -> int:
    with unit_of_work(ctx.sessions) as s:
        return int(s.scalars(select(Shipment.id).where(Shipment.tracking_key == number)).one())
