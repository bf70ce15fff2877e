"""Consolidation: orders of one customer to one address wait together and ship together."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from omniroute.connectors.tracking import TrackingEvent, TrackingStatus, TrackingUpdate
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context
from omniroute.core.channels import connector_admin
from omniroute.core.fulfilment.shipments import ShipmentInput, confirm_shipment
from omniroute.core.housekeeping.sweeper import sweep
from omniroute.core.intake.polling import poll_connector
from omniroute.core.intake.processing import process_inbound
from omniroute.core.order_routing import rule_sets
from omniroute.core.order_routing.consolidation import join_or_open_group, route_due_groups
from omniroute.core.order_routing.reroute import reroute_fulfilment
from omniroute.core.orders import views as orders
from omniroute.core.platform.clock import utcnow
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.models import (
    Consolidation,
    FulfilmentOrder,
    OutboxMessage,
    SalesOrder,
    StockLevel,
)
from omniroute.core.platform.security import Role
from omniroute.core.tracking.events import record_update
from omniroute.worker.handlers import drain
from tests.fakes import REMOTES, FakeChannel, FakeRemote, remote
from tests.integration.builders import World, build_world, order_body, stock

T0 = datetime(2026, 11, 27, 12, 0, 0)
WINDOW = 30
MERGE_RULES = {
    "name": "merge-web",
    "timezone": "UTC",
    "rules": [
        {
            "id": "merge-fake",
            "when": {"field": "channel", "op": "eq", "value": "fake_channel"},
            "then": {"consolidate": {"window_minutes": WINDOW}},
        }
    ],
}


@dataclass
class Shop:
    world: World
    connector_id: int
    remote: FakeRemote
    polls: int = 0


def publish(ctx: Context, doc: dict[str, Any]) -> None:
    draft = rule_sets.create_draft(ctx, doc, notes=None, actor="test")
    rule_sets.publish(ctx, draft.id, effective_from=utcnow() - timedelta(minutes=1), actor="test")


@pytest.fixture
def shop(ctx: Context, wms: FakeWms) -> Iterator[Shop]:
    ctx.registry.add(FakeChannel)  # type: ignore[arg-type]
    world = build_world(ctx, wms.base_url)
    for sku in ("A", "B"):
        stock(ctx, world.warehouse_ids["EAST"], sku, 10)
        stock(ctx, world.warehouse_ids["WEST"], sku, 10)
    name = uuid.uuid4().hex
    row = connector_admin.create_connector(
        ctx,
        kind="fake_channel",
        name="fake",
        config={"remote": name},
        secrets={},
        enabled=True,
        actor="test",
    )
    publish(ctx, MERGE_RULES)
    yield Shop(world, row.id, remote(name))
    REMOTES.pop(name, None)


def put(shop: Shop, number: int, lines: list[tuple[str, int]], **changes: Any) -> None:
    data: dict[str, Any] = json.loads(order_body(number, lines))
    data["updated_at"] = T0.replace(tzinfo=UTC).isoformat()
    if "address1" in changes:
        data["shipping_address"] = {**data["shipping_address"], "address1": changes["address1"]}
    if "email" in changes:
        data["email"] = data["customer"]["email"] = changes["email"]
    shop.remote.put(data, T0.replace(tzinfo=UTC))


def poll(ctx: Context, shop: Shop) -> None:
    shop.polls += 1
    poll_connector(ctx, shop.connector_id, now=T0 + timedelta(minutes=shop.polls))


def place(ctx: Context, shop: Shop, number: int, lines: list[tuple[str, int]], **kw: Any) -> int:
    put(shop, number, lines, **kw)
    poll(ctx, shop)
    drain(ctx)
    return order_id(ctx, number)


def order_id(ctx: Context, number: int) -> int:
    with unit_of_work(ctx.sessions) as s:
        return s.scalars(select(SalesOrder.id).where(SalesOrder.external_id == str(number))).one()


def status(ctx: Context, oid: int) -> str:
    with unit_of_work(ctx.sessions) as s:
        return s.get_one(SalesOrder, oid).status


def group_of(ctx: Context, oid: int) -> int | None:
    with unit_of_work(ctx.sessions) as s:
        return s.get_one(SalesOrder, oid).consolidation_id


def window_ends(ctx: Context) -> int:
    """The sweeper, once every window open now has passed; then the outbox is delivered."""
    routed = route_due_groups(ctx, now=utcnow() + timedelta(minutes=WINDOW + 1))
    drain(ctx)
    return routed


def reserved(ctx: Context) -> dict[str, int]:
    with unit_of_work(ctx.sessions) as s:
        totals: dict[str, int] = {}
        for sku, qty in s.execute(select(StockLevel.sku, StockLevel.reserved)):
            totals[sku] = totals.get(sku, 0) + qty
        return totals


def fulfilment_orders(ctx: Context) -> list[FulfilmentOrder]:
    with unit_of_work(ctx.sessions) as s:
        fos = list(s.scalars(select(FulfilmentOrder).order_by(FulfilmentOrder.id)))
        s.expunge_all()
        return fos


def notes(ctx: Context, oid: int) -> list[str]:
    return [e["note"] or "" for e in orders.order_detail(ctx, oid)["timeline"]]


def auth(ctx: Context, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(ctx, role=role, name=role.value)}"}


def test_two_orders_of_one_customer_leave_as_one_fulfilment_order_and_ship_together(
    ctx: Context, shop: Shop, wms: FakeWms
) -> None:
    first = place(ctx, shop, 901, [("A", 1)])
    second = place(ctx, shop, 902, [("B", 2)])
    assert (status(ctx, first), status(ctx, second)) == ("on_hold", "on_hold")
    group = group_of(ctx, first)
    assert group is not None and group_of(ctx, second) == group
    assert wms.accepted_count == 0 and reserved(ctx) == {"A": 0, "B": 0}

    assert window_ends(ctx) == 1
    assert (status(ctx, first), status(ctx, second)) == ("released", "released")
    assert reserved(ctx) == {"A": 1, "B": 2}
    (fo,) = fulfilment_orders(ctx)
    assert fo.consolidation_id == group and fo.order_id == first
    (payload,) = wms.accepted.values()
    assert sorted(
        (ln["order_reference"], ln["sku"], ln["quantity"]) for ln in payload["lines"]
    ) == [
        ("#901", "A", 1),
        ("#902", "B", 2),
    ]
    # Each line keeps its own order's properties; each order its note and attributes.
    engraved = [{"name": "Custom Engraving", "value": "Happy Birthday"}]
    assert [ln["properties"] for ln in payload["lines"]] == [engraved, engraved]
    assert [(o["order_reference"], o["note"]) for o in payload["orders"]] == [
        ("#901", None),
        ("#902", None),
    ]
    assert payload["orders"][1]["attributes"] == [
        {"name": "custom engraving", "value": "Happy Birthday"},
        {"name": "colour", "value": "green"},
    ]
    with unit_of_work(ctx.sessions) as s:
        release = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "wms.release")).one()
        assert release.payload["consolidation_id"] == group
        assert {ln["order_id"] for ln in release.payload["lines"]} == {first, second}
    assert any("consolidated with order #902" in n for n in notes(ctx, first))
    assert any("consolidated with order #901" in n for n in notes(ctx, second))

    detail = orders.order_detail(ctx, second)
    assert detail["consolidation"]["id"] == group
    assert detail["consolidation"]["status"] == "routed"
    assert [o["id"] for o in detail["consolidation"]["orders"]] == [first, second]
    assert [(ln["sku"], ln["quantity"]) for ln in detail["fulfilment_orders"][0]["lines"]] == [
        ("B", 2)
    ]
    assert len(detail["routing_decisions"]) == 1
    assert detail["routing_decisions"][0]["trace"]["consolidation"]["orders"] == [first, second]

    confirm_shipment(ctx, fo.id, ShipmentInput(external_ref="S-1", lines=None), actor="wms")
    drain(ctx)
    assert (status(ctx, first), status(ctx, second)) == ("shipped", "shipped")
    assert reserved(ctx) == {"A": 0, "B": 0}
    told = sorted(
        (n.external_order_id, [(ln.sku, ln.quantity) for ln in n.lines])
        for n in shop.remote.fulfilments
    )
    assert told == [("901", [("A", 1)]), ("902", [("B", 2)])]
    shipped = orders.order_detail(ctx, first)["fulfilment_orders"][0]["lines"]
    assert [(ln["sku"], ln["shipped_quantity"]) for ln in shipped] == [("A", 1)]
    assert [sh["lines"] for sh in orders.order_detail(ctx, second)["shipments"]] == [
        [{"sku": "B", "quantity": 2}]
    ]


def test_a_consolidated_parcel_delivered_delivers_every_order_in_it(
    ctx: Context, shop: Shop
) -> None:
    first = place(ctx, shop, 951, [("A", 1)])
    second = place(ctx, shop, 952, [("B", 1)])
    window_ends(ctx)
    (fo,) = fulfilment_orders(ctx)
    assert fo.consolidation_id is not None
    parcel = ShipmentInput(external_ref="S-9", lines=None, carrier="UPS", tracking_number="1Z 9")
    confirm_shipment(ctx, fo.id, parcel, actor="wms")
    drain(ctx)
    assert (status(ctx, first), status(ctx, second)) == ("shipped", "shipped")

    at = T0.replace(tzinfo=UTC) + timedelta(days=2)
    moving = TrackingEvent(TrackingStatus.IN_TRANSIT, "in_transit", at - timedelta(days=1))
    done = TrackingEvent(TrackingStatus.DELIVERED, "delivered", at)
    with unit_of_work(ctx.sessions) as s:
        recorded = record_update(
            ctx,
            s,
            TrackingUpdate("UPS", "1z9", (moving,)),
            connector_id=shop.connector_id,
            inbound_message_id=None,
        )
    assert (recorded.status, recorded.changed, recorded.delivered_orders) == (
        "in_transit",
        True,
        (),
    )
    with unit_of_work(ctx.sessions) as s:
        recorded = record_update(
            ctx,
            s,
            TrackingUpdate("UPS", "1z9", (moving, done)),
            connector_id=shop.connector_id,
            inbound_message_id=None,
        )
    assert (recorded.status, recorded.delivered_orders) == ("delivered", (first, second))
    assert (status(ctx, first), status(ctx, second)) == ("delivered", "delivered")


def test_a_merged_orders_trace_shows_its_own_part(ctx: Context, shop: Shop) -> None:
    stock(ctx, shop.world.warehouse_ids["EAST"], "B", 0)
    stock(ctx, shop.world.warehouse_ids["WEST"], "A", 0)
    first = place(ctx, shop, 941, [("A", 1)])
    second = place(ctx, shop, 942, [("B", 1)])
    window_ends(ctx)
    one, two = (
        orders.order_detail(ctx, oid)["routing_decisions"][-1]["trace"] for oid in (first, second)
    )
    assert (one["chosen"], two["chosen"]) == (["EAST"], ["WEST"])
    assert one["shipments"] == two["shipments"] == 1
    assert one["headline"].startswith("Shipped from EAST")
    assert "this order's lines from EAST" in one["summary"]
    assert sorted(one["consolidation"]["group"]["chosen"]) == ["EAST", "WEST"]
    assert one["consolidation"]["group"]["shipments"] == 2
    west = next(c for c in one["candidates"] if c["code"] == "WEST")
    assert west["why_not"]["reason"] == "group"
    assert west["verdict"].startswith("chosen for the group")
    assert any("this order's lines from WEST" in n for n in notes(ctx, second))


def test_a_partial_shipment_of_a_merged_order_moves_only_the_orders_it_carries(
    ctx: Context, shop: Shop
) -> None:
    first = place(ctx, shop, 931, [("A", 1)])
    second = place(ctx, shop, 932, [("B", 2)])
    window_ends(ctx)
    (fo,) = fulfilment_orders(ctx)
    confirm_shipment(ctx, fo.id, ShipmentInput(external_ref="S-1", lines=[("B", 1)]), actor="wms")
    drain(ctx)
    assert (status(ctx, first), status(ctx, second)) == ("released", "partially_shipped")
    assert [n.external_order_id for n in shop.remote.fulfilments] == ["932"]


def test_another_address_or_customer_is_not_merged(ctx: Context, shop: Shop, wms: FakeWms) -> None:
    first = place(ctx, shop, 903, [("A", 1)])
    elsewhere = place(ctx, shop, 904, [("A", 1)], address1="1 Other Road")
    someone_else = place(ctx, shop, 905, [("A", 1)], email="someone@example.com")
    groups = {group_of(ctx, oid) for oid in (first, elsewhere, someone_else)}
    assert len(groups) == 3 and None not in groups
    assert window_ends(ctx) == 3
    assert [fo.consolidation_id for fo in fulfilment_orders(ctx)] == [None, None, None]
    assert wms.accepted_count == 3


def test_an_order_after_the_window_starts_a_new_group(ctx: Context, shop: Shop) -> None:
    first = place(ctx, shop, 906, [("A", 1)])
    window_ends(ctx)
    assert status(ctx, first) == "released"
    (fo,) = fulfilment_orders(ctx)
    assert fo.consolidation_id is None  # a group of one routes as a plain order
    later = place(ctx, shop, 907, [("B", 1)])
    assert status(ctx, later) == "on_hold"
    assert group_of(ctx, later) not in (None, group_of(ctx, first))


def test_the_sweeper_routes_a_group_once_its_window_has_passed(ctx: Context, shop: Shop) -> None:
    first = place(ctx, shop, 951, [("A", 1)])
    second = place(ctx, shop, 952, [("B", 1)])
    sweep(ctx, now=utcnow() + timedelta(minutes=WINDOW - 5))
    drain(ctx)
    assert (status(ctx, first), status(ctx, second)) == ("on_hold", "on_hold")
    sweep(ctx, now=utcnow() + timedelta(minutes=WINDOW + 1))
    drain(ctx)
    assert (status(ctx, first), status(ctx, second)) == ("released", "released")
    assert len(fulfilment_orders(ctx)) == 1


def test_a_hold_is_counted_from_the_first_order_of_the_group(ctx: Context, shop: Shop) -> None:
    first = place(ctx, shop, 908, [("A", 1)])
    place(ctx, shop, 909, [("B", 1)])
    with unit_of_work(ctx.sessions) as s:
        group = s.get_one(Consolidation, group_of(ctx, first))
        opened, until = group.created_at, group.hold_until
    assert until - opened == timedelta(minutes=WINDOW)
    assert route_due_groups(ctx, now=until - timedelta(seconds=1)) == 0
    assert route_due_groups(ctx, now=until) == 1


def test_a_rule_without_consolidate_routes_at_once(ctx: Context, shop: Shop) -> None:
    publish(ctx, {**MERGE_RULES, "rules": [], "default": {"consolidate": {"window_minutes": 0}}})
    oid = place(ctx, shop, 910, [("A", 1)])
    assert status(ctx, oid) == "released"
    assert group_of(ctx, oid) is None
    with unit_of_work(ctx.sessions) as s:
        assert s.scalars(select(Consolidation)).first() is None


def test_cancelling_a_held_order_leaves_the_other_to_ship_alone(
    ctx: Context, shop: Shop, client: TestClient, wms: FakeWms
) -> None:
    first = place(ctx, shop, 911, [("A", 1)])
    second = place(ctx, shop, 912, [("B", 1)])
    group = group_of(ctx, first)
    answer = client.post(
        f"/api/v1/orders/{first}/cancel",
        json={"reason": "changed mind"},
        headers=auth(ctx, Role.OPS),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["units_released"] == 0
    assert group_of(ctx, first) is None and group_of(ctx, second) == group
    assert any(f"left consolidation group {group}" in n for n in notes(ctx, second))
    window_ends(ctx)
    assert (status(ctx, first), status(ctx, second)) == ("cancelled", "released")
    (fo,) = fulfilment_orders(ctx)
    assert fo.order_id == second and fo.consolidation_id is None
    (payload,) = wms.accepted.values()
    assert [ln["sku"] for ln in payload["lines"]] == ["B"]


def test_the_channel_changing_or_cancelling_a_held_order(ctx: Context, shop: Shop) -> None:
    first = place(ctx, shop, 941, [("A", 1)])
    second = place(ctx, shop, 942, [("B", 1)])
    group = group_of(ctx, first)
    newer = (T0 + timedelta(hours=1)).replace(tzinfo=UTC)
    changed: dict[str, Any] = json.loads(order_body(941, [("A", 3)]))
    cancelled: dict[str, Any] = json.loads(order_body(942, [("B", 1)]))
    cancelled["cancelled_at"] = newer.isoformat()
    for data in (changed, cancelled):  # taken in this order (by id)
        data["updated_at"] = newer.isoformat()
        shop.remote.put(data, newer)
    shop.polls += 60
    poll(ctx, shop)
    drain(ctx)
    # The new version is validated again and waits in the same group, which the
    # cancelled order leaves.
    assert status(ctx, first) == "on_hold" and group_of(ctx, first) == group
    assert status(ctx, second) == "cancelled" and group_of(ctx, second) is None
    assert any(f"left consolidation group {group}: changed" in n for n in notes(ctx, first))
    assert any(f"left consolidation group {group}: cancelled" in n for n in notes(ctx, second))
    window_ends(ctx)
    (fo,) = fulfilment_orders(ctx)
    assert fo.order_id == first and fo.consolidation_id is None
    assert reserved(ctx) == {"A": 3, "B": 0}


def test_cancelling_every_held_order_dissolves_the_group(
    ctx: Context, shop: Shop, client: TestClient
) -> None:
    first = place(ctx, shop, 913, [("A", 1)])
    second = place(ctx, shop, 914, [("B", 1)])
    group = group_of(ctx, first)
    for oid in (first, second):
        r = client.post(
            f"/api/v1/orders/{oid}/cancel", json={"reason": "x"}, headers=auth(ctx, Role.OPS)
        )
        assert r.status_code == 200, r.text
    got = client.get(f"/api/v1/consolidations/{group}", headers=auth(ctx, Role.SUPPORT))
    assert got.json()["status"] == "dissolved" and got.json()["orders"] == []
    assert window_ends(ctx) == 0


def test_cancelling_a_merged_order_before_its_warehouse_has_it_reroutes_the_rest(
    ctx: Context, shop: Shop, client: TestClient, wms: FakeWms
) -> None:
    first = place(ctx, shop, 915, [("A", 2)])
    second = place(ctx, shop, 916, [("B", 1)])
    wms.set_down(True)  # the group's release waits in the outbox
    window_ends(ctx)
    assert (status(ctx, first), status(ctx, second)) == ("routed", "routed")
    assert reserved(ctx) == {"A": 2, "B": 1}
    for oid in (first, second):  # not one order's alone to move elsewhere
        r = client.post(f"/api/v1/orders/{oid}/reroute", headers=auth(ctx, Role.OPS))
        assert r.status_code == 409 and r.json()["code"] == "consolidated", r.text

    answer = client.post(
        f"/api/v1/orders/{first}/cancel", json={"reason": "fraud"}, headers=auth(ctx, Role.OPS)
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["units_released"] == 2
    assert reserved(ctx) == {"A": 0, "B": 1}
    merged, alone = fulfilment_orders(ctx)
    assert merged.status == "cancelled" and merged.consolidation_id is not None
    assert alone.status == "pending" and alone.order_id == second
    assert alone.consolidation_id is None
    assert any("was cancelled; routing the rest" in n for n in notes(ctx, second))

    wms.set_down(False)
    with unit_of_work(ctx.sessions) as s:  # the retry of the withdrawn release comes due
        for msg in s.scalars(select(OutboxMessage).where(OutboxMessage.status == "pending")):
            ctx.dispatcher.enqueue(Task.DELIVER_OUTBOX, msg.id)
    drain(ctx)
    assert (status(ctx, first), status(ctx, second)) == ("cancelled", "released")
    (payload,) = wms.accepted.values()
    assert payload["fulfilment_order_id"] == alone.id
    assert [ln["sku"] for ln in payload["lines"]] == ["B"]


def test_a_rejected_merged_order_is_split_back_and_each_part_rerouted(
    ctx: Context, shop: Shop, wms: FakeWms
) -> None:
    first = place(ctx, shop, 917, [("A", 1)])
    second = place(ctx, shop, 918, [("B", 1)])
    wms.set_down(True)
    window_ends(ctx)
    (merged,) = fulfilment_orders(ctx)
    result = reroute_fulfilment(ctx, merged.id, reason="rejected", actor="wms")
    assert result.rejected_fulfilment_order_id == merged.id
    fos = fulfilment_orders(ctx)[1:]
    assert sorted((fo.order_id, fo.warehouse_id, fo.consolidation_id) for fo in fos) == [
        (first, shop.world.warehouse_ids["WEST"], None),
        (second, shop.world.warehouse_ids["WEST"], None),
    ]
    assert reserved(ctx) == {"A": 1, "B": 1}
    wms.set_down(False)
    drain(ctx)
    assert (status(ctx, first), status(ctx, second)) == ("released", "released")


def test_ops_release_a_held_group_early(ctx: Context, shop: Shop, client: TestClient) -> None:
    first = place(ctx, shop, 919, [("A", 1)])
    second = place(ctx, shop, 920, [("B", 1)])
    group = group_of(ctx, first)
    url = f"/api/v1/consolidations/{group}"
    assert client.post(f"{url}/release", headers=auth(ctx, Role.SUPPORT)).status_code == 403
    seen = client.get(url, headers=auth(ctx, Role.SUPPORT)).json()
    assert seen["status"] == "open" and [o["id"] for o in seen["orders"]] == [first, second]
    # A token limited to other channels does not see the group; one limited to its own does.
    elsewhere = create_token(
        ctx, role=Role.OPS, name="shopify ops", connector_ids=[shop.world.shopify_id]
    )
    assert client.get(url, headers={"Authorization": f"Bearer {elsewhere}"}).status_code == 404
    refused = client.post(f"{url}/release", headers={"Authorization": f"Bearer {elsewhere}"})
    assert refused.status_code == 404
    own = create_token(ctx, role=Role.SUPPORT, name="own", connector_ids=[shop.connector_id])
    assert client.get(url, headers={"Authorization": f"Bearer {own}"}).status_code == 200

    r = client.post(f"{url}/release", headers=auth(ctx, Role.OPS))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "routed"
    drain(ctx)
    assert (status(ctx, first), status(ctx, second)) == ("released", "released")
    again = client.post(f"{url}/release", headers=auth(ctx, Role.OPS))
    assert again.status_code == 409 and again.json()["code"] == "not_open"
    assert (
        client.get("/api/v1/consolidations/999999", headers=auth(ctx, Role.OPS)).status_code == 404
    )
    detail = client.get(f"/api/v1/orders/{first}", headers=auth(ctx, Role.SUPPORT)).json()
    assert detail["consolidation"]["id"] == group
    assert detail["fulfilment_orders"][0]["consolidation_id"] == group


def test_ops_routing_one_held_order_now_takes_it_out_of_its_group(
    ctx: Context, shop: Shop, client: TestClient
) -> None:
    first = place(ctx, shop, 923, [("A", 1)])
    second = place(ctx, shop, 924, [("B", 1)])
    group = group_of(ctx, first)
    r = client.post(f"/api/v1/orders/{first}/reroute", headers=auth(ctx, Role.OPS))
    assert r.status_code == 200, r.text
    drain(ctx)
    assert (status(ctx, first), status(ctx, second)) == ("released", "on_hold")
    assert group_of(ctx, first) is None and group_of(ctx, second) == group


def test_two_workers_holding_orders_of_one_customer_open_one_group(
    ctx: Context, shop: Shop
) -> None:
    put(shop, 921, [("A", 1)])
    put(shop, 922, [("B", 1)])
    poll(ctx, shop)
    inbound = [row_id for task, row_id in ctx.dispatcher.drain() if task == Task.PROCESS_INBOUND]  # type: ignore[attr-defined]
    assert len(inbound) == 2
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(row_id: int) -> None:
        try:
            start.wait()
            process_inbound(ctx, row_id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in inbound]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    first, second = order_id(ctx, 921), order_id(ctx, 922)
    assert group_of(ctx, first) == group_of(ctx, second) is not None
    with unit_of_work(ctx.sessions) as s:
        assert len(s.scalars(select(Consolidation)).all()) == 1


def test_a_second_opener_waits_for_the_first_and_joins_its_group(ctx: Context) -> None:
    """Deterministic form of the race: the first insert is not committed when the second
    transaction looks; the partial unique index makes it wait and then join."""
    now = utcnow()
    joined: list[int] = []
    first_session = ctx.sessions()
    first_session.begin()
    try:
        mine = join_or_open_group(first_session, "k" * 64, now + timedelta(minutes=5), now).id

        def second() -> None:
            with unit_of_work(ctx.sessions) as s:
                joined.append(join_or_open_group(s, "k" * 64, now, now).id)

        thread = threading.Thread(target=second)
        thread.start()
        thread.join(timeout=0.5)
        assert thread.is_alive()  # blocked behind the first transaction
        first_session.commit()
        thread.join(timeout=30)
    finally:
        first_session.close()
    assert joined == [mine]
