"""The one-pass reader of a received file, and writing to a partner's profile."""

from __future__ import annotations

import datetime as dt

import pytest

from omniroute.connectors.edi_x12.codes import AckCode, InterchangeNote, TransactionSetError
from omniroute.connectors.edi_x12.envelope import parse_interchanges
from omniroute.connectors.edi_x12.inbound import (
    AckReceived,
    GroupRead,
    InterchangeRead,
    OrderRead,
    SetRejected,
    read_inbound,
)
from omniroute.connectors.edi_x12.outbound import functional_ack
from omniroute.connectors.edi_x12.partner import PartnerProfile, write_ta1, write_to
from omniroute.connectors.edi_x12.received_acks import (
    AckReadError,
    Received997,
    ReceivedSetAck,
    ReceivedTa1,
    read_997,
)
from omniroute.connectors.edi_x12.serializer import Party, SerializeError
from omniroute.connectors.edi_x12.tokenizer import Delimiters

from .test_envelope_acks import SIMPLE
from .test_outbound import advice_846, asn, po_ack
from .test_tokenizer import SAMPLES

AT = dt.datetime(2026, 12, 7, 10, 0)
PROFILE = PartnerProfile(
    Party("ZZ", "OMNIROUTE"), Party("01", "123456789"), "OMNI", "BUYER", line_break=True
)


def test_a_file_of_several_interchanges_in_one_pass() -> None:
    bad_qty = SIMPLE.replace(b"PO1*1*1*EA*1**VN*X~SE*4*0002", b"PO1*1*x*EA~SE*4*0002")
    raw = (
        (SAMPLES / "edinet_x12.850.edi").read_bytes()
        + (SAMPLES / "bots_810-004010-01.x12").read_bytes()
        + bad_qty
    )
    events = list(read_inbound(raw, channel="edi"))
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "OrderRead",
        "GroupRead",
        "InterchangeRead",
        "SetRejected",
        "SetRejected",
        "GroupRead",
        "InterchangeRead",
        "OrderRead",
        "SetRejected",
        "GroupRead",
        "InterchangeRead",
    ]
    orders = [e.purchase_order.order["external_id"] for e in events if isinstance(e, OrderRead)]
    assert orders == ["1000012", "A1"]
    unsupported = events[3]
    assert isinstance(unsupported, SetRejected)
    assert (
        "transaction set 810 (2240001) is not one we take (we take 850, 997)"
        in unsupported.reasons[0]
    )
    bad = events[8]
    assert isinstance(bad, SetRejected) and "PO102 'x' is not a number" in bad.reasons[0]
    acks = [e.ack for e in events if isinstance(e, GroupRead)]
    assert [a.code for a in acks] == [
        AckCode.ACCEPTED,
        AckCode.REJECTED,
        AckCode.PARTIALLY_ACCEPTED,
    ]
    assert [r.errors for r in acks[1].sets] == [(TransactionSetError.NOT_SUPPORTED,)] * 2
    ends = [e for e in events if isinstance(e, InterchangeRead)]
    assert [e.rejected for e in ends] == [False, False, False]
    assert ends[0].ack.note is InterchangeNote.CONTROL_NUMBER_MISMATCH  # the sample's own IEA02
    # the 997 for the last group, written to the partner, reads back clean
    raw_997 = write_to(
        PROFILE, [functional_ack(acks[2], 1)], interchange_control=3, group_control=3, created_at=AT
    )
    assert b"AK3*PO1*3**8~\nAK4*2**6*x~\nAK5*R*5~" in raw_997
    (reply,) = parse_interchanges(raw_997)
    assert reply.problems == () and reply.transactions[0].problems == ()


def test_envelope_problem_rejects_without_mapping() -> None:
    events = list(read_inbound(SIMPLE.replace(b"SE*4*0001", b"SE*7*0001"), channel="edi"))
    rejected = [e for e in events if isinstance(e, SetRejected)]
    assert len(rejected) == 1 and "SE01 says '7'" in rejected[0].reasons[0]
    assert rejected[0].verdict.notes == ()


def test_rejected_interchange_is_flagged() -> None:
    events = list(read_inbound(SIMPLE.replace(b"IEA*1*", b"IEA*4*"), channel="edi"))
    end = events[-1]
    assert isinstance(end, InterchangeRead) and end.rejected
    raw = write_ta1(PROFILE, end.ack, interchange_control=9, created_at=AT)
    assert b"TA1*000000009*261207*1200*R*021~" in raw
    (ic,) = parse_interchanges(raw)
    assert ic.problems == () and len(ic.ta1s) == 1


