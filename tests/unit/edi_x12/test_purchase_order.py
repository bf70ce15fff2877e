"""850 → canonical order, schema-checked, and SKU resolution through its identifiers."""

from __future__ import annotations

import pytest

from omniroute.connectors.edi_x12.acknowledgements import SetVerdict, acknowledge_group
from omniroute.connectors.edi_x12.codes import AckCode, ElementError, SegmentError
from omniroute.connectors.edi_x12.envelope import (
    GroupEnd,
    TransactionSet,
    parse_interchanges,
    read_envelope,
)
from omniroute.connectors.edi_x12.purchase_order import (
    LocationCode,
    PurchaseOrderError,
    map_purchase_order,
)
from omniroute.mapping import resolve_skus, sku_keys, validate_order

from .test_envelope_acks import SIMPLE
from .test_tokenizer import SAMPLES


def _only(raw: bytes) -> TransactionSet:
    (ic,) = parse_interchanges(raw)
    (ts,) = ic.transactions
    return ts


def test_bots_850_maps_to_a_valid_order() -> None:
    po = map_purchase_order(_only((SAMPLES / "bots_850-004010-01.x12").read_bytes()), channel="edi")
    order = po.order
    validate_order(order)
    assert order["external_id"] == "91393058"
    assert order["created_at"] == "1997-11-07T00:00:00+00:00"
    assert order["updated_at"] == "1997-11-07T12:20:00+00:00"  # GS04 written as YYMMDD
    assert order["currency"] == "USD" and order["cancelled"] is False
    assert order["ship_to"] == {
        "name": None,
        "address1": "AAAAAAAAAAA",
        "address2": "AAAAAAAAAAAAAAAAAAA",
        "city": "GUAYNABO",
        "region": "PR",
        "postal_code": "00928",
        "country": None,
    }
    assert po.ship_to_location == LocationCode("ST", "92", "333333")
    attributes = {a["name"]: a["value"] for a in order["attributes"]}
    assert attributes["ship_requested"] == "1998-02-10"
    assert attributes["cancel_after"] == "1998-03-01"
    assert attributes["ref_dp"] == "845" and attributes["ref_ia"] == "047431"
    assert attributes["party_st"] == "92:333333" and attributes["party_by"] == "92:33333"
    assert attributes["x12_transaction_set"] == "4567"
    assert len(order["lines"]) == 8
    first = order["lines"][0]
    assert first == {
        "external_line_id": "1",
        "channel_sku": "17920108",
        "quantity": 6,
        "unit_of_measure": "EA",
        "unit_price": "12",
        "identifiers": [
            {"scheme": "buyer_catalog", "qualifier": "CB", "value": "17920108"},
            {"scheme": "vendor_style", "qualifier": "VA", "value": "12307"},
        ],
        "properties": [{"name": "description_75", "value": "OR/BK"}],
        "title": "KAK S/S PRINT CAMP",
    }
    assert po.verdict.notes == ()  # CTT*8: eight PO1 lines


def test_wrong_line_count_is_taken_and_noted() -> None:
    po = map_purchase_order(_po("BEG*00*SA*P~PO1*1*1*EA~CTT*3~"), channel="edi")
    (note,) = po.verdict.notes
    assert (note.tag, note.position, note.elements[0].code) == ("CTT", 4, ElementError.INVALID_CODE)
    assert "CTT01 says '3' line items, the order has 1" in note.text
    assert not po.verdict.rejected


def test_edinet_850_maps_to_a_valid_order() -> None:
    po = map_purchase_order(_only((SAMPLES / "edinet_x12.850.edi").read_bytes()), channel="edi")
    validate_order(po.order)
    assert po.order["external_id"] == "1000012"
    assert po.order["ship_to"]["name"] == "John Doe"
    assert po.order["ship_to"]["country"] == "US"
    assert po.order["lines"][0]["channel_sku"] == "0054321"
    assert po.order["lines"][0]["unit_price"] == "19.95"
    assert po.ship_to_location is None and po.verdict.notes == ()


def test_each_850_of_an_interchange_is_its_own_order() -> None:
    (ic,) = parse_interchanges(SIMPLE)
    orders = [map_purchase_order(ts, channel="edi").order for ts in ic.transactions]
    assert [o["external_id"] for o in orders] == ["A1", "A2"]


def _po(body: str) -> TransactionSet:
    segments = [s for s in body.split("~") if s]
    count = len(segments) + 2
    raw = (
        "ISA*00*          *00*          *ZZ*BUYER          *ZZ*SELLER         *261207*1200*U*00401"
        "*000000009*0*P*>~GS*PO*BUYER*SELLER*20261207*1200*7*X*004010~ST*850*0001~"
        + body
        + f"SE*{count}*0001~GE*1*7~IEA*1*000000009~"
    ).encode()
    return _only(raw)


