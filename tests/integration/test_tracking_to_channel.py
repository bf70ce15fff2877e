"""A Shopify order shipped, then tracked by EasyPost: each new status reaches Shopify as a
fulfillment event through the outbox, once, on the fulfillment that carries the tracking
number; a late or repeated carrier event sends nothing."""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import select

from omniroute.core.channels import connector_admin
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import OutboxMessage
from omniroute.worker.handlers import drain
from tests.carrier_samples import EASYPOST_SECRET, easypost_delivery, easypost_event
from tests.integration.shopify_fake_api import API
from tests.integration.test_shopify_channel_e2e import (  # noqa: F401 - env is a fixture
    SAMPLE_ID,
    Env,
    env,
    order_detail,
    poll,
    ship,
)


def carrier_event(
    event_id: str, number: str, details: list[tuple[str, str, str]]
) -> dict[str, Any]:
    event = copy.deepcopy(easypost_event())
    event["id"] = event_id
    tracker = event["result"]
    template = tracker["tracking_details"][1]
    tracker["tracking_code"] = number
    tracker["tracking_details"] = [
        {**template, "status": status, "status_detail": detail, "datetime": at, "message": detail}
        for status, detail, at in details
    ]
    tracker["status"], tracker["status_detail"], tracker["updated_at"] = details[-1]
    return event


def send(world: Env, connector_id: int, event: dict[str, Any]) -> None:
    headers, body = easypost_delivery(event)
    response = world.client.post(f"/webhooks/{connector_id}", content=body, headers=headers)
    assert response.status_code == 200, response.text
    drain(world.ctx)


def tracking_rows(world: Env) -> list[tuple[str, str]]:
    with unit_of_work(world.ctx.sessions) as session:
        rows = session.execute(
            select(OutboxMessage.payload, OutboxMessage.status)
            .where(OutboxMessage.kind == "channel.tracking")
            .order_by(OutboxMessage.id)
        ).all()
    return [(str(payload["status"]), str(status)) for payload, status in rows]


def test_carrier_statuses_reach_shopify_as_fulfillment_events(env: Env) -> None:  # noqa: F811
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
    ship(env, fo["id"], body)
    drain(env.ctx)  # the shipment's own push: Shopify now has the fulfillment
    # One fulfillment per Shopify location of the order, each with the parcel's number.
    fulfillments = [f["id"] for f in env.shop.created if f["tracking_number"] == "EZ 4000 0001"]
    assert len(fulfillments) == 2

    transit = ("in_transit", "arrived_at_facility", "2026-11-27T20:00:00Z")
    send(env, carrier.id, carrier_event("evt_1", "EZ40000001", [transit]))
    out = ("out_for_delivery", "out_for_delivery", "2026-11-28T08:00:00Z")
    send(env, carrier.id, carrier_event("evt_2", "EZ40000001", [transit, out]))
    # A late copy of the first scan under another event id: recorded, nothing to tell.
    send(env, carrier.id, carrier_event("evt_3", "EZ40000001", [transit]))
    done = ("delivered", "arrived_at_destination", "2026-11-28T12:30:00Z")
    send(env, carrier.id, carrier_event("evt_4", "EZ40000001", [transit, out, done]))

    assert tracking_rows(env) == [
        ("in_transit", "sent"),
        ("out_for_delivery", "sent"),
        ("delivered", "sent"),
    ]
    for fulfillment_id in fulfillments:
        events = env.shop.fulfillment_events[fulfillment_id]
        assert [(e["status"], e["happened_at"]) for e in events] == [
            ("in_transit", "2026-11-27T20:00:00+00:00"),
            ("out_for_delivery", "2026-11-28T08:00:00+00:00"),
            ("delivered", "2026-11-28T12:30:00+00:00"),
        ]
        assert events[-1]["message"] == "arrived_at_destination"
    posts = env.shop.http.requests_to(
        "POST", rf"{API}/orders/{SAMPLE_ID}/fulfillments/\d+/events\.json"
    )
    assert len(posts) == 3 * len(fulfillments)
    assert order_detail(env, SAMPLE_ID)["status"] == "delivered"
