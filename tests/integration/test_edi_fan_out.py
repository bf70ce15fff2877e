"""A stored interchange of thousands of sets fanned out by the worker as it is read, in
batches: every set a child row keyed and built as before, the 997 / CONTRL from the small
per-group verdicts, a replay adding nothing, and a rejected interchange (known only at its
end for X12) leaving no child at all. On SQLite and PostgreSQL (the ``ctx`` fixture)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from omniroute.connectors.edi_x12.inbound import (
    AckReceived,
    InterchangeRead,
    OrderRead,
    SetRejected,
    read_inbound,
)
from omniroute.connectors.edi_x12.serializer import (
    GroupOut,
    InterchangeOut,
    Party,
    TransactionOut,
    seg,
    write_interchange,
)
from omniroute.core.bootstrap import Context
from omniroute.core.intake.processing import process_inbound
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.dispatch import RecordingDispatcher, Task
from omniroute.core.platform.models import InboundMessage, OrderException, OutboxMessage
from omniroute.worker.handlers import run_task
from tests.integration.edi_support import (
    edifact_partner,
    edinet_partner,
    post_file,
    sent_documents,
    x12_partner,
)

CHILD_BATCH = 500  # core/edi/interchanges.CHILD_BATCH
SETS = 2 * CHILD_BATCH + 321  # three batches, the last one short
UNSUPPORTED_EVERY = 97  # an 855 where an 850 belongs: a child, rejected in the 997
GROUP = 7
CONTROL = 4242


def _po(number: int) -> TransactionOut:
    body = [
        seg("BEG", "00", "SA", f"PO-{number}", None, "20261207"),
        seg("N1", "ST", "Store 12", "92", "0012"),
        seg("PO1", "1", "2", "EA", "4.00", None, "UP", "012345678905"),
        seg("CTT", "1"),
    ]
    set_id = "855" if number % UNSUPPORTED_EVERY == 0 else "850"
    return TransactionOut(set_id, number, body)


def big_x12(sets: int = SETS) -> bytes:
    out = InterchangeOut(
        Party("01", "000123456"),
        Party("ZZ", "PARTNERID"),
        CONTROL,
        dt.datetime(2026, 12, 7, 9, 0),
        groups=[GroupOut("000123456", "PARTNERID", GROUP, [_po(n) for n in range(1, sets + 1)])],
    )
    return write_interchange(out)


def _stored(client: TestClient, ctx: Context, partner: int, body: bytes) -> int:
    """The file posted and stored; its one interchange row's id (nothing processed yet)."""
    r = post_file(client, partner, body)
    assert r.status_code == 202, r.text
    (entry,) = r.json()["interchanges"]
    assert isinstance(ctx.dispatcher, RecordingDispatcher)
    assert ctx.dispatcher.drain() == [(Task.PROCESS_INBOUND, entry["inbound_id"])]
    return int(entry["inbound_id"])


def _fan_out(ctx: Context, row_id: int) -> list[int]:
    """The worker takes the interchange row alone, then delivers what it queued; the ids
    of the child rows it nudged (after its commit)."""
    process_inbound(ctx, row_id)
    assert isinstance(ctx.dispatcher, RecordingDispatcher)
    queued = ctx.dispatcher.drain()
    for task, outbox_id in queued:
        if task is Task.DELIVER_OUTBOX:
            run_task(ctx, task, outbox_id)
    return [row for task, row in queued if task is Task.PROCESS_INBOUND]


def _children(ctx: Context) -> list[InboundMessage]:
    with unit_of_work(ctx.sessions) as s:
        rows = list(
            s.scalars(
                select(InboundMessage)
                .where(InboundMessage.topic == "edi.set")
                .order_by(InboundMessage.id)
            )
        )
        s.expunge_all()
    return rows