def test_full_header_and_identifier_preference() -> None:
    case = _po(
        "BEG*05*SA*PO-9*R2*20261201~CUR*BY*cad~PER*BD*Ann Buyer*TE*555-0100*EM*ann@example.com~"
        "DTM*002*20261220~DTM*037*20261210~TD5*O*2*UPSN**UPS GROUND~"
        "N1*BY*Big Retail~N1*ST*Store 12*UL*0614141000012~N2*Receiving Dock~"
        "N3*1 Main St*Suite 4~N4*Toronto*ON*M5V 2T6*CAN~PER*IC*Dock*TE*555-0199~"
        "N1*BT*Big Retail AP~N3*9 Pay Rd~N4*Dallas*TX*75001*US~"
        "PO1*10*2*CA*24.50*PE*UP*012345678905*BP*B-77*VN*V-1*ZZ*odd~PID*F*08***Widget~"
        "DTM*010*20261211~REF*PD*promo~"
        "PO1*20*1.0*EA*.5**IN*B-78~CTT*2~"
    )
    po = map_purchase_order(case, channel="edi")
    order = po.order
    assert order["external_id"] == "PO-9/R2" and order["external_number"] == "PO-9"
    assert order["currency"] == "CAD"
    assert order["customer"] == {
        "name": "Big Retail",
        "phone": "555-0100",
        "email": "ann@example.com",
    }
    assert (
        order["ship_to"]["name"] == "Store 12" and order["ship_to"]["company"] == "Receiving Dock"
    )
    assert order["ship_to"]["country"] == "CA" and order["ship_to"]["phone"] == "555-0199"
    assert order["bill_to"]["city"] == "Dallas" and order["bill_to"]["country"] == "US"
    assert po.ship_to_location == LocationCode("ST", "UL", "0614141000012")
    attributes = {a["name"]: a["value"] for a in order["attributes"]}
    assert attributes["po_purpose"] == "05" and attributes["po_release"] == "R2"
    assert attributes["delivery_requested"] == "2026-12-20"
    assert attributes["ship_not_before"] == "2026-12-10"
    assert attributes["carrier_scac"] == "UPSN" and attributes["routing"] == "UPS GROUND"
    first, second = order["lines"]
    assert first["external_line_id"] == "10" and first["unit_of_measure"] == "CA"
    assert [i["scheme"] for i in first["identifiers"]] == [
        "vendor_part",
        "buyer_part",
        "gtin",
        "x12_zz",
    ]
    assert first["channel_sku"] == "V-1" and first["title"] == "Widget"
    assert first["properties"] == [
        {"name": "ship_requested", "value": "2026-12-11"},
        {"name": "ref_pd", "value": "promo"},
    ]
    assert second["quantity"] == 1 and second["unit_price"] == "0.5"
    assert po.verdict.notes == ()
    # the partner prefers GTINs
    by_gtin = map_purchase_order(case, channel="edi", identifier_order=("gtin",))
    assert by_gtin.order["lines"][0]["channel_sku"] == "012345678905"


def test_cancellation_purpose_cancels() -> None:
    case = _po("BEG*01*SA*PO-1**20261201~PO1*1*1*EA~")
    assert map_purchase_order(case, channel="edi").order["cancelled"] is True


@pytest.mark.parametrize(
    ("body", "tag", "position", "element", "code"),
    [
        ("BEG*00*SA***20261201~PO1*1*1*EA~", "BEG", 2, 3, ElementError.MANDATORY_MISSING),
        ("BEG*00*SA*P**20261341~PO1*1*1*EA~", "BEG", 2, 5, ElementError.INVALID_DATE),
        ("BEG*00*SA*P~PO1*1*1.5*EA~", "PO1", 3, 2, ElementError.INVALID_CHARACTER),
        ("BEG*00*SA*P~PO1*1*lots*EA~", "PO1", 3, 2, ElementError.INVALID_CHARACTER),
        ("BEG*00*SA*P~PO1*1**EA~", "PO1", 3, 2, ElementError.MANDATORY_MISSING),
        ("BEG*00*SA*P~PO1*1*1*EA*1,5~", "PO1", 3, 4, ElementError.INVALID_CHARACTER),
        ("BEG*00*SA*P~DTM*002*2026~PO1*1*1*EA~", "DTM", 3, 2, ElementError.INVALID_DATE),
        ("BEG*00*SA*P~PO1*1*1E+999999*EA~", "PO1", 3, 2, ElementError.TOO_LONG),
        ("BEG*00*SA*P~PO1*1*1*EA*1E-99~", "PO1", 3, 4, ElementError.TOO_LONG),
    ],
)
def test_bad_values_reject_with_ak3_ak4(
    body: str, tag: str, position: int, element: int, code: ElementError
) -> None:
    with pytest.raises(PurchaseOrderError) as caught:
        map_purchase_order(_po(body), channel="edi")
    note = caught.value.note
    assert (note.tag, note.position, note.code) == (tag, position, SegmentError.HAS_ELEMENT_ERRORS)
    assert [(e.position, e.code) for e in note.elements] == [(element, code)]
    assert caught.value.verdict.rejected
    assert f"{tag} at position {position}" in str(caught.value)