def test_write_to_profile() -> None:
    profile = PartnerProfile(
        Party("ZZ", "OMNI"),
        Party("12", "5551234567"),
        "OMNI",
        "RETAILER",
        interchange_version="00501",
        group_version="005010",
        delimiters=Delimiters("*", ">", "~", "^"),
        usage="T",
    )
    raw = write_to(profile, [po_ack()], interchange_control=77, group_control=12, created_at=AT)
    (ic,) = parse_interchanges(raw)
    assert ic.problems == ()
    assert (ic.header.receiver_qualifier, ic.header.receiver_id, ic.header.usage) == (
        "12",
        "5551234567",
        "T",
    )
    assert ic.header.version == "00501" and ic.groups[0].header.version == "005010"
    assert ic.groups[0].header.functional_id == "PR"
    with pytest.raises(SerializeError, match="do not share one known functional id"):
        write_to(
            profile, [po_ack(), asn()], interchange_control=78, group_control=13, created_at=AT
        )
    with pytest.raises(SerializeError, match="no transaction sets"):
        write_to(profile, [], interchange_control=78, group_control=13, created_at=AT)
    with pytest.raises(SerializeError, match="ST02 control numbers repeat within group 1"):
        write_to(
            PROFILE,
            [advice_846(), advice_846()],
            interchange_control=1,
            group_control=1,
            created_at=AT,
        )


def test_duplicate_interchanges_are_answered_not_read_again() -> None:
    events = list(read_inbound(SIMPLE + SIMPLE, channel="edi"))
    assert [type(e).__name__ for e in events] == [
        "OrderRead",
        "OrderRead",
        "GroupRead",
        "InterchangeRead",
        "InterchangeRead",
    ]
    first, second = events[3], events[4]
    assert isinstance(first, InterchangeRead) and isinstance(second, InterchangeRead)
    assert not first.rejected and second.rejected
    assert second.ack.note is InterchangeNote.DUPLICATE_CONTROL_NUMBER
    assert first.end.header.dedupe_key == "ZZ:BUYER:000000009"
    # taken in an earlier file
    again = list(read_inbound(SIMPLE, channel="edi", seen_interchanges={"ZZ:BUYER:000000009"}))
    assert len(again) == 1 and isinstance(again[0], InterchangeRead) and again[0].rejected


def test_partner_997s_are_read_and_not_answered() -> None:
    events = list(read_inbound((SAMPLES / "bots_997-004010VICS-01.x12").read_bytes(), channel="e"))
    received, group, end = events
    assert isinstance(received, AckReceived) and isinstance(group, GroupRead)
    assert received.ack == Received997(
        "PR", "10001", (ReceivedSetAck("855", "1294", "A", (), ()),), "A", 1, 1, 1, ()
    )
    assert not group.needs_997 and group.ack.code is AckCode.ACCEPTED
    assert isinstance(end, InterchangeRead) and end.received_ta1s == ()


def test_our_own_997_and_ta1_read_back() -> None:
    """What we write in answer, read as the partner would: the same verdicts."""
    bad = SIMPLE.replace(b"PO1*1*1*EA*1**VN*X~SE*4*0002", b"PO1*1*x*EA~SE*4*0002")
    group = next(e for e in read_inbound(bad, channel="edi") if isinstance(e, GroupRead))
    raw = write_to(
        PROFILE,
        [functional_ack(group.ack, 8)],
        interchange_control=4,
        group_control=4,
        created_at=AT,
    )
    (ack,) = [e for e in read_inbound(raw, channel="edi") if isinstance(e, AckReceived)]
    assert ack.ack.functional_id == "PO" and ack.ack.group_control_number == "7"
    assert [(s.control_number, s.code, s.errors, s.notes) for s in ack.ack.sets] == [
        ("0001", "A", (), ()),
        ("0002", "R", ("5",), ("AK3*PO1*3**8", "AK4*2**6*x")),
    ]
    assert (ack.ack.code, ack.ack.included, ack.ack.received, ack.ack.accepted) == ("P", 2, 2, 1)
    end = [e for e in read_inbound(SIMPLE.replace(b"IEA*1*", b"IEA*2*"), channel="e")][-1]
    assert isinstance(end, InterchangeRead)
    ta1_file = write_ta1(PROFILE, end.ack, interchange_control=5, created_at=AT)
    (answer,) = list(read_inbound(ta1_file, channel="e"))
    assert isinstance(answer, InterchangeRead)
    assert answer.received_ta1s == (ReceivedTa1("000000009", "261207", "1200", "R", "021"),)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("AK2*850*1~AK5*A~AK9*A*1*1*1~", "a 997 starts with AK1"),
        ("AK1*PO*1~AK2*850*1~AK9*A*1*1*1~", "AK2 without its AK5"),
        ("AK1*PO*1~AK5*A~AK9*A*1*1*1~", "AK5 without an AK2"),
        ("AK1*PO*1~AK2*850*1~AK5*A~", "a 997 ends with AK9"),
    ],
)
def test_malformed_997_is_rejected_with_where(body: str, message: str) -> None:
    count = body.count("~") + 2
    raw = (
        "ISA*00*          *00*          *ZZ*BUYER          *ZZ*SELLER         *261207*1200*U*00401"
        "*000000009*0*P*>~GS*FA*BUYER*SELLER*20261207*1200*7*X*004010~ST*997*0001~"
        + body
        + f"SE*{count}*0001~GE*1*7~IEA*1*000000009~"
    ).encode()
    (rejected,) = [e for e in read_inbound(raw, channel="e") if isinstance(e, SetRejected)]
    assert message in rejected.reasons[0] and "at byte" in rejected.reasons[0]
    with pytest.raises(AckReadError, match="not a 997"):
        read_997(parse_interchanges(SIMPLE)[0].transactions[0])
