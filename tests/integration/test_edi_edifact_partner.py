"""An EDIFACT trading partner: ORDERS in through ``POST /edi/{id}`` as released orders with
their CONTRL and ORDRSP, a broken interchange kept and rejected, shipments as DESADV."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.bootstrap import Context
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import (
    Connector,
    InboundMessage,
    OrderException,
    SalesOrder,
)
from omniroute.core.stock import warehouses
from omniroute.worker.handlers import drain
from tests.integration.builders import stock
from tests.integration.edi_support import (
    EDIFACT,
    agree,
    bots_orders_in,
    edi_world,
    edifact_partner,
    post_file,
)


def _ship(ctx: Context, external_id: str, tracking: str) -> None:
    """The warehouse ships the whole of one order, and the worker catches up."""
    from omniroute.core.fulfilment.shipments import ShipmentInput, confirm_shipment
    from omniroute.core.order_state.holdings import of_order
    from omniroute.core.platform.models import FulfilmentOrder

    with unit_of_work(ctx.sessions) as s:
        order = s.scalars(select(SalesOrder).where(SalesOrder.external_id == external_id)).one()
        fo_id = s.scalars(select(FulfilmentOrder.id).where(of_order(order.id))).one()
    shipment = ShipmentInput(f"S-{external_id}", None, tracking_number=tracking)
    confirm_shipment(ctx, fo_id, shipment, actor="w")
    drain(ctx)


@pytest.fixture
def world(ctx: Context, wms: FakeWms) -> dict[str, int]:
    return edi_world(ctx, wms)


def test_edifact_orders_become_released_orders_and_get_a_contrl(
    client: TestClient, ctx: Context, world: dict[str, int], wms: FakeWms, tmp_path: Path
) -> None:
    from omniroute.connectors.edi_edifact.envelope import parse_interchanges

    out = tmp_path / "out"
    partner = edifact_partner(ctx, out, "8712345678906", "PARTNER2")
    stock(ctx, world["EAST"], "MUG", 20_000)  # the sample orders ten thousand of one
    for gtin in ("2000100873151", "2000100873168", "2000100873175", "2000100873182"):
        warehouses.create_alias(ctx, partner, f"gtin:{gtin}", "MUG", actor="test")
    raw = (EDIFACT / "bots_my_first_plugin_order01.edi").read_bytes()
    r = post_file(client, partner, raw)
    assert [e["status"] for e in r.json()["interchanges"]] == ["accepted", "accepted"], r.text
    drain(ctx)
    with unit_of_work(ctx.sessions) as s:
        orders = {o.external_id: o.status for o in s.scalars(select(SalesOrder))}
        why = [(e.reason, e.detail) for e in s.scalars(select(OrderException))]
    assert orders == {f"ORDT0000000004-{n}": "released" for n in (1, 2, 3)}, why
    contrls = sorted(out.glob("CONTRL_*.edi"))
    assert len(contrls) == 2
    for path in contrls:
        (ic,) = parse_interchanges(path.read_text())
        (msg,) = ic.messages
        uci = next(seg for seg in msg.segments if seg.tag == "UCI")
        assert uci.value(3) == "7", path.read_text()  # acknowledged
    responses = sorted(out.glob("ORDRSP_*.edi"))
    assert len(responses) == 3  # one per order, after routing
    seen = set()
    for path in responses:
        (ic,) = parse_interchanges(path.read_text())
        assert not list(ic.all_problems()), path.read_text()
        (msg,) = ic.messages
        assert msg.type == "ORDRSP"
        tags = [seg.tag for seg in msg.segments]
        assert "LIN" in tags and "QTY" in tags
        seen.add(ic.control_reference)
    assert len(seen) == 3
    again = post_file(client, partner, raw).json()["interchanges"]
    assert [e["status"] for e in again] == ["duplicate", "duplicate"]


def test_an_edifact_interchange_without_unz_is_kept_and_rejected_by_contrl(
    client: TestClient, ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    from omniroute.connectors.edi_edifact.envelope import parse_interchanges

    out = tmp_path / "out"
    partner = edifact_partner(ctx, out, "12345678", "WBDZDD")
    raw = (EDIFACT / "pydifact_order.edi").read_bytes()
    (entry,) = post_file(client, partner, raw).json()["interchanges"]
    assert entry["status"] == "rejected" and "UNZ" in entry["reasons"][0]
    drain(ctx)
    with unit_of_work(ctx.sessions) as s:
        row = s.scalars(select(InboundMessage)).one()
        assert row.status == "failed" and row.body == raw
        assert s.scalar(select(func.count()).select_from(SalesOrder)) == 0
    (path,) = out.glob("CONTRL_*.edi")
    (ic,) = parse_interchanges(path.read_text())
    uci = next(seg for seg in ic.messages[0].segments if seg.tag == "UCI")
    assert uci.value(3) == "4"  # rejected


def test_an_edifact_shipment_is_sent_as_a_desadv(
    client: TestClient, ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    from omniroute.connectors.edi_edifact.envelope import parse_interchanges

    out = tmp_path / "out"
    partner = edifact_partner(ctx, out, "8712345678906", "PARTNER2")
    with unit_of_work(ctx.sessions) as s:
        row = s.get_one(Connector, partner)
        row.config = {**row.config, "send": ["DESADV"]}
    stock(ctx, world["EAST"], "MUG", 20_000)
    for gtin in ("2000100873151", "2000100873168", "2000100873175", "2000100873182"):
        warehouses.create_alias(ctx, partner, f"gtin:{gtin}", "MUG", actor="test")
    raw = (EDIFACT / "bots_my_first_plugin_order01.edi").read_bytes()
    post_file(client, partner, raw)
    drain(ctx)
    _ship(ctx, "ORDT0000000004-1", "TRK1")
    (path,) = out.glob("DESADV_*.edi")
    (ic,) = parse_interchanges(path.read_text())
    assert not list(ic.all_problems()), path.read_text()
    (msg,) = ic.messages
    assert msg.type == "DESADV"
    text = path.read_text()
    assert "RFF+ON:ORDT0000000004-1" in text and "RFF+CN:TRK1" in text


GOLDEN_INVOIC = EDIFACT.parents[1] / "edi_golden" / "edifact" / "shipped.invoic.edi"


def _undated(text: str) -> str:
    """The document without the moments the clock gives (UNB's preparation, DTM+137)."""
    import re

    text = re.sub(r"\+\d{6}:\d{4}\+", "+YYMMDD:HHMM+", text, count=1)
    return re.sub(r"DTM\+137:\d{12}:203", "DTM+137:CCYYMMDDHHMM:203", text)


def test_an_edifact_shipment_is_invoiced_with_an_invoic_from_its_shipped_lines(
    client: TestClient, ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    from omniroute.connectors.edi_edifact.envelope import parse_interchanges
    from omniroute.core.fulfilment.shipments import ShipmentInput, confirm_shipment
    from omniroute.core.order_state.holdings import of_order
    from omniroute.core.platform.models import FulfilmentOrder, OrderLine

    out = tmp_path / "out"
    partner = edifact_partner(ctx, out, "8712345678906", "PARTNER2")
    agree(ctx, partner, send=["DESADV", "INVOIC"], invoice_tax_rate="19")
    bots_orders_in(ctx, client, partner, world["EAST"])
    with unit_of_work(ctx.sessions) as s:
        order = s.scalars(
            select(SalesOrder).where(SalesOrder.external_id == "ORDT0000000004-3")
        ).one()
        # the sample's ORDERS carry no PRI: the order's prices come from our price list
        for line in s.scalars(select(OrderLine).where(OrderLine.order_id == order.id)):
            line.unit_price = "0.10"
        fo_id = s.scalars(select(FulfilmentOrder.id).where(of_order(order.id))).one()
    confirm_shipment(ctx, fo_id, ShipmentInput("S-3", None, tracking_number="TRK3"), actor="w")
    drain(ctx)
    (path,) = out.glob("INVOIC_*.edi")
    text = path.read_text(encoding="latin-1")
    assert _undated(text) == GOLDEN_INVOIC.read_text(encoding="latin-1")
    (ic,) = parse_interchanges(text)  # round trip through our own parser
    assert not list(ic.all_problems()), text
    (msg,) = ic.messages
    assert msg.type == "INVOIC"
    quantities = [seg.value(0, 1) for seg in msg.segments if seg.tag == "QTY"]
    assert quantities == ["10", "100", "1000", "10000"]
    moa = {seg.value(0, 0): seg.value(0, 1) for seg in msg.segments if seg.tag == "MOA"}
    assert moa["79"] == "1111.00" and moa["176"] == "211.09" and moa["77"] == "1322.09"
    assert "RFF+ON:ORDT0000000004-3" in text and "CUX+2:EUR:4" in text


def test_an_invoic_without_prices_opens_an_exception_and_keeps_the_shipment(
    client: TestClient, ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    from omniroute.core.platform.models import Shipment

    out = tmp_path / "out"
    partner = edifact_partner(ctx, out, "8712345678906", "PARTNER2")
    agree(ctx, partner, send=["DESADV", "INVOIC"])
    bots_orders_in(ctx, client, partner, world["EAST"], gtins=("2000100873151",))
    _ship(ctx, "ORDT0000000004-1", "T1")
    assert len(list(out.glob("DESADV_*.edi"))) == 1 and list(out.glob("INVOIC_*.edi")) == []
    with unit_of_work(ctx.sessions) as s:
        assert s.scalar(select(func.count()).select_from(Shipment)) == 1
        details = [str(e.detail.get("message")) for e in s.scalars(select(OrderException))]
    assert any("no unit price" in d for d in details), details


def _contrl_from_partner(ours: str, control: str, *, reject: bool = False) -> bytes:
    """The partner's CONTRL on one of our interchanges, written by our own writer."""
    import datetime as dt

    from omniroute.connectors.edi_edifact.contrl import build_contrl
    from omniroute.connectors.edi_edifact.envelope import (
        Party,
        Problem,
        SyntaxErrorCode,
        parse_interchanges,
    )
    from omniroute.connectors.edi_edifact.writer import Envelope, write_interchange

    (ic,) = parse_interchanges(ours)
    rejected = {
        m.reference: [Problem(SyntaxErrorCode.MISSING, 3, "BGM", "missing")] for m in ic.messages
    }
    message = build_contrl(ic, reference="1", rejected=rejected if reject else None)
    envelope = Envelope(
        sender=Party("8712345678906"),
        recipient=Party("PARTNER2"),
        control_reference=control,
        prepared=dt.datetime(2026, 12, 7, 10, 0),
    )
    return write_interchange(envelope, [message]).encode()


def test_a_partners_contrl_on_our_ordrsp_sets_its_ack_state(
    client: TestClient, ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    import datetime as dt

    from omniroute.core.edi.views import partner_interchanges

    out = tmp_path / "out"
    partner = edifact_partner(ctx, out, "8712345678906", "PARTNER2")
    bots_orders_in(ctx, client, partner, world["EAST"])
    first, second, third = sorted(out.glob("ORDRSP_*.edi"))
    contrls_before = len(list(out.glob("CONTRL_*.edi")))
    r = post_file(client, partner, _contrl_from_partner(first.read_text(), "C1"))
    assert [e["status"] for e in r.json()["interchanges"]] == ["accepted"], r.text
    post_file(client, partner, _contrl_from_partner(second.read_text(), "C2", reject=True))
    drain(ctx)
    assert len(list(out.glob("CONTRL_*.edi"))) == contrls_before  # a CONTRL is not answered
    later = ctx.clock.now() + dt.timedelta(hours=1)
    view = partner_interchanges(ctx, partner, now=later)
    docs = {d["filename"]: d for d in view["documents"] if d["doc_type"] == "ORDRSP"}
    assert docs[first.name]["partner_ack"] == "A" and not docs[first.name]["overdue"]
    assert docs[second.name]["partner_ack"] == "R" and not docs[second.name]["overdue"]
    assert docs[third.name]["partner_ack"] is None and docs[third.name]["overdue"]
    with unit_of_work(ctx.sessions) as s:
        assert s.scalar(select(func.count()).select_from(SalesOrder)) == 3  # no new order
