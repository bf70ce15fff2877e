"""Documents to X12 partners from the orders' real state: the 855 after routing, the 856 and
810 of each shipment, the 846 of available-to-sell, and the ops view of what was sent and
acknowledged (or is overdue)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from omniroute.connectors.edi_x12.serializer import (
    GroupOut,
    InterchangeOut,
    Party,
    TransactionOut,
    seg,
    write_interchange,
)
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.bootstrap import Context
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import (
    Connector,
    EdiControlNumber,
    OrderException,
    OutboxMessage,
    SalesOrder,
)
from omniroute.core.stock import warehouses
from omniroute.worker.handlers import drain
from tests.integration.edi_support import (
    agree,
    edi_world,
    edinet_partner,
    our_850,
    po_interchange,
    post_file,
    sent_documents,
    x12_partner,
)


@pytest.fixture
def world(ctx: Context, wms: FakeWms) -> dict[str, int]:
    return edi_world(ctx, wms)


def test_a_routed_order_is_answered_with_an_855_from_its_state(
    client: TestClient, ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    from omniroute.connectors.edi_x12.envelope import parse_interchanges

    out = tmp_path / "out"
    partner = edinet_partner(ctx, out)
    with unit_of_work(ctx.sessions) as s:
        row = s.get_one(Connector, partner)
        row.config = {**row.config, "send": ["997", "855"]}
    warehouses.create_alias(ctx, partner, "gtin:012345678905", "TEA", actor="test")
    post_file(client, partner, our_850(81, "PO-81"))
    drain(ctx)
    post_file(client, partner, our_850(81, "PO-81"))  # a duplicate: no second 855
    drain(ctx)
    (doc,) = sent_documents(out, "855")
    (ic,) = parse_interchanges(doc)
    (ts,) = ic.transactions
    assert not ic.problems and not ts.problems
    tags = {s.tag: s for s in ts.segments}
    assert tags["BAK"].elements[:3] == ("00", "AD", "PO-81")
    assert tags["ACK"].elements[:3] == ("IA", "2", "EA")
    assert tags["PO1"].elements[5:7] == ("UP", "012345678905")
    with unit_of_work(ctx.sessions) as s:
        numbers = {row.scope: row.last_value for row in s.scalars(select(EdiControlNumber))}
    # the 997 and the 855 each took an interchange and a group number
    assert numbers == {"interchange": 2, "group": 2}
    assert int(ic.header.control_number) in (1, 2)


def test_the_ops_view_shows_interchanges_acks_and_what_is_overdue(
    client: TestClient, ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    import datetime as _dt

    from omniroute.core.access.tokens import create_token
    from omniroute.core.edi.views import partner_interchanges
    from omniroute.core.platform.security import Role

    out = tmp_path / "out"
    partner = edinet_partner(ctx, out)
    lost = x12_partner(
        ctx,
        tmp_path / "x",
        "lost",
        our_q="ZZ",
        our_id="PARTNERID",
        their_q="01",
        their_id="000123456",
    )
    with unit_of_work(ctx.sessions) as s:  # no way out: its 997 cannot be sent
        row = s.get_one(Connector, lost)
        row.config = {k: v for k, v in row.config.items() if k != "delivery_directory"}
    warehouses.create_alias(ctx, partner, "gtin:012345678905", "TEA", actor="test")
    post_file(client, partner, our_850(61, "PO-61"))
    post_file(client, lost, our_850(62, "PO-62"))
    drain(ctx)

    token = create_token(ctx, role=Role.ADMIN, name="ops")
    r = client.get(
        f"/api/v1/edi/partners/{partner}/interchanges",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text
    view = r.json()
    (ic,) = view["interchanges"]
    assert ic["interchange"] == "01:000123456:000000061" and ic["status"] == "done"
    assert [(a["doc_type"], a["status"]) for a in ic["acknowledgements"]] == [("997", "sent")]
    (one,) = ic["sets"]
    assert one["reference"] == "PO-61" and one["order_status"] == "released"
    assert view["overdue"] == 0

    later = ctx.clock.now() + _dt.timedelta(hours=1)
    stuck = partner_interchanges(ctx, lost, now=later)
    (ic,) = stuck["interchanges"]
    assert ic["overdue"] and [a["status"] for a in ic["acknowledgements"]] == ["dead"]
    (po,) = ic["sets"]  # the 850 itself: its 997 never went
    assert po["overdue"] and po["overdue_reasons"] == ["997 not sent"]
    assert stuck["overdue"] == 2
    assert (
        client.get(
            "/api/v1/edi/partners/2/interchanges", headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 404
    )


def test_a_shipment_is_sent_to_the_partner_as_an_856(
    client: TestClient, ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    from omniroute.connectors.edi_x12.envelope import parse_interchanges
    from omniroute.core.fulfilment.shipments import ShipmentInput, confirm_shipment
    from omniroute.core.order_state.holdings import of_order
    from omniroute.core.platform.models import FulfilmentOrder

    out = tmp_path / "out"
    partner = edinet_partner(ctx, out)
    with unit_of_work(ctx.sessions) as s:
        row = s.get_one(Connector, partner)
        row.config = {**row.config, "send": ["856", "810"]}
    warehouses.create_alias(ctx, partner, "gtin:012345678905", "TEA", actor="test")
    post_file(client, partner, our_850(88, "PO-88"))
    drain(ctx)
    with unit_of_work(ctx.sessions) as s:
        order = s.scalars(select(SalesOrder)).one()
        fo_id = s.scalars(select(FulfilmentOrder.id).where(of_order(order.id))).one()
    shipment = ShipmentInput(
        "WMS-SHIP-1", None, carrier="UPS", tracking_number="1Z999AA10123456784"
    )
    confirm_shipment(ctx, fo_id, shipment, actor="wms")
    confirm_shipment(ctx, fo_id, shipment, actor="wms")  # the same again: no second 856
    drain(ctx)
    (doc,) = sent_documents(out, "856")
    (ic,) = parse_interchanges(doc)
    (ts,) = ic.transactions
    assert not ic.problems and not ts.problems and ts.set_id == "856"
    text = doc.decode()
    assert "PRF*PO-88" in text and "1Z999AA10123456784" in text
    sn1 = next(s for s in ts.segments if s.tag == "SN1")
    assert sn1.elements[:3] == ("1", "2", "EA")
    (bill,) = sent_documents(out, "810")
    (ic,) = parse_interchanges(bill)
    (ts,) = ic.transactions
    assert not ic.problems and not ts.problems and ts.set_id == "810"
    tags = {s.tag: s for s in ts.segments}
    assert tags["BIG"].elements[3] == "PO-88"
    assert tags["IT1"].elements[:4] == ("1", "2", "EA", "4")
    assert tags["TDS"].elements[0] == "800"  # 2 x 4.00, in cents


def test_an_856_the_partner_never_acknowledged_is_overdue_until_its_997_comes(
    client: TestClient, ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    import datetime as _dt

    from omniroute.core.edi.views import partner_interchanges
    from omniroute.core.fulfilment.shipments import ShipmentInput, confirm_shipment
    from omniroute.core.platform.models import FulfilmentOrder

    out = tmp_path / "out"
    partner = edinet_partner(ctx, out)
    with unit_of_work(ctx.sessions) as s:
        row = s.get_one(Connector, partner)
        row.config = {**row.config, "send": ["856"]}
    warehouses.create_alias(ctx, partner, "gtin:012345678905", "TEA", actor="test")
    post_file(client, partner, our_850(71, "PO-71"))
    drain(ctx)
    with unit_of_work(ctx.sessions) as s:
        fo_id = s.scalars(select(FulfilmentOrder.id)).one()
    confirm_shipment(ctx, fo_id, ShipmentInput("S-71", None, tracking_number="T71"), actor="w")
    drain(ctx)
    later = ctx.clock.now() + _dt.timedelta(hours=2)
    (doc,) = [d for d in partner_interchanges(ctx, partner, now=later)["documents"]]
    assert doc["doc_type"] == "856" and doc["partner_ack"] is None and doc["overdue"]

    # the partner's 997 for our group 1
    body = [seg("AK1", "SH", "1"), seg("AK9", "A", "1", "1", "1")]
    ack = write_interchange(
        InterchangeOut(
            Party("01", "000123456"),
            Party("ZZ", "PARTNERID"),
            72,
            dt.datetime(2026, 12, 7, 11, 0),
            groups=[GroupOut("000123456", "PARTNERID", 9, [TransactionOut("997", 1, body)])],
        )
    )
    assert post_file(client, partner, ack).json()["interchanges"][0]["status"] == "accepted"
    drain(ctx)
    (doc,) = [d for d in partner_interchanges(ctx, partner, now=later)["documents"]]
    assert doc["partner_ack"] == "A" and not doc["overdue"]
    assert doc["partner_ta1"] is None
    # and its TA1 on our interchange 1
    ta1 = (
        b"ISA*00*          *00*          *01*000123456      *ZZ*PARTNERID      "
        b"*261207*1100*U*00401*000000073*0*P*>~"
        b"TA1*000000001*261207*1000*A*000~IEA*0*000000073~"
    )
    post_file(client, partner, ta1)
    drain(ctx)
    (doc,) = [d for d in partner_interchanges(ctx, partner, now=later)["documents"]]
    assert doc["partner_ta1"] == "A"


def test_an_invoice_that_cannot_be_written_keeps_the_shipment_and_opens_an_exception(
    client: TestClient, ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    from omniroute.core.fulfilment.shipments import ShipmentInput, confirm_shipment
    from omniroute.core.platform.models import FulfilmentOrder, Shipment

    out = tmp_path / "out"
    partner = edinet_partner(ctx, out)
    with unit_of_work(ctx.sessions) as s:
        row = s.get_one(Connector, partner)
        row.config = {**row.config, "send": ["856", "810"]}
    warehouses.create_alias(ctx, partner, "gtin:012345678905", "TEA", actor="test")
    no_price = [
        seg("BEG", "00", "SA", "PO-97", None, "20261207"),
        seg("N1", "ST", "Store 12", "92", "0012"),
        seg("PO1", "1", "1", "EA", None, None, "UP", "012345678905"),
        seg("CTT", "1"),
    ]
    post_file(client, partner, po_interchange("X-97", no_price))
    drain(ctx)
    with unit_of_work(ctx.sessions) as s:
        fo_id = s.scalars(select(FulfilmentOrder.id)).one()
    confirm_shipment(ctx, fo_id, ShipmentInput("S-97", None), actor="wms")
    drain(ctx)
    assert len(sent_documents(out, "856")) == 1 and sent_documents(out, "810") == []
    with unit_of_work(ctx.sessions) as s:
        assert s.scalar(select(func.count()).select_from(Shipment)) == 1
        (exc,) = s.scalars(select(OrderException)).all()
        assert exc.reason == "channel_push_failed" and "no unit price" in exc.detail["message"]


def test_available_to_sell_goes_out_as_an_846_once_a_period(
    ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    import datetime as _dt

    from omniroute.connectors.edi_x12.envelope import parse_interchanges
    from omniroute.core.housekeeping.sweeper import sweep
    from omniroute.core.stock.listings import ListingIn, put_listings

    out = tmp_path / "out"
    partner = edinet_partner(ctx, out)
    with unit_of_work(ctx.sessions) as s:
        row = s.get_one(Connector, partner)
        row.config = {**row.config, "send": ["846"], "inventory_every": 60}
    put_listings(
        ctx,
        partner,
        [ListingIn("TEA", "UP:012345678905", buffer=10), ListingIn("MUG", "MUG-1")],
        actor="test",
    )
    at = ctx.clock.now().replace(minute=5, second=0, microsecond=0)
    sweep(ctx, now=at)
    sweep(ctx, now=at + _dt.timedelta(minutes=20))  # the same hour: nothing new
    drain(ctx)
    (doc,) = sent_documents(out, "846")
    (ic,) = parse_interchanges(doc)
    (ts,) = ic.transactions
    assert not ic.problems and not ts.problems
    pairs = [
        (lin.elements[1:3], qty.elements[1])
        for lin, qty in zip(
            [s for s in ts.segments if s.tag == "LIN"],
            [s for s in ts.segments if s.tag == "QTY"],
            strict=True,
        )
    ]
    assert pairs == [(("VN", "MUG-1"), "100"), (("UP", "012345678905"), "90")]
    sweep(ctx, now=at + _dt.timedelta(hours=1))
    drain(ctx)
    assert len(sent_documents(out, "846")) == 2


def test_an_850_whose_997_or_855_never_went_is_overdue_after_the_partners_threshold(
    client: TestClient, ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    import datetime as _dt

    from omniroute.core.edi.views import partner_interchanges

    partner = x12_partner(
        ctx, tmp_path / "x", our_q="ZZ", our_id="PARTNERID", their_q="01", their_id="000123456"
    )
    # no way out, and a 10-minute threshold
    agree(ctx, partner, drop=("delivery_directory",), send=["997", "855"], overdue_minutes=10)
    warehouses.create_alias(ctx, partner, "gtin:012345678905", "TEA", actor="test")
    post_file(client, partner, our_850(63, "PO-63"))
    drain(ctx)
    now = ctx.clock.now()
    soon = partner_interchanges(ctx, partner, now=now + _dt.timedelta(minutes=5))
    assert soon["overdue"] == 0
    later = partner_interchanges(ctx, partner, now=now + _dt.timedelta(minutes=20))
    (ic,) = later["interchanges"]
    (po,) = ic["sets"]
    assert po["order_status"] == "released"
    assert po["overdue_reasons"] == ["997 not sent", "855 not sent"]
    agree(ctx, partner, drop=("overdue_minutes",))  # back to the default half hour
    assert partner_interchanges(ctx, partner, now=now + _dt.timedelta(minutes=20))["overdue"] == 0
    assert partner_interchanges(ctx, partner, now=now + _dt.timedelta(minutes=40))["overdue"] == 2


def test_a_backorder_woken_by_stock_is_answered_again_once_per_change(
    db_url: str, wms: FakeWms, tmp_path: Path
) -> None:
    from omniroute.api.app import create_app
    from omniroute.connectors.edi_x12.envelope import parse_interchanges
    from omniroute.core.bootstrap import bootstrap
    from omniroute.core.order_routing.route import route_order
    from omniroute.core.stock import inventory
    from tests.conftest import make_settings

    ctx = bootstrap(make_settings(db_url, no_stock_policy="backorder"))
    try:
        world = edi_world(ctx, wms)
        east = world["EAST"]
        inventory.set_stock(ctx, east, "SHIRT", on_hand=0, safety=0, actor="test")
        out = tmp_path / "out"
        partner = edinet_partner(ctx, out)
        agree(ctx, partner, send=["997", "855"])
        for gtin, sku in (("012345678905", "TEA"), ("012345678912", "SHIRT")):
            warehouses.create_alias(ctx, partner, f"gtin:{gtin}", sku, actor="test")
        po = [
            seg("BEG", "00", "SA", "PO-71", None, "20261207"),
            seg("N1", "ST", "Store 12", "92", "0012"),
            seg("PO1", "1", "2", "EA", "4.00", None, "UP", "012345678905"),
            seg("PO1", "2", "3", "EA", "9.00", None, "UP", "012345678912"),
            seg("CTT", "2"),
        ]
        with TestClient(create_app(ctx)) as client:
            assert post_file(client, partner, po_interchange("PO-71", po)).status_code == 202
        drain(ctx)

        def acks() -> list[list[tuple[str, ...]]]:
            found = []
            for doc in sent_documents(out, "855"):
                (ic,) = parse_interchanges(doc)
                (ts,) = ic.transactions
                assert not ic.problems and not ts.problems
                found.append([s.elements[:2] for s in ts.segments if s.tag == "ACK"])
            return found

        with unit_of_work(ctx.sessions) as s:
            order = s.scalars(select(SalesOrder)).one()
        assert order.status == "backordered"
        assert acks() == [[("IB", "2"), ("IB", "3")]]

        # one shirt comes in: woken, routed again, still short: the same state, no new 855
        inventory.adjust_stock(ctx, east, "SHIRT", delta=1, actor="t", reason="receipt")
        drain(ctx)
        assert len(acks()) == 1
        # enough: the order is placed whole and the partner hears it once
        inventory.adjust_stock(ctx, east, "SHIRT", delta=5, actor="t", reason="receipt")
        drain(ctx)
        with unit_of_work(ctx.sessions) as s:
            assert s.get_one(SalesOrder, order.id).status == "released"
        assert acks() == [[("IB", "2"), ("IB", "3")], [("IA", "2"), ("IA", "3")]]
        # replays: another receipt, routing asked again, the same file again
        inventory.adjust_stock(ctx, east, "SHIRT", delta=5, actor="t", reason="receipt")
        assert route_order(ctx, order.id) == []
        with TestClient(create_app(ctx)) as client:
            again = post_file(client, partner, po_interchange("PO-71", po)).json()
        assert [e["status"] for e in again["interchanges"]] == ["duplicate"]
        drain(ctx)
        assert len(acks()) == 2
        with unit_of_work(ctx.sessions) as s:
            keys = s.scalars(
                select(OutboxMessage.idempotency_key).where(
                    OutboxMessage.idempotency_key.like(f"edi:{partner}:answer:%")
                )
            ).all()
        assert sorted(keys) == [
            f"edi:{partner}:answer:{order.id}",
            f"edi:{partner}:answer:{order.id}:2",
        ]
    finally:
        ctx.close()
