"""Outbound 855/856/810/846/997/TA1: golden files, and every one reads back through our own
tokenizer and passes envelope validation."""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal
from pathlib import Path

import pytest

from omniroute.connectors.edi_x12.acknowledgements import (
    acknowledge_group,
    acknowledge_interchange,
    ta1_segment,
)
from omniroute.connectors.edi_x12.control_numbers import (
    ControlKind,
    ControlNumberError,
    format_control,
    next_control,
    parse_control,
)
from omniroute.connectors.edi_x12.envelope import (
    GroupEnd,
    InterchangeEnd,
    parse_interchanges,
    read_envelope,
)
from omniroute.connectors.edi_x12.outbound import (
    AckLine,
    InventoryAdvice,
    InventoryItem,
    Invoice,
    InvoiceLine,
    LineStatus,
    PurchaseOrderAck,
    functional_ack,
    inventory_advice,
    invoice,
    po_acknowledgement,
)
from omniroute.connectors.edi_x12.serializer import (
    GroupOut,
    InterchangeOut,
    Party,
    SerializeError,
    TransactionOut,
    seg,
    write_interchange,
)
from omniroute.connectors.edi_x12.ship_notice import (
    Pack,
    ShipNotice,
    ShippedItem,
    ShippedOrder,
    ShipTo,
    ship_notice,
)
from omniroute.connectors.edi_x12.tokenizer import Delimiters

from .test_envelope_acks import SIMPLE

GOLDEN = Path(__file__).parents[2] / "fixtures" / "edi_golden"
AT = dt.datetime(2026, 12, 7, 9, 30)
US = Party("ZZ", "OMNIROUTE")
THEM = Party("01", "123456789")


PARTNER_DELIMITERS = Delimiters(repetition=None)


def _wrap(*transactions: TransactionOut, delimiters: Delimiters = PARTNER_DELIMITERS) -> bytes:
    return write_interchange(
        InterchangeOut(
            US,
            THEM,
            1001,
            AT,
            groups=[GroupOut("OMNIROUTE", "BUYER", 501, transactions)],
            delimiters=delimiters,
            line_break=True,
        )
    )


def po_ack() -> TransactionOut:
    lines = [
        AckLine("1", 6, "EA", LineStatus.ACCEPTED, 6, (("UP", "012345678905"),), Decimal("12.00")),
        AckLine("2", 4, "EA", LineStatus.QUANTITY_CHANGED, 3, (("VN", "V-2"),), Decimal("3.5")),
        AckLine(
            "3", 5, "CA", LineStatus.BACKORDERED, 5, (("BP", "B-3"),), None, dt.date(2026, 12, 20)
        ),
        AckLine("4", 1, "EA", LineStatus.REJECTED, 1, (("SK", "S-4"),)),
    ]
    return po_acknowledgement(
        PurchaseOrderAck("PO-1001", dt.date(2026, 12, 5), dt.date(2026, 12, 7), lines, 1)
    )


def asn() -> TransactionOut:
    red = ShippedItem((("UP", "012345678905"), ("VN", "V-1")), 4, "EA", 6, "1")
    blue = ShippedItem((("UP", "012345678912"),), 2, "EA", None, "2")
    return ship_notice(
        ShipNotice(
            "SHP-77",
            AT,
            [
                ShippedOrder(
                    "PO-1001",
                    [
                        Pack(
                            [red], sscc="000123456789012345", tracking_number="1Z999AA10123456784"
                        ),
                        Pack([blue, red], tracking_number="1Z999AA10123456791"),
                    ],
                    dt.date(2026, 12, 5),
                ),
                ShippedOrder("PO-1002", [Pack([blue], sscc="00012345678901234567")]),
            ],
            2,
            carrier_scac="UPSN",
            bill_of_lading="BOL-9",
            tracking_number="1Z999AA10123456784",
            ship_to=ShipTo(
                "Store 12", ("92", "0042"), "1 Main St", None, "Austin", "TX", "78701", "US"
            ),
        )
    )


def invoice_810() -> TransactionOut:
    return invoice(
        Invoice(
            "INV-55",
            dt.date(2026, 12, 8),
            "PO-1001",
            dt.date(2026, 12, 5),
            [
                InvoiceLine(
                    "1", 4, "EA", Decimal("12.00"), (("UP", "012345678905"),), "Widget red"
                ),
                InvoiceLine("2", 2, "EA", Decimal("3.25"), (("VN", "V-2"),)),
            ],
            3,
            currency="USD",
        )
    )


def advice_846() -> TransactionOut:
    items = [
        InventoryItem((("UP", "012345678905"), ("VN", "V-1")), 40),
        InventoryItem((("VN", "V-2"),), -3),
    ]
    return inventory_advice(InventoryAdvice("INV-20261207", dt.date(2026, 12, 7), items, 4))


def functional_ack_997() -> TransactionOut:
    end = next(
        e
        for e in read_envelope(SIMPLE.replace(b"SE*4*0002", b"SE*9*0002"))
        if isinstance(e, GroupEnd)
    )
    return functional_ack(acknowledge_group(end, supported={"850"}), 5)


DOCUMENTS = {
    "855": po_ack,
    "856": asn,
    "810": invoice_810,
    "846": advice_846,
    "997": functional_ack_997,
}


def _check_golden(name: str, raw: bytes) -> None:
    path = GOLDEN / name
    if os.environ.get("OMNIROUTE_UPDATE_GOLDEN") == "1":
        path.write_bytes(raw)
    assert raw == path.read_bytes(), f"{name} differs from its golden file"


