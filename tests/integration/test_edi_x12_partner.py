"""An X12 trading partner end to end: its files through ``POST /edi/{id}`` (and the CLI),
each interchange kept raw, each 850 an order that routes and releases, 997/TA1 written with
the partner's control numbers into its delivery directory and read back by our parser."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from omniroute.cli.main import app as cli
from omniroute.connectors.edi_x12.inbound import AckReceived, InterchangeRead, read_inbound
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
from omniroute.core.channels import connector_admin
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
from tests.integration.builders import build_world, stock

SAMPLES = Path(__file__).parents[1] / "fixtures" / "third_party" / "x12"
TOKEN = "partner-intake-token-1"


BOOK: dict[str, Any] = {
    "92:0012": {
        "address1": "12 Store Rd",
        "city": "Albany",
        "region": "NY",
        "postal_code": "12207",
        "country": "US",
    },
    # the bots sample's N3/N4 has no country: the partner's book gives it
    "92:333333": {"address1": "Store 333333", "city": "Guaynabo", "country": "US"},
}


def _partner(ctx: Context, out: Path, name: str | None = None, **ids: str) -> int:
    config: dict[str, Any] = {
        "our_qualifier": ids["our_q"],
        "our_id": ids["our_id"],
        "their_qualifier": ids["their_q"],
        "their_id": ids["their_id"],
        "our_code": ids["our_id"],
        "their_code": ids["their_id"],
        "delivery_directory": str(out),
        "send": ["997", "TA1"],
        "locations": BOOK,
    }
    row = connector_admin.create_connector(
        ctx,
        kind="edi_x12",
        name=name or f"partner {ids['their_id']}",
        config=config,
        secrets={"intake_token": TOKEN},
        enabled=True,
        actor="test",
    )
    return row.id


def _edinet_partner(ctx: Context, out: Path) -> int:
    return _partner(ctx, out, our_q="ZZ", our_id="PARTNERID", their_q="01", their_id="000123456")


def _post(client: TestClient, partner: int, body: bytes, token: str = TOKEN) -> Any:
    return client.post(
        f"/edi/{partner}",
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/edi-x12"},
    )


def _sent(out: Path, prefix: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted(out.glob(f"{prefix}_*.x12"))]


def _our_850(control: int, po: str) -> bytes:
    body = [
        seg("BEG", "00", "SA", po, None, "20261207"),
        seg("N1", "ST", "Store 12", "92", "0012"),
        seg("PO1", "1", "2", "EA", "4.00", None, "UP", "012345678905"),
        seg("CTT", "1"),
    ]
    out = InterchangeOut(
        Party("01", "000123456"),
        Party("ZZ", "PARTNERID"),
        control,
        dt.datetime(2026, 12, 7, 9, 0),
        groups=[GroupOut("000123456", "PARTNERID", 5, [TransactionOut("850", 1, body)])],
    )
    return write_interchange(out)


@pytest.fixture
def world(ctx: Context, wms: FakeWms) -> dict[str, int]:
    built = build_world(ctx, wms.base_url)
    for sku in ("MUG", "TEA", "SHIRT"):
        stock(ctx, built.warehouse_ids["EAST"], sku, 100)
    return built.warehouse_ids


def test_edinet_850_becomes_a_released_order_and_is_acknowledged(
    client: TestClient, ctx: Context, world: dict[str, int], wms: FakeWms, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    partner = _edinet_partner(ctx, out)
    warehouses.create_alias(ctx, partner, "vendor_part:0054321", "MUG", actor="test")
    warehouses.create_alias(ctx, partner, "gtin:012345678905", "TEA", actor="test")
    # Two interchanges in one file: the sample, and ours with another control number.
    raw = (SAMPLES / "edinet_x12.850.edi").read_bytes() + _our_850(56, "PO-56")

    r = _post(client, partner, raw)
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

    acks = _sent(out, "997")
    assert len(acks) == 2
    for ack in acks:
        read = [e for e in read_inbound(ack, channel="check") if isinstance(e, AckReceived)]
        assert len(read) == 1 and read[0].ack.code == "A", ack
    # the sample's IEA count is wrong: a TA1 E 001 answers it, nothing is lost
    (ta1,) = _sent(out, "TA1")
    (end,) = [e for e in read_inbound(ta1, channel="check") if isinstance(e, InterchangeRead)]
    assert [(t.code, t.note) for t in end.received_ta1s] == [("E", "001")]


def test_a_repeated_interchange_is_answered_ta1_025_and_makes_no_second_order(
    client: TestClient, ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    partner = _edinet_partner(ctx, out)
    body = _our_850(77, "PO-77")
    assert _post(client, partner, body).json()["interchanges"][0]["status"] == "accepted"
    drain(ctx)
    again = _post(client, partner, body)
    assert again.status_code == 202
    (entry,) = again.json()["interchanges"]
    assert entry["status"] == "duplicate" and entry["inbound_id"] is None
    drain(ctx)

    with unit_of_work(ctx.sessions) as s:
        assert s.scalar(select(func.count()).select_from(SalesOrder)) == 1
        numbers = {row.scope: row.last_value for row in s.scalars(select(EdiControlNumber))}
    (ta1,) = _sent(out, "TA1")
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
    partner = _edinet_partner(ctx, tmp_path)
    body = _our_850(1, "PO-1")
    wrong = _post(client, partner, body, token="nope")
    assert wrong.status_code == 401
    assert wrong.headers["content-type"].startswith("application/problem+json")
    assert wrong.json()["code"] == "bad_token"
    missing = client.post(f"/edi/{partner}", content=body)
    assert missing.status_code == 401
    assert _post(client, 999_999, body).status_code == 404
    shop = 2  # build_world's Shopify connector: not a trading partner
    assert _post(client, shop, body).status_code == 404
    with unit_of_work(ctx.sessions) as s:
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 0


def test_another_sender_is_kept_raw_and_rejected_with_ta1(
    client: TestClient, ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    partner = _partner(ctx, out, our_q="ZZ", our_id="PARTNERID", their_q="ZZ", their_id="OTHER")
    r = _post(client, partner, _our_850(9, "PO-9"))
    (entry,) = r.json()["interchanges"]
    assert entry["status"] == "rejected"
    assert "ISA05/06 01:000123456 is not this partner" in entry["reasons"][0]
    drain(ctx)
    with unit_of_work(ctx.sessions) as s:
        row = s.scalars(select(InboundMessage)).one()
        assert row.status == "failed" and row.body == _our_850(9, "PO-9")
        exc = s.scalars(select(OrderException)).one()
        assert exc.reason == "invalid_payload" and "ISA05/06" in exc.detail["message"]
        assert s.scalar(select(func.count()).select_from(SalesOrder)) == 0
    (ta1,) = _sent(out, "TA1")
    (end,) = [e for e in read_inbound(ta1, channel="check") if isinstance(e, InterchangeRead)]
    assert [(t.code, t.note) for t in end.received_ta1s] == [("R", "006")]


def test_a_broken_envelope_is_kept_and_answered(
    client: TestClient, ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    partner = _edinet_partner(ctx, out)
    good = _our_850(12, "PO-12")
    broken = good.replace(b"IEA*1*000000012", b"IEA*3*000000099")
    (entry,) = _post(client, partner, broken).json()["interchanges"]
    drain(ctx)
    with unit_of_work(ctx.sessions) as s:
        row = s.scalars(
            select(InboundMessage).where(InboundMessage.topic == "edi.interchange")
        ).one()
        assert row.body == broken
    (ta1,) = _sent(out, "TA1")
    (end,) = [e for e in read_inbound(ta1, channel="check") if isinstance(e, InterchangeRead)]
    (verdict,) = end.received_ta1s
    assert verdict.code in ("R", "E") and verdict.note in ("001", "021")
    assert entry["status"] == ("rejected" if verdict.code == "R" else "accepted")


def test_not_x12_at_all_is_kept_and_rejected(
    client: TestClient, ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    partner = _edinet_partner(ctx, tmp_path / "out")
    (entry,) = _post(client, partner, b"hello, this is not EDI").json()["interchanges"]
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
    partner = _partner(
        ctx, out, our_q="ZZ", our_id="test22222", their_q="08", their_id="AAAAAAAAAA"
    )
    r = _post(client, partner, (SAMPLES / "bots_850-004010-01.x12").read_bytes())
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
    (ack,) = _sent(out, "997")
    read = [e for e in read_inbound(ack, channel="check") if isinstance(e, AckReceived)]
    assert read[0].ack.code == "A"


def test_the_cli_imports_a_file_for_a_partner(
    ctx: Context, world: dict[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    partner = _edinet_partner(ctx, tmp_path / "out")
    path = tmp_path / "po.x12"
    path.write_bytes(_our_850(31, "PO-31"))
    monkeypatch.setenv("OMNIROUTE_DATABASE_URL", ctx.settings.database_url)
    monkeypatch.setenv("OMNIROUTE_SECRET_KEY", SECRET_KEY)
    result = CliRunner().invoke(cli, ["edi", "import", str(path), "--partner", str(partner)])
    assert result.exit_code == 0, result.output
    assert '"status": "accepted"' in result.output
    again = CliRunner().invoke(cli, ["edi", "import", str(path), "--partner", str(partner)])
    assert '"status": "duplicate"' in again.output
    with unit_of_work(ctx.sessions) as s:
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 1


EDIFACT = Path(__file__).parents[1] / "fixtures" / "third_party" / "edifact"


def _edifact_partner(ctx: Context, out: Path, their: str, our: str) -> int:
    book = {
        "9:PARTNER1": {
            "address1": "1 Dock Rd",
            "city": "Newark",
            "region": "NJ",
            "postal_code": "07102",
            "country": "US",
        }
    }
    row = connector_admin.create_connector(
        ctx,
        kind="edi_edifact",
        name=f"edifact {their}",
        config={
            "our_id": our,
            "their_id": their,
            "default_currency": "EUR",
            "delivery_directory": str(out),
            "locations": book,
        },
        secrets={"intake_token": TOKEN},
        enabled=True,
        actor="test",
    )
    return row.id


def test_edifact_orders_become_released_orders_and_get_a_contrl(
    client: TestClient, ctx: Context, world: dict[str, int], wms: FakeWms, tmp_path: Path
) -> None:
    from omniroute.connectors.edi_edifact.envelope import parse_interchanges

    out = tmp_path / "out"
    partner = _edifact_partner(ctx, out, "8712345678906", "PARTNER2")
    stock(ctx, world["EAST"], "MUG", 20_000)  # the sample orders ten thousand of one
    for gtin in ("2000100873151", "2000100873168", "2000100873175", "2000100873182"):
        warehouses.create_alias(ctx, partner, f"gtin:{gtin}", "MUG", actor="test")
    raw = (EDIFACT / "bots_my_first_plugin_order01.edi").read_bytes()
    r = _post(client, partner, raw)
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
    again = _post(client, partner, raw).json()["interchanges"]
    assert [e["status"] for e in again] == ["duplicate", "duplicate"]


def test_an_edifact_interchange_without_unz_is_kept_and_rejected_by_contrl(
    client: TestClient, ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    from omniroute.connectors.edi_edifact.envelope import parse_interchanges

    out = tmp_path / "out"
    partner = _edifact_partner(ctx, out, "12345678", "WBDZDD")
    raw = (EDIFACT / "pydifact_order.edi").read_bytes()
    (entry,) = _post(client, partner, raw).json()["interchanges"]
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


def test_a_routed_order_is_answered_with_an_855_from_its_state(
    client: TestClient, ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    from omniroute.connectors.edi_x12.envelope import parse_interchanges

    out = tmp_path / "out"
    partner = _edinet_partner(ctx, out)
    with unit_of_work(ctx.sessions) as s:
        row = s.get_one(Connector, partner)
        row.config = {**row.config, "send": ["997", "855"]}
    warehouses.create_alias(ctx, partner, "gtin:012345678905", "TEA", actor="test")
    _post(client, partner, _our_850(81, "PO-81"))
    drain(ctx)
    _post(client, partner, _our_850(81, "PO-81"))  # a duplicate: no second 855
    drain(ctx)
    (doc,) = _sent(out, "855")
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


def test_the_inbox_folder_is_swept_into_done_and_failed(
    ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    from omniroute.core.housekeeping.sweeper import sweep

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    partner = _edinet_partner(ctx, tmp_path / "out")
    with unit_of_work(ctx.sessions) as s:
        row = s.get_one(Connector, partner)
        row.config = {**row.config, "inbox_directory": str(inbox)}
    warehouses.create_alias(ctx, partner, "gtin:012345678905", "TEA", actor="test")
    (inbox / "po-1.x12").write_bytes(_our_850(41, "PO-41"))
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
    (inbox / "po-1.x12").write_bytes(_our_850(41, "PO-41"))  # the same again: a duplicate
    sweep(ctx)
    assert sorted(p.name for p in (inbox / "done").iterdir()) == ["po-1.x12", "po-1.x12.1"]


def test_the_ops_view_shows_interchanges_acks_and_what_is_overdue(
    client: TestClient, ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    import datetime as _dt

    from omniroute.core.access.tokens import create_token
    from omniroute.core.edi.views import partner_interchanges
    from omniroute.core.platform.security import Role

    out = tmp_path / "out"
    partner = _edinet_partner(ctx, out)
    lost = _partner(
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
    _post(client, partner, _our_850(61, "PO-61"))
    _post(client, lost, _our_850(62, "PO-62"))
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
    assert stuck["overdue"] == 1
    assert (
        client.get(
            "/api/v1/edi/partners/2/interchanges", headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 404
    )


def _850_set(po: str, *segments: Any) -> bytes:
    out = InterchangeOut(
        Party("01", "000123456"),
        Party("ZZ", "PARTNERID"),
        int(po.rsplit("-", 1)[-1]),
        dt.datetime(2026, 12, 7, 9, 0),
        groups=[
            GroupOut(
                "000123456",
                "PARTNERID",
                7,
                [TransactionOut("850", n + 1, body) for n, body in enumerate(segments)],
            )
        ],
    )
    return write_interchange(out)


def test_a_refused_set_is_rejected_in_the_997_kept_and_the_rest_goes_on(
    client: TestClient, ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    partner = _edinet_partner(ctx, out)
    warehouses.create_alias(ctx, partner, "gtin:012345678905", "TEA", actor="test")
    good = [
        seg("BEG", "00", "SA", "PO-91", None, "20261207"),
        seg("N1", "ST", "Store 12", "92", "0012"),
        seg("PO1", "1", "1", "EA", "4.00", None, "UP", "012345678905"),
        seg("CTT", "1"),
    ]
    no_po_number = [seg("BEG", "00", "SA", None, None, "20261207"), *good[1:]]
    _post(client, partner, _850_set("X-91", good, no_po_number))
    drain(ctx)

    (ack,) = _sent(out, "997")
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

    partner = _edinet_partner(ctx, tmp_path / "out")
    warehouses.create_alias(ctx, partner, "gtin:012345678905", "TEA", actor="test")
    body = [
        seg("BEG", "00", "SA", "PO-95", None, "20261207"),
        seg("N1", "ST", "New store", "92", "0777"),
        seg("PO1", "1", "1", "EA", "4.00", None, "UP", "012345678905"),
        seg("CTT", "1"),
    ]
    _post(client, partner, _850_set("X-95", body))
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


def test_a_shipment_is_sent_to_the_partner_as_an_856(
    client: TestClient, ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    from omniroute.connectors.edi_x12.envelope import parse_interchanges
    from omniroute.core.fulfilment.shipments import ShipmentInput, confirm_shipment
    from omniroute.core.order_state.holdings import of_order
    from omniroute.core.platform.models import FulfilmentOrder

    out = tmp_path / "out"
    partner = _edinet_partner(ctx, out)
    with unit_of_work(ctx.sessions) as s:
        row = s.get_one(Connector, partner)
        row.config = {**row.config, "send": ["856", "810"]}
    warehouses.create_alias(ctx, partner, "gtin:012345678905", "TEA", actor="test")
    _post(client, partner, _our_850(88, "PO-88"))
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
    (doc,) = _sent(out, "856")
    (ic,) = parse_interchanges(doc)
    (ts,) = ic.transactions
    assert not ic.problems and not ts.problems and ts.set_id == "856"
    text = doc.decode()
    assert "PRF*PO-88" in text and "1Z999AA10123456784" in text
    sn1 = next(s for s in ts.segments if s.tag == "SN1")
    assert sn1.elements[:3] == ("1", "2", "EA")
    (bill,) = _sent(out, "810")
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
    partner = _edinet_partner(ctx, out)
    with unit_of_work(ctx.sessions) as s:
        row = s.get_one(Connector, partner)
        row.config = {**row.config, "send": ["856"]}
    warehouses.create_alias(ctx, partner, "gtin:012345678905", "TEA", actor="test")
    _post(client, partner, _our_850(71, "PO-71"))
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
    assert _post(client, partner, ack).json()["interchanges"][0]["status"] == "accepted"
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
    _post(client, partner, ta1)
    drain(ctx)
    (doc,) = [d for d in partner_interchanges(ctx, partner, now=later)["documents"]]
    assert doc["partner_ta1"] == "A"


def test_an_invoice_that_cannot_be_written_keeps_the_shipment_and_opens_an_exception(
    client: TestClient, ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    from omniroute.core.fulfilment.shipments import ShipmentInput, confirm_shipment
    from omniroute.core.platform.models import FulfilmentOrder, Shipment

    out = tmp_path / "out"
    partner = _edinet_partner(ctx, out)
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
    _post(client, partner, _850_set("X-97", no_price))
    drain(ctx)
    with unit_of_work(ctx.sessions) as s:
        fo_id = s.scalars(select(FulfilmentOrder.id)).one()
    confirm_shipment(ctx, fo_id, ShipmentInput("S-97", None), actor="wms")
    drain(ctx)
    assert len(_sent(out, "856")) == 1 and _sent(out, "810") == []
    with unit_of_work(ctx.sessions) as s:
        assert s.scalar(select(func.count()).select_from(Shipment)) == 1
        (exc,) = s.scalars(select(OrderException)).all()
        assert exc.reason == "channel_push_failed" and "no unit price" in exc.detail["message"]


def test_an_edifact_shipment_is_sent_as_a_desadv(
    client: TestClient, ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    from omniroute.connectors.edi_edifact.envelope import parse_interchanges
    from omniroute.core.fulfilment.shipments import ShipmentInput, confirm_shipment
    from omniroute.core.order_state.holdings import of_order
    from omniroute.core.platform.models import FulfilmentOrder

    out = tmp_path / "out"
    partner = _edifact_partner(ctx, out, "8712345678906", "PARTNER2")
    with unit_of_work(ctx.sessions) as s:
        row = s.get_one(Connector, partner)
        row.config = {**row.config, "send": ["DESADV"]}
    stock(ctx, world["EAST"], "MUG", 20_000)
    for gtin in ("2000100873151", "2000100873168", "2000100873175", "2000100873182"):
        warehouses.create_alias(ctx, partner, f"gtin:{gtin}", "MUG", actor="test")
    raw = (EDIFACT / "bots_my_first_plugin_order01.edi").read_bytes()
    _post(client, partner, raw)
    drain(ctx)
    with unit_of_work(ctx.sessions) as s:
        order = s.scalars(
            select(SalesOrder).where(SalesOrder.external_id == "ORDT0000000004-1")
        ).one()
        fo_id = s.scalars(select(FulfilmentOrder.id).where(of_order(order.id))).one()
    confirm_shipment(ctx, fo_id, ShipmentInput("S-1", None, tracking_number="TRK1"), actor="w")
    drain(ctx)
    (path,) = out.glob("DESADV_*.edi")
    (ic,) = parse_interchanges(path.read_text())
    assert not list(ic.all_problems()), path.read_text()
    (msg,) = ic.messages
    assert msg.type == "DESADV"
    text = path.read_text()
    assert "RFF+ON:ORDT0000000004-1" in text and "RFF+CN:TRK1" in text


def test_available_to_sell_goes_out_as_an_846_once_a_period(
    ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    import datetime as _dt

    from omniroute.connectors.edi_x12.envelope import parse_interchanges
    from omniroute.core.housekeeping.sweeper import sweep
    from omniroute.core.stock.listings import ListingIn, put_listings

    out = tmp_path / "out"
    partner = _edinet_partner(ctx, out)
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
    (doc,) = _sent(out, "846")
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
    assert len(_sent(out, "846")) == 2


def test_a_file_over_the_body_limit_is_refused_before_it_is_read(
    client: TestClient, ctx: Context, world: dict[str, int], tmp_path: Path
) -> None:
    partner = _edinet_partner(ctx, tmp_path / "out")
    huge = _our_850(5, "PO-5") + b"\n" * ctx.settings.max_body_bytes
    r = _post(client, partner, huge)
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("application/problem+json")
    with unit_of_work(ctx.sessions) as s:
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 0