@pytest.mark.parametrize(("body", "tag"), [("PO1*1*1*EA~", "BEG"), ("BEG*00*SA*P~", "PO1")])
def test_missing_mandatory_segments(body: str, tag: str) -> None:
    with pytest.raises(PurchaseOrderError) as caught:
        map_purchase_order(_po(body), channel="edi")
    assert (caught.value.note.tag, caught.value.note.code) == (tag, SegmentError.MANDATORY_MISSING)


def test_schema_failure_names_the_line() -> None:
    with pytest.raises(PurchaseOrderError) as caught:
        map_purchase_order(_po("BEG*00*SA*P~PO1*1*1*EA~PO1*2*2000000*EA~"), channel="edi")
    assert (caught.value.note.tag, caught.value.note.position) == ("PO1", 4)
    assert "lines[1].quantity" in caught.value.note.text


def test_rejection_reaches_the_997() -> None:
    events = list(
        read_envelope(SIMPLE.replace(b"PO1*1*1*EA*1**VN*X~SE*4*0002", b"PO1*1*x*EA~SE*4*0002"))
    )
    verdicts: dict[str, SetVerdict] = {}
    for event in events:
        if isinstance(event, TransactionSet):
            try:
                verdicts[event.control_number] = map_purchase_order(event, channel="e").verdict
            except PurchaseOrderError as error:
                verdicts[event.control_number] = error.verdict
    end = next(e for e in events if isinstance(e, GroupEnd))
    ack = acknowledge_group(end, supported={"850"}, verdicts=verdicts)
    assert [r.code for r in ack.sets] == [AckCode.ACCEPTED, AckCode.REJECTED]


def test_identifiers_are_tried_as_aliases_in_order() -> None:
    case = _po("BEG*00*SA*P~PO1*1*1*EA***UP*012345678905*BP*B-1*VN*V-9~")
    order = map_purchase_order(case, channel="edi").order
    (line,) = order["lines"]
    assert sku_keys(line) == ["V-9", "vendor_part:V-9", "buyer_part:B-1", "gtin:012345678905"]
    # V-9 is not ours; the buyer part has no alias; the GTIN has one
    resolved = resolve_skus(order, {"gtin:012345678905": "WIDGET-RED"}, known={"WIDGET-RED"})
    assert resolved["lines"][0]["sku"] == "WIDGET-RED"
    # the vendor part is our SKU
    resolved = resolve_skus(order, {"gtin:012345678905": "WIDGET-RED"}, known={"V-9"})
    assert resolved["lines"][0]["sku"] == "V-9"
    # nothing matches: the channel SKU is kept for the unknown-SKU check
    assert resolve_skus(order, {}, known=set())["lines"][0]["sku"] == "V-9"


def test_not_an_850() -> None:
    ts = _only((SAMPLES / "bots_997-004010VICS-01.x12").read_bytes())
    with pytest.raises(ValueError, match="is a 997, not an 850"):
        map_purchase_order(ts, channel="edi")


def test_ship_to_location_takes_the_partners_address() -> None:
    ts = _po("BEG*00*SA*P~N1*ST*Store 42*92*0042~PO1*1*1*EA~")
    book = {
        ("92", "0042"): {
            "name": "Store forty-two",
            "address1": "42 Long Rd",
            "city": "Austin",
            "region": "TX",
            "postal_code": "78701",
            "country": "US",
        }
    }
    po = map_purchase_order(ts, channel="edi", locations=book)
    assert po.location_resolved
    assert po.order["ship_to"] == {
        "name": "Store 42",  # the 850's own name wins
        "address1": "42 Long Rd",
        "city": "Austin",
        "region": "TX",
        "postal_code": "78701",
        "country": "US",
    }
    unknown = map_purchase_order(
        ts, channel="edi", locations={("92", "0043"): book[("92", "0042")]}
    )
    assert not unknown.location_resolved and unknown.order["ship_to"] == {"name": "Store 42"}
    assert unknown.ship_to_location == LocationCode("ST", "92", "0042")