@pytest.mark.parametrize("set_id", sorted(DOCUMENTS))
def test_documents_match_golden_and_round_trip(set_id: str) -> None:
    transaction = DOCUMENTS[set_id]()
    raw = _wrap(transaction)
    _check_golden(f"{set_id}.x12", raw)
    (ic,) = parse_interchanges(raw)
    assert ic.problems == ()
    (group,) = ic.groups
    assert group.problems == () and group.header.functional_id
    (ts,) = group.transactions
    assert ts.problems == () and ts.set_id == set_id
    assert [s.tag for s in ts.body] == [s.tag for s in transaction.body]
    assert len(ic.header.isa.elements) == 16
    assert raw.index(b"\n") == 106  # the ISA at its fixed width, terminator included


def test_856_hierarchy() -> None:
    (ic,) = parse_interchanges(_wrap(asn()))
    body = ic.transactions[0].body
    hl = [(s.get(1), s.get(2), s.get(3)) for s in body if s.tag == "HL"]
    assert hl == [
        ("1", "", "S"),
        ("2", "1", "O"),
        ("3", "2", "P"),
        ("4", "3", "I"),
        ("5", "2", "P"),
        ("6", "5", "I"),
        ("7", "5", "I"),
        ("8", "1", "O"),
        ("9", "8", "P"),
        ("10", "9", "I"),
    ]
    assert [s.get(2) for s in body if s.tag == "MAN"] == [
        "000123456789012345",
        "00012345678901234567",
    ]
    assert body[-1].tag == "CTT" and body[-1].get(1) == "10"


def test_855_statuses_and_810_total() -> None:
    (ic,) = parse_interchanges(_wrap(po_ack(), invoice_810()))
    ack, inv = ic.transactions
    assert [s.get(1) for s in ack.body if s.tag == "ACK"] == ["IA", "IQ", "IB", "IR"]
    assert next(s for s in ack.body if s.tag == "BAK").get(2) == "AC"
    assert next(s for s in inv.body if s.tag == "TDS").get(1) == "5450"  # 4 x 12 + 2 x 3.25


def test_ta1_golden_and_round_trip() -> None:
    end = next(
        e
        for e in read_envelope(SIMPLE.replace(b"IEA*1*", b"IEA*3*"))
        if isinstance(e, InterchangeEnd)
    )
    ack = acknowledge_interchange(end)
    raw = write_interchange(
        InterchangeOut(US, THEM, 1002, AT, leading=[ta1_segment(ack)], line_break=True)
    )
    _check_golden("ta1.x12", raw)
    (ic,) = parse_interchanges(raw)
    assert ic.problems == () and ic.groups == ()
    assert [t.elements for t in ic.ta1s] == [("000000009", "261207", "1200", "R", "021")]
    assert b"TA1*000000009*261207*1200*R*021~" in raw


def test_partner_delimiters_and_version_00501() -> None:
    d = Delimiters("|", "}", "\n", "^")
    raw = write_interchange(
        InterchangeOut(
            US,
            THEM,
            7,
            AT,
            groups=[GroupOut("A", "B", 1, [advice_846()], "005010")],
            version="00501",
            delimiters=d,
        )
    )
    (ic,) = parse_interchanges(raw)
    assert ic.header.delimiters == d and ic.problems == ()
    assert ic.header.isa.get(11) == "^"


def test_delimiter_inside_a_value_is_refused() -> None:
    bad = TransactionOut("846", 1, [seg("BIA", "00", "MM", "REF*1", "20261207")])
    with pytest.raises(SerializeError, match=r"BIA03: value 'REF\*1' holds the delimiter '\*'"):
        _wrap(bad)
    with pytest.raises(SerializeError, match=r"ISA06 .* longer than its 15"):
        write_interchange(InterchangeOut(Party("ZZ", "X" * 16), THEM, 1, AT))
    with pytest.raises(SerializeError, match="needs a repetition separator"):
        write_interchange(
            InterchangeOut(US, THEM, 1, AT, version="00501", delimiters=Delimiters(repetition=None))
        )


def test_outbound_refusals() -> None:
    with pytest.raises(SerializeError, match="SSCC"):
        ship_notice(
            ShipNotice(
                "S", AT, [ShippedOrder("P", [Pack([ShippedItem((("UP", "1"),), 1)], sscc="12")])], 1
            )
        )
    with pytest.raises(SerializeError, match="fraction of a cent"):
        invoice(
            Invoice(
                "I",
                AT.date(),
                "P",
                None,
                [InvoiceLine("1", 1, "EA", Decimal("0.001"), (("VN", "x"),))],
                1,
            )
        )
    with pytest.raises(SerializeError, match="incomplete"):
        inventory_advice(InventoryAdvice("R", AT.date(), [InventoryItem((("UP", ""),), 1)], 1))


def test_control_numbers() -> None:
    assert format_control(42, ControlKind.INTERCHANGE) == "000000042"
    assert format_control(42, ControlKind.GROUP) == "42"
    assert format_control(42, ControlKind.TRANSACTION_SET) == "0042"
    assert parse_control("000000042", ControlKind.INTERCHANGE) == 42
    assert next_control(None) == 1 and next_control(41) == 42
    for bad in (0, 1_000_000_000):
        with pytest.raises(ControlNumberError, match="outside"):
            format_control(bad, ControlKind.GROUP)
    with pytest.raises(ControlNumberError, match="exactly 9 digits"):
        parse_control("42", ControlKind.INTERCHANGE)
    with pytest.raises(ControlNumberError, match="not a number"):
        parse_control("4a", ControlKind.GROUP)
    with pytest.raises(ControlNumberError, match="exhausted"):
        next_control(999_999_999)
