"""An X12 trading partner's files in: through ``POST /edi/{id}``, the CLI and the inbox folder,
each interchange kept raw, each 850 an order that routes and releases, 997/TA1 written with
the partner's control numbers and read back by our parser; what is refused is kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from omniroute.cli.main import app as cli
from omniroute.connectors.edi_x12.inbound import AckReceived, InterchangeRead, read_inbound
from omniroute.connectors.edi_x12.serializer import (
    seg,
)
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.bootstrap import Context
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import (
    Connector,
    EdiControlNumber,
    InboundMessage,
    OrderException,
    SalesOrder,
)
from omniroute.core.stock import warehouses
from omniroute.worker.handlers import drain
from tests.conftest import SECRET_KEY
from tests.integration.edi_support import (
    SAMPLES,
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


def test_edinet_850_becomes_a_released_order_and_is_acknowledged(
    client: TestClient, ctx: Context, world: dict[str, int], wms: FakeWms, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    partner = edinet_partner(ctx, out)
    warehouses.create_alias(ctx, partner, "vendor_part:0054321", "MUG", actor="test")
    warehouses.create_alias(ctx, partner, "gtin:012345678905", "TEA", actor="test")
    # Two interchanges in one file: the sample, and ours with another control number.
    raw = (SAMPLES / "edinet_x12.850.edi").read_bytes() + our_850(56, "PO-56")

    r = post_file(client, partner, raw)
    assert r.status_code == 202, r.text
    entries = r.json()["interchanges"]
    assert [(e["interchange"], e["status"]) for e in entries] == [
        ("01:000123456:000000055", "accepted"),
        ("01:000123456:000000056", "accepted"),
    ]
    drain(ctx)

    with unit_of_work(ctx.sessions) as s:
        orders = {o.external_id: o for o in s.scalars(select(SalesOrder))}
        assert {k: o.status for k, o in orders.items()} == {
            "1000012": "released",
            "PO-56": "released",
        }
        # the location code took the address from the partner's book
        assert orders["PO-56"].ship_to["city"] == "Albany"
        kinds = s.execute(
            select(InboundMessage.topic, func.count()).group_by(InboundMessage.topic)
        ).all()
    assert dict(kinds) == {"edi.interchange": 2, "edi.set": 2}
    assert wms.accepted_count == 2

    acks = sent_documents(out, "997")
    assert len(acks) == 2
    for ack in acks:
        read = [e for e in read_inbound(ack, channel="check") if isinstance(e, AckReceived)]
        assert len(read) == 1 and read[0].ack.code == "A", ack
    # the sample's IEA count is wrong: a TA1 E 001 answers it, nothing is lost
    (ta1,) = sent_documents(out, "TA1")
    (end,) = [e for e in read_inbound(ta1, channel="check") if isinstance(e, InterchangeRead)]
    assert [(t.code, t.note) for t in end.received_ta1s] == [("E", "001")]


def test_a_repeated_interchange_is_answered_ta1_025_and_makes_no_second_order(
    client: TestClient, ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    partner = edinet_partner(ctx, out)
    body = our_850(77, "PO-77")
    assert post_file(client, partner, body).json()["interchanges"][0]["status"] == "accepted"
    drain(ctx)
    again = post_file(client, partner, body)
    assert again.status_code == 202
    (entry,) = again.json()["interchanges"]
    assert entry["status"] == "duplicate" and entry["inbound_id"] is None
    drain(ctx)

    with unit_of_work(ctx.sessions) as s:
        assert s.scalar(select(func.count()).select_from(SalesOrder)) == 1
        numbers = {row.scope: row.last_value for row in s.scalars(select(EdiControlNumber))}
    (ta1,) = sent_documents(out, "TA1")
    (end,) = [e for e in read_inbound(ta1, channel="check") if isinstance(e, InterchangeRead)]
    assert [(t.control_number, t.code, t.note) for t in end.received_ta1s] == [
        ("000000077", "R", "025")
    ]
    # the 997 took interchange 1, the TA1 interchange 2: never reused, increasing
    assert numbers == {"interchange": 2, "group": 1}
    assert end.end.header.control_number == "000000002"


def test_bad_token_unknown_partner_and_a_non_partner_are_refused(
    client: TestClient, ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    partner = edinet_partner(ctx, tmp_path)
    body = our_850(1, "PO-1")
    wrong = post_file(client, partner, body, token="nope")
    assert wrong.status_code == 401
    assert wrong.headers["content-type"].startswith("application/problem+json")
    assert wrong.json()["code"] == "bad_token"
    missing = client.post(f"/edi/{partner}", content=body)
    assert missing.status_code == 401
    assert post_file(client, 999_999, body).status_code == 404
    shop = 2  # build_world's Shopify connector: not a trading partner
    assert post_file(client, shop, body).status_code == 404
    with unit_of_work(ctx.sessions) as s:
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 0


def test_another_sender_is_kept_raw_and_rejected_with_ta1(
    client: TestClient, ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    partner = x12_partner(ctx, out, our_q="ZZ", our_id="PARTNERID", their_q="ZZ", their_id="OTHER")
    r = post_file(client, partner, our_850(9, "PO-9"))
    (entry,) = r.json()["interchanges"]
    assert entry["status"] == "rejected"
    assert "ISA05/06 01:000123456 is not this partner" in entry["reasons"][0]
    drain(ctx)
    with unit_of_work(ctx.sessions) as s:
        row = s.scalars(select(InboundMessage)).one()
        assert row.status == "failed" and row.body == our_850(9, "PO-9")
        exc = s.scalars(select(OrderException)).one()
        assert exc.reason == "invalid_payload" and "ISA05/06" in exc.detail["message"]
        assert s.scalar(select(func.count()).select_from(SalesOrder)) == 0
    (ta1,) = sent_documents(out, "TA1")
    (end,) = [e for e in read_inbound(ta1, channel="check") if isinstance(e, InterchangeRead)]
    assert [(t.code, t.note) for t in end.received_ta1s] == [("R", "006")]


def test_a_broken_envelope_is_kept_and_answered(
    client: TestClient, ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    partner = edinet_partner(ctx, out)
    good = our_850(12, "PO-12")
    broken = good.replace(b"IEA*1*000000012", b"IEA*3*000000099")
    (entry,) = post_file(client, partner, broken).json()["interchanges"]
    drain(ctx)
    with unit_of_work(ctx.sessions) as s:
        row = s.scalars(
            select(InboundMessage).where(InboundMessage.topic == "edi.interchange")
        ).one()
        assert row.body == broken
    (ta1,) = sent_documents(out, "TA1")
    (end,) = [e for e in read_inbound(ta1, channel="check") if isinstance(e, InterchangeRead)]
    (verdict,) = end.received_ta1s
    assert verdict.code in ("R", "E") and verdict.note in ("001", "021")
    assert entry["status"] == ("rejected" if verdict.code == "R" else "accepted")


def test_not_x12_at_all_is_kept_and_rejected(
    client: TestClient, ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    partner = edinet_partner(ctx, tmp_path / "out")
    (entry,) = post_file(client, partner, b"hello, this is not EDI").json()["interchanges"]
    assert entry["status"] == "rejected" and entry["interchange"].startswith("sha256:")
    drain(ctx)
    with unit_of_work(ctx.sessions) as s:
        row = s.scalars(select(InboundMessage)).one()
        assert row.status == "failed" and row.body == b"hello, this is not EDI"
        assert s.scalars(select(OrderException)).one().reason == "invalid_payload"


def test_unknown_items_wait_for_their_alias_and_the_bots_sample_routes(
    client: TestClient, ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    partner = x12_partner(
        ctx, out, our_q="ZZ", our_id="test22222", their_q="08", their_id="AAAAAAAAAA"
    )
    r = post_file(client, partner, (SAMPLES / "bots_850-004010-01.x12").read_bytes())
    assert r.json()["interchanges"][0]["status"] == "accepted", r.text
    drain(ctx)
    with unit_of_work(ctx.sessions) as s:
        order = s.scalars(select(SalesOrder)).one()
        assert order.external_id == "91393058" and order.status == "exception"
        found = {e.reason: e for e in s.scalars(select(OrderException))}
        assert set(found) == {"unknown_sku"}, {k: e.detail for k, e in found.items()}
        named = str(found["unknown_sku"].detail)
    assert "add the alias 'buyer_catalog:17920108'" in named, named
    for code in ("17920108", "17920207", "17930107", "17930206"):
        warehouses.map_alias(ctx, partner, f"buyer_catalog:{code}", "SHIRT", actor="test")
    for code in ("17940106", "17940205", "17950105", "17950204"):
        warehouses.map_alias(ctx, partner, f"buyer_catalog:{code}", "MUG", actor="test")
    drain(ctx)
    with unit_of_work(ctx.sessions) as s:
        assert s.scalars(select(SalesOrder)).one().status == "released"
    (ack,) = sent_documents(out, "997")
    read = [e for e in read_inbound(ack, channel="check") if isinstance(e, AckReceived)]
    assert read[0].ack.code == "A"


def test_the_cli_imports_a_file_for_a_partner(
    ctx: Context, world: dict[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    partner = edinet_partner(ctx, tmp_path / "out")
    path = tmp_path / "po.x12"
    path.write_bytes(our_850(31, "PO-31"))
    monkeypatch.setenv("OMNIROUTE_DATABASE_URL", ctx.settings.database_url)
    monkeypatch.setenv("OMNIROUTE_SECRET_KEY", SECRET_KEY)
    result = CliRunner().invoke(cli, ["edi", "import", str(path), "--partner", str(partner)])
    assert result.exit_code == 0, result.output
    assert '"status": "accepted"' in result.output
    again = CliRunner().invoke(cli, ["edi", "import", str(path), "--partner", str(partner)])
    assert '"status": "duplicate"' in again.output
    with unit_of_work(ctx.sessions) as s:
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 1


def test_the_inbox_folder_is_swept_into_done_and_failed(
    ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    from omniroute.core.housekeeping.sweeper import sweep

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    partner = edinet_partner(ctx, tmp_path / "out")
    with unit_of_work(ctx.sessions) as s:
        row = s.get_one(Connector, partner)
        row.config = {**row.config, "inbox_directory": str(inbox)}
    warehouses.create_alias(ctx, partner, "gtin:012345678905", "TEA", actor="test")
    (inbox / "po-1.x12").write_bytes(our_850(41, "PO-41"))
    (inbox / "junk.txt").write_bytes(b"not an interchange")
    (inbox / "half.x12.part").write_bytes(b"ISA*00")  # still being written: left alone
    sweep(ctx)
    drain(ctx)
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == ["half.x12.part"]
    assert [p.name for p in (inbox / "done").iterdir()] == ["po-1.x12"]
    failed = sorted(p.name for p in (inbox / "failed").iterdir())
    assert failed == ["junk.txt", "junk.txt.reason"]
    assert "expected an ISA header" in (inbox / "failed" / "junk.txt.reason").read_text()
    with unit_of_work(ctx.sessions) as s:
        order = s.scalars(select(SalesOrder)).one()
        assert (order.external_id, order.status) == ("PO-41", "released")
        kept = s.scalars(select(InboundMessage).where(InboundMessage.status == "failed")).one()
        assert kept.body == b"not an interchange"
    (inbox / "po-1.x12").write_bytes(our_850(41, "PO-41"))  # the same again: a duplicate
    sweep(ctx)
    assert sorted(p.name for p in (inbox / "done").iterdir()) == ["po-1.x12", "po-1.x12.1"]


def test_a_refused_set_is_rejected_in_the_997_kept_and_the_rest_goes_on(
    client: TestClient, ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    partner = edinet_partner(ctx, out)
    warehouses.create_alias(ctx, partner, "gtin:012345678905", "TEA", actor="test")
    good = [
        seg("BEG", "00", "SA", "PO-91", None, "20261207"),
        seg("N1", "ST", "Store 12", "92", "0012"),
        seg("PO1", "1", "1", "EA", "4.00", None, "UP", "012345678905"),
        seg("CTT", "1"),
    ]
    no_po_number = [seg("BEG", "00", "SA", None, None, "20261207"), *good[1:]]
    post_file(client, partner, po_interchange("X-91", good, no_po_number))
    drain(ctx)

    (ack,) = sent_documents(out, "997")
    (read,) = [e for e in read_inbound(ack, channel="c") if isinstance(e, AckReceived)]
    assert read.ack.code == "P"  # partially accepted
    assert [(s.control_number, s.code) for s in read.ack.sets] == [("0001", "A"), ("0002", "R")]
    with unit_of_work(ctx.sessions) as s:
        order = s.scalars(select(SalesOrder)).one()
        assert (order.external_id, order.status) == ("PO-91", "released")
        refused = s.scalars(select(InboundMessage).where(InboundMessage.status == "failed")).one()
        assert refused.topic == "edi.set"
        exc = s.scalars(select(OrderException)).one()
        assert exc.reason == "invalid_payload" and exc.inbound_message_id == refused.id
        assert "BEG03" in exc.detail["message"]


def test_an_order_waiting_for_its_ship_to_goes_on_once_the_book_has_it(
    client: TestClient, ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    from omniroute.core.exceptions.queue import retry_exception

    partner = edinet_partner(ctx, tmp_path / "out")
    warehouses.create_alias(ctx, partner, "gtin:012345678905", "TEA", actor="test")
    body = [
        seg("BEG", "00", "SA", "PO-95", None, "20261207"),
        seg("N1", "ST", "New store", "92", "0777"),
        seg("PO1", "1", "1", "EA", "4.00", None, "UP", "012345678905"),
        seg("CTT", "1"),
    ]
    post_file(client, partner, po_interchange("X-95", body))
    drain(ctx)
    with unit_of_work(ctx.sessions) as s:
        assert s.scalars(select(SalesOrder)).one().status == "exception"
        exc = s.scalars(select(OrderException)).one()
        assert exc.reason == "bad_address"
        exception_id = exc.id
        row = s.get_one(Connector, partner)
        book = dict(row.config["locations"])
        book["92:0777"] = {**book["92:0012"], "address1": "777 New Rd"}
        row.config = {**row.config, "locations": book}
    retry_exception(ctx, exception_id, actor="support")
    drain(ctx)
    with unit_of_work(ctx.sessions) as s:
        order = s.scalars(select(SalesOrder)).one()
        assert order.status == "released" and order.ship_to["address1"] == "777 New Rd"


def test_a_file_is_streamed_under_the_edi_limit_and_refused_over_it(
    db_url: str, wms: FakeWms, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.requests import Request

    from omniroute.api.app import create_app
    from omniroute.core.bootstrap import bootstrap
    from tests.conftest import make_settings

    limit = 3 * 1_048_576
    ctx = bootstrap(make_settings(db_url, edi_max_body_bytes=limit))

    async def never(self: Request) -> bytes:
        raise AssertionError("the EDI route read the body whole")

    monkeypatch.setattr(Request, "body", never)
    try:
        edi_world(ctx, wms)
        partner = edinet_partner(ctx, tmp_path / "out")
        # a few MB (over the 1 MB every other route keeps): line breaks after the IEA
        big = our_850(5, "PO-5") + b"\n" * (2 * 1_048_576)
        assert len(big) > ctx.settings.max_body_bytes
        with TestClient(create_app(ctx)) as client:
            r = post_file(client, partner, big)
            assert r.status_code == 202, r.text
            assert [e["status"] for e in r.json()["interchanges"]] == ["accepted"]
            huge = our_850(6, "PO-6") + b"\n" * limit
            r = post_file(client, partner, huge)
            assert r.status_code == 413
            assert r.headers["content-type"].startswith("application/problem+json")
            r = client.post("/webhooks/1", content=b"{" + b" " * (2 * 1_048_576) + b"}")
            assert r.status_code == 413  # other routes keep their limit
        with unit_of_work(ctx.sessions) as s:
            (row,) = s.scalars(select(InboundMessage)).all()
            assert row.body == big  # stored raw, byte for byte
    finally:
        ctx.close()
