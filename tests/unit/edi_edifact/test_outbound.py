"""ORDRSP, DESADV, INVOIC and CONTRL written, read back by our own parser with clean
envelopes, and compared with the golden files (our own output, reviewed by hand)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from omniroute.connectors.edi_edifact.adapter import Delimiters
from omniroute.connectors.edi_edifact.contrl import build_contrl
from omniroute.connectors.edi_edifact.desadv import (
    DespatchAdvice,
    Package,
    PackedItem,
    build_desadv,
)
from omniroute.connectors.edi_edifact.envelope import Message, Party, parse_interchanges
from omniroute.connectors.edi_edifact.invoic import Invoice, InvoiceLine, build_invoic, totals_of
from omniroute.connectors.edi_edifact.ordrsp import (
    LineStatus,
    OrderResponse,
    ResponseLine,
    build_ordrsp,
)
from omniroute.connectors.edi_edifact.parts import ItemId, PartyRef
from omniroute.connectors.edi_edifact.writer import (
    Envelope,
    OutboundError,
    OutboundMessage,
    write_interchange,
)

from .conftest import GOLDEN, sample

CET = timezone(timedelta(hours=1))
ISSUED = datetime(2026, 12, 7, 10, 30, tzinfo=CET)
US = PartyRef("4098765000002", name="Omniroute Demo GmbH")
BUYER = PartyRef("4012345000009")
DEPOT = PartyRef("4012345000016")
GTIN = ItemId("4000862141404", "EN")
ENVELOPE = Envelope(
    sender=Party("4098765000002", "14"),
    recipient=Party("4012345000009", "14"),
    control_reference="1001",
    prepared=datetime(2026, 12, 7, 10, 31, tzinfo=CET),
    line_breaks=True,
)

RESPONSE = OrderResponse(
    document_number="RSP-778",
    order_number="PO-778+1",
    issued=ISSUED,
    buyer=BUYER,
    supplier=US,
    currency="EUR",
    lines=(
        ResponseLine("1", (GTIN, ItemId("ART-1001", "SA")), LineStatus.ACCEPTED, 12, 12),
        ResponseLine(
            "2",
            (ItemId("4000862141411", "EN"),),
            LineStatus.CHANGED,
            10,
            6,
            backordered=4,
            delivery_date=date(2026, 12, 20),
            unit_price=Decimal("4.50"),
        ),
        ResponseLine("3", (ItemId("B-77", "IN"),), LineStatus.NOT_ACCEPTED, 3, 0),
    ),
)
ADVICE = DespatchAdvice(
    document_number="DN-5001",
    order_number="PO-778+1",
    issued=ISSUED,
    buyer=BUYER,
    supplier=US,
    ship_to=DEPOT,
    despatched=datetime(2026, 12, 7, 9, 0, tzinfo=CET),
    delivery_expected=date(2026, 12, 9),
    tracking_number="1Z999AA10123456784",
    packages=(
        Package(
            (PackedItem("1", (GTIN,), 8, order_line="1"),),
            sscc="340123450000000012",
            tracking_number="1Z999AA10123456784",
        ),
        Package((PackedItem("2", (GTIN, ItemId("ART-1001", "SA")), 4, order_line="1"),)),
    ),
)
INVOICE = Invoice(
    document_number="INV-9001",
    order_number="PO-778+1",
    issued=ISSUED,
    buyer=BUYER,
    supplier=US,
    invoicee=BUYER,
    despatch_number="DN-5001",
    currency="EUR",
    lines=(
        InvoiceLine("1", (GTIN,), 12, Decimal("17.95"), Decimal("19")),
        InvoiceLine("2", (ItemId("4000862141411", "EN"),), 6, Decimal("4.5"), Decimal("7")),
        InvoiceLine("3", (ItemId("SRV-55", "SRV"),), 1, Decimal("9.99"), Decimal("19")),
    ),
)


def read_back(text: str) -> Message:
    (interchange,) = parse_interchanges(text)
    assert not list(interchange.all_problems())
    assert interchange.sender == ENVELOPE.sender and interchange.control_reference == "1001"
    (message,) = interchange.messages
    return message


def values(message: Message, tag: str) -> list[str]:
    return ["+".join(":".join(p) for p in s.elements) for s in message.body if s.tag == tag]


def check_golden(name: str, text: str) -> None:
    assert (GOLDEN / name).read_text(encoding="latin-1") == text


def test_ordrsp() -> None:
    text = write_interchange(ENVELOPE, [build_ordrsp(RESPONSE, reference="1")])
    check_golden("ordrsp.edi", text)
    message = read_back(text)
    assert (message.type, message.version, message.release) == ("ORDRSP", "D", "96A")
    assert values(message, "BGM") == ["231+RSP-778+4"]
    assert values(message, "RFF") == ["ON:PO-778+1"]
    assert values(message, "LIN") == ["1+5+4000862141404:EN", "2+3+4000862141411:EN", "3+7"]
    assert values(message, "PIA") == ["1+ART-1001:SA", "1+B-77:IN"]
    assert values(message, "QTY") == ["21:12", "113:12", "21:10", "113:6", "83:4", "21:3", "113:0"]
    assert values(message, "DTM") == ["137:202612071030:203", "2:20261220:102"]
    assert values(message, "CNT") == ["2:3"]
    all_ok = replace(RESPONSE, lines=RESPONSE.lines[:1])
    assert values(
        read_back(write_interchange(ENVELOPE, [build_ordrsp(all_ok, reference="1")])), "BGM"
    ) == ["231+RSP-778+29"]


def test_desadv() -> None:
    text = write_interchange(ENVELOPE, [build_desadv(ADVICE, reference="1")])
    check_golden("desadv.edi", text)
    message = read_back(text)
    assert values(message, "BGM") == ["351+DN-5001+9"]
    assert values(message, "CPS") == ["1", "2+1", "3+1"]
    assert values(message, "GIN") == ["BJ+340123450000000012"]
    assert values(message, "RFF") == [
        "ON:PO-778+1",
        "CN:1Z999AA10123456784",
        "CN:1Z999AA10123456784",
        "ON:PO-778+1:1",
        "ON:PO-778+1:1",
    ]
    assert values(message, "QTY") == ["12:8", "12:4"]
    assert values(message, "NAD") == [
        "BY+4012345000009::9",
        "SU+4098765000002::9++Omniroute Demo GmbH",
        "DP+4012345000016::9",
    ]
    with pytest.raises(OutboundError, match="18 digits"):
        build_desadv(
            replace(ADVICE, packages=(Package(ADVICE.packages[0].contents, sscc="12"),)),
            reference="1",
        )


def test_invoic() -> None:
    text = write_interchange(ENVELOPE, [build_invoic(INVOICE, reference="1")])
    check_golden("invoic.edi", text)
    message = read_back(text)
    assert values(message, "BGM") == ["380+INV-9001+9"]
    # 12 x 17.95 = 215.40 and 9.99 at 19 %: 225.39, tax 42.82; 6 x 4.5 = 27.00 at 7 %: 1.89
    assert values(message, "MOA") == [
        "203:215.40",
        "203:27.00",
        "203:9.99",
        "79:252.39",
        "125:252.39",
        "176:44.71",
        "77:297.10",
        "125:27.00",
        "124:1.89",
        "125:225.39",
        "124:42.82",
    ]
    assert values(message, "TAX")[-2:] == ["7+VAT+++:::7+S", "7+VAT+++:::19+S"]
    totals = totals_of(INVOICE)
    assert totals.total == Decimal("297.10") and totals.tax == Decimal("44.71")
    comma = write_interchange(
        replace(ENVELOPE, delimiters=Delimiters(decimal=",")),
        [build_invoic(INVOICE, reference="1", decimal_mark=",")],
    )
    assert comma.startswith("UNA:+,? '") and "MOA+77:297,10'" in comma
    assert values(read_back(comma), "MOA")[6] == "77:297,10"


def test_contrl_golden() -> None:
    (interchange,) = parse_interchanges(sample("edinet_edifact.ORDRSP.edi"))
    text = write_interchange(ENVELOPE, [build_contrl(interchange, reference="1")])
    check_golden("contrl.edi", text)
    assert values(read_back(text), "UCI") == [
        "DAREFNR0000001+9900080000007:500+990000000000X:500+4+28+UNZ+2"
    ]


def test_several_outbound_messages_in_one_interchange() -> None:
    messages: list[OutboundMessage] = [
        build_ordrsp(RESPONSE, reference="1"),
        build_desadv(ADVICE, reference="2"),
        build_invoic(INVOICE, reference="3"),
    ]
    text = write_interchange(ENVELOPE, messages)
    (interchange,) = parse_interchanges(text)
    assert not list(interchange.all_problems())
    assert [m.type for m in interchange.messages] == ["ORDRSP", "DESADV", "INVOIC"]
    assert text.endswith("UNZ+3+1001'\n")


def test_values_with_service_characters_round_trip() -> None:
    odd = replace(RESPONSE, document_number="R?1'2:3+4")
    message = read_back(write_interchange(ENVELOPE, [build_ordrsp(odd, reference="1")]))
    assert message.body[0].value(1) == "R?1'2:3+4"


def test_prepared_time_is_written_as_given() -> None:
    when = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    text = write_interchange(
        replace(ENVELOPE, prepared=when), [build_ordrsp(RESPONSE, reference="1")]
    )
    assert "+260102:0304+1001'" in text