def test_thousands_of_x12_sets_fan_out_in_batches_as_before(
    client: TestClient, ctx: Context, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    partner = edinet_partner(ctx, out)
    row_id = _stored(client, ctx, partner, big_x12())

    nudged = _fan_out(ctx, row_id)

    children = _children(ctx)
    assert len(children) == SETS
    assert sorted(nudged) == [c.id for c in children]  # each new child nudged once
    interchange = f"01:000123456:{CONTROL:09d}"
    expected = {f"{interchange}:{GROUP}:{n:04d}": n for n in range(1, SETS + 1)}
    assert {c.dedupe_key for c in children} == set(expected)
    for child in children:
        number = expected[child.dedupe_key]
        set_id = "855" if number % UNSUPPORTED_EVERY == 0 else "850"
        assert child.status == "pending" and child.connector_id == partner
        assert child.headers["x-edi-set"] == f"{set_id} {number:04d}"
        # the body is the set alone in a copy of its envelope: it reads again by itself
        events = list(read_inbound(child.body, channel="check"))
        (one,) = [e for e in events if isinstance(e, OrderRead | SetRejected)]
        assert one.transaction.control_number == f"{number:04d}"
        assert isinstance(one, SetRejected) == (set_id == "855")
        if set_id == "850":
            assert child.headers["x-edi-reference"] == f"PO-{number}"
        (end,) = [e for e in events if isinstance(e, InterchangeRead)]
        assert not end.rejected

    with unit_of_work(ctx.sessions) as s:
        row = s.get_one(InboundMessage, row_id)
        assert row.status == "done"
        unsupported = SETS // UNSUPPORTED_EVERY
        assert row.last_error is not None and row.last_error.count("855") >= 1
        assert s.scalar(select(func.count()).select_from(OrderException)) == 0
    (ack,) = sent_documents(out, "997")
    (received,) = [e for e in read_inbound(ack, channel="check") if isinstance(e, AckReceived)]
    # partially accepted: the 855s are rejected in it, one AK2 loop each
    assert received.ack.code == "P"
    assert ack.count(b"AK2*855*") == unsupported

    # a replay (the row made pending again) adds no child and nudges none
    with unit_of_work(ctx.sessions) as s:
        s.get_one(InboundMessage, row_id).status = "pending"
    assert _fan_out(ctx, row_id) == []
    assert len(_children(ctx)) == SETS


@pytest.mark.parametrize("batch_size", [1, CHILD_BATCH])
def test_a_rejected_x12_interchange_leaves_no_child_of_any_batch(
    client: TestClient,
    ctx: Context,
    tmp_path: Path,
    batch_size: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from omniroute.core.edi import interchanges

    monkeypatch.setattr(interchanges, "CHILD_BATCH", batch_size, raising=False)
    out = tmp_path / "out"
    # the agreement names another sender: known at the ISA, but the verdict comes at the IEA,
    # after every set was read and inserted
    partner = x12_partner(ctx, out, our_q="ZZ", our_id="PARTNERID", their_q="ZZ", their_id="OTHER")
    row_id = _stored(client, ctx, partner, big_x12())

    assert _fan_out(ctx, row_id) == []

    assert _children(ctx) == []
    with unit_of_work(ctx.sessions) as s:
        row = s.get_one(InboundMessage, row_id)
        assert row.status == "failed" and "ISA05/06" in (row.last_error or "")
        assert s.scalars(select(OrderException)).one().reason == "invalid_payload"
    (ta1,) = sent_documents(out, "TA1")
    (end,) = [e for e in read_inbound(ta1, channel="check") if isinstance(e, InterchangeRead)]
    assert [(t.code, t.note) for t in end.received_ta1s] == [("R", "006")]
    assert sent_documents(out, "997") == []


def test_an_x12_file_that_breaks_after_many_sets_leaves_no_child(
    client: TestClient, ctx: Context, tmp_path: Path
) -> None:
    partner = edinet_partner(ctx, tmp_path / "out")
    body = big_x12()
    # a segment with no tag, some 1,100 sets in: the tokenizer gives up there
    cut = body.index(b"ST*850*1100~")
    row_id = _stored(client, ctx, partner, body[:cut] + b"*~" + body[cut:])

    assert _fan_out(ctx, row_id) == []

    assert _children(ctx) == []
    with unit_of_work(ctx.sessions) as s:
        row = s.get_one(InboundMessage, row_id)
        assert row.status == "failed" and "not readable as X12" in (row.last_error or "")


def big_edifact(messages: int, *, sender: str = "8712345678906") -> bytes:
    parts = [f"UNB+UNOA:3+{sender}:14+PARTNER2:14+050824:1727+BIG1'"]
    for n in range(1, messages + 1):
        kind = "INVOIC:D:96A:UN" if n % UNSUPPORTED_EVERY == 0 else "ORDERS:D:96A:UN:EAN008"
        parts.append(
            f"UNH+M{n}+{kind}'BGM+220+ORD{n}+9'DTM+137:20050819:102'NAD+BY+PARTNER1::9'"
            f"LIN+1++2000100873151:EN'QTY+21:{n}'UNS+S'UNT+8+M{n}'"
        )
    parts.append(f"UNZ+{messages}+BIG1'")
    return "".join(parts).encode()


def test_thousands_of_edifact_messages_fan_out_and_one_contrl_answers(
    client: TestClient, ctx: Context, tmp_path: Path
) -> None:
    from omniroute.connectors.edi_edifact.envelope import parse_interchanges

    out = tmp_path / "out"
    partner = edifact_partner(ctx, out, "8712345678906", "PARTNER2")
    row_id = _stored(client, ctx, partner, big_edifact(SETS))

    nudged = _fan_out(ctx, row_id)

    children = _children(ctx)
    assert len(children) == SETS and sorted(nudged) == [c.id for c in children]
    assert {c.dedupe_key for c in children} == {
        f"14:8712345678906:BIG1::M{n}" for n in range(1, SETS + 1)
    }
    for child in children[:: CHILD_BATCH // 5]:
        (ic,) = parse_interchanges(child.body.decode())
        (message,) = ic.messages
        assert ic.problems == ()
        assert child.headers["x-edi-reference"] == f"ORD{message.reference[1:]}"
    (contrl,) = sorted(out.glob("CONTRL_*.edi"))
    (ic,) = parse_interchanges(contrl.read_text())
    (message,) = ic.messages
    uci = next(s for s in message.segments if s.tag == "UCI")
    assert uci.value(3) == "7"  # the interchange acknowledged, its INVOICs rejected (4)
    ucms = [s for s in message.segments if s.tag == "UCM"]
    assert len(ucms) == SETS  # one per message, each with its verdict
    assert [u.value(0) for u in ucms if u.value(2) == "4"] == [
        f"M{n}" for n in range(UNSUPPORTED_EVERY, SETS + 1, UNSUPPORTED_EVERY)
    ]


def test_a_rejected_edifact_interchange_leaves_no_child(
    client: TestClient, ctx: Context, tmp_path: Path
) -> None:
    partner = edifact_partner(ctx, tmp_path / "out", "8712345678906", "PARTNER2")
    row_id = _stored(client, ctx, partner, big_edifact(SETS, sender="SOMEONEELSE"))

    assert _fan_out(ctx, row_id) == []

    assert _children(ctx) == []
    with unit_of_work(ctx.sessions) as s:
        assert s.get_one(InboundMessage, row_id).status == "failed"
        assert s.scalars(select(OrderException)).one().reason == "invalid_payload"
    with unit_of_work(ctx.sessions) as s:
        kinds = [m.kind for m in s.scalars(select(OutboxMessage))]
    assert kinds == ["edi.document"]  # the CONTRL that rejects it


def test_the_worker_reads_a_stored_interchange_in_slices(
    client: TestClient, ctx: Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim leaves a stored interchange's body in the database and the fan-out reads
    it a slice a statement (here 1,000 bytes: some 180 slices), with the same children as
    a body read whole; the reader itself sees only slices, never the file."""
    from omniroute.core.platform import inbox_body

    slices: list[int] = []
    real = inbox_body.body_slices

    def counted(session: object, row_id: int, *, slice_bytes: int) -> object:
        for piece in real(session, row_id, slice_bytes=slice_bytes):  # type: ignore[arg-type]
            slices.append(len(piece))
            yield piece

    monkeypatch.setattr(inbox_body, "SLICE_BYTES", 1000)
    monkeypatch.setattr(inbox_body, "body_slices", counted)
    partner = edinet_partner(ctx, tmp_path / "out")
    body = big_x12()
    row_id = _stored(client, ctx, partner, body)

    nudged = _fan_out(ctx, row_id)

    assert len(nudged) == SETS == len(_children(ctx))
    assert sum(slices) == len(body) and max(slices) == 1000 and len(slices) > 100
    with unit_of_work(ctx.sessions) as s:
        assert s.get_one(InboundMessage, row_id).status == "done"
