"""CONTRL from parse problems: bad counts and references, rejected messages, groups."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from omniroute.connectors.edi_edifact.adapter import read_chunks
from omniroute.connectors.edi_edifact.contrl import (
    build_contrl,
    duplicate_interchange,
    problem_of,
    unknown_sender,
    unsupported,
    wrong_recipient,
)
from omniroute.connectors.edi_edifact.envelope import Interchange, Party, parse_interchanges
from omniroute.connectors.edi_edifact.orders import map_orders
from omniroute.connectors.edi_edifact.writer import (
    Envelope,
    OutboundError,
    write_interchange,
)
from omniroute.mapping import MappingError

from .conftest import sample
from .test_envelope import ORDERS

WHEN = datetime(2026, 12, 7, 14, 5, tzinfo=UTC)


def answer(interchange: Interchange, **kwargs: object) -> list[str]:
    """The CONTRL's body as text, one segment a line, after a round trip through the
    writer and the reader."""
    contrl = build_contrl(interchange, reference="C1", **kwargs)  # type: ignore[arg-type]
    envelope = Envelope(
        sender=interchange.recipient,
        recipient=interchange.sender,
        control_reference="900",
        prepared=WHEN,
    )
    text = write_interchange(envelope, [contrl])
    (back,) = parse_interchanges(text)
    assert not list(back.all_problems())
    (message,) = back.messages
    assert message.type == "CONTRL" and message.version == "D" and message.release == "3"
    return [
        item.tag + "+" + "+".join(":".join(parts) for parts in item.elements)
        for item in message.body
    ]


def test_all_accepted() -> None:
    (interchange,) = parse_interchanges(ORDERS)
    assert answer(interchange) == [
        "UCI+REF1+SENDER:14+RECEIVER:14+7",
        "UCM+M1+ORDERS:D:96A:UN:EAN008+7",
        "UCM+M2+ORDERS:D:96A:UN:EAN008+7",
    ]


def test_receipt_only() -> None:
    (interchange,) = parse_interchanges(ORDERS)
    assert answer(interchange, received_only=True) == ["UCI+REF1+SENDER:14+RECEIVER:14+8"]


def test_bad_interchange_count_and_reference_reject_the_interchange() -> None:
    (count,) = parse_interchanges(ORDERS.replace("UNZ+2+REF1", "UNZ+3+REF1"))
    assert answer(count) == ["UCI+REF1+SENDER:14+RECEIVER:14+4+29+UNZ+1"]
    (ref,) = parse_interchanges(ORDERS.replace("UNZ+2+REF1", "UNZ+2+REF9"))
    assert answer(ref) == ["UCI+REF1+SENDER:14+RECEIVER:14+4+28+UNZ+2"]
    (unz,) = parse_interchanges(sample("pydifact_order.edi"))
    assert answer(unz) == ["UCI+807+12345678:8+WBDZDD:ZZ+4+13+UNZ"]


def test_bad_message_count_and_reference_reject_that_message() -> None:
    (count,) = parse_interchanges(ORDERS.replace("UNT+5+M1", "UNT+6+M1"))
    assert answer(count) == [
        "UCI+REF1+SENDER:14+RECEIVER:14+7",
        "UCM+M1+ORDERS:D:96A:UN:EAN008+4+29+UNT+1",
        "UCM+M2+ORDERS:D:96A:UN:EAN008+7",
    ]
    (ref,) = parse_interchanges(ORDERS.replace("UNT+3+M2", "UNT+3+M3"))
    assert answer(ref)[2] == "UCM+M2+ORDERS:D:96A:UN:EAN008+4+28+UNT+2"


def test_application_problems_go_on_ucs_and_ucd() -> None:
    text = ORDERS.replace("QTY+21:2", "QTY+21:2,5")
    (interchange,) = parse_interchanges(text)
    first, second = interchange.messages
    with pytest.raises(MappingError) as info:
        map_orders(first, interchange, currency="EUR")
    rejected = {
        first.reference: [problem_of(first, info.value)],
        second.reference: [unsupported(second)],
    }
    assert answer(interchange, rejected=rejected) == [
        "UCI+REF1+SENDER:14+RECEIVER:14+7",
        "UCM+M1+ORDERS:D:96A:UN:EAN008+4",
        "UCS+4+12",
        "UCD+12+1:2",
        "UCM+M2+ORDERS:D:96A:UN:EAN008+4+17+UNH+2:1",
    ]
    assert problem_of(first, MappingError("x", path="lines")).code.value == "18"


def test_groups_are_answered_with_ucf() -> None:
    grouped = ORDERS.replace(
        "UNH+M1", "UNG+ORDERS+SENDER:14+RECEIVER:14+240102:1200+G1+UN+D:96A'UNH+M1"
    ).replace("UNZ+2+REF1", "UNE+2+G1'UNZ+1+REF1")
    (good,) = parse_interchanges(grouped.replace("UNT+3+M2", "UNT+4+M2"))
    assert answer(good) == [
        "UCI+REF1+SENDER:14+RECEIVER:14+7",
        "UCF+G1+SENDER:14+RECEIVER:14+7",
        "UCM+M1+ORDERS:D:96A:UN:EAN008+7",
        "UCM+M2+ORDERS:D:96A:UN:EAN008+4+29+UNT+1",
    ]
    (bad,) = parse_interchanges(grouped.replace("UNE+2+G1", "UNE+2+G7"))
    assert answer(bad) == [
        "UCI+REF1+SENDER:14+RECEIVER:14+7",
        "UCF+G1+SENDER:14+RECEIVER:14+4+28+UNE+2",
    ]


def test_writer_refuses_what_the_partner_cannot_read() -> None:
    (interchange,) = parse_interchanges(ORDERS)
    contrl = build_contrl(interchange, reference="C1")
    base = Envelope(Party("US", "14"), Party("THEM", "14"), "77", WHEN)
    with pytest.raises(OutboundError, match="outside UNOA"):
        write_interchange(
            Envelope(Party("us", "14"), Party("THEM", "14"), "77", WHEN, syntax_identifier="UNOA"),
            [contrl],
        )
    with pytest.raises(OutboundError, match="1 to 14"):
        write_interchange(
            Envelope(Party("US"), Party("THEM"), "a reference too long", WHEN), [contrl]
        )
    with pytest.raises(OutboundError, match="used twice"):
        write_interchange(base, [contrl, contrl])
    with pytest.raises(OutboundError, match="at least one"):
        write_interchange(base, [])


def test_writer_envelope_options() -> None:
    (interchange,) = parse_interchanges(ORDERS)
    contrl = build_contrl(interchange, reference="C1")
    text = write_interchange(
        Envelope(
            Party("US", "14"),
            Party("THEM", "ZZZ"),
            "77",
            WHEN,
            syntax_identifier="UNOA",
            syntax_version="4",
            write_una=False,
            line_breaks=True,
            application_reference="CONTRL",
            acknowledgement_request=True,
            test=True,
        ),
        [contrl],
    )
    assert text.startswith("UNB+UNOA:4+US:14+THEM:ZZZ+20261207:1405+77++CONTRL++1++1'\n")
    (chunk,) = read_chunks(text)
    assert not chunk.has_una
    (back,) = parse_interchanges(text)
    assert back.test and back.acknowledgement_requested and not list(back.all_problems())


def test_what_the_application_knows_of_the_interchange_rejects_it() -> None:
    (interchange,) = parse_interchanges(ORDERS)
    assert answer(interchange, interchange_problems=[unknown_sender(interchange)]) == [
        "UCI+REF1+SENDER:14+RECEIVER:14+4+23+UNB+2:1"
    ]
    assert wrong_recipient(interchange, Party("RECEIVER", "14")) is None
    assert wrong_recipient(interchange, Party("RECEIVER")) is None
    other = wrong_recipient(interchange, Party("US", "14"))
    assert other is not None
    assert answer(interchange, interchange_problems=[other]) == [
        "UCI+REF1+SENDER:14+RECEIVER:14+4+7+UNB+3:1"
    ]
    assert answer(interchange, interchange_problems=[duplicate_interchange(interchange)]) == [
        "UCI+REF1+SENDER:14+RECEIVER:14+4+26+UNB+5"
    ]
    (second,) = parse_interchanges(sample("bots_my_first_plugin_order01.edi"))[1:]
    assert unknown_sender(second).segment == second.first_segment == 21
