"""ORDERS → canonical order: the samples (values checked against the files by hand) and a
message using every segment the mapping reads."""

from __future__ import annotations

import pickle
from datetime import timedelta, timezone

import pytest

from omniroute.connectors.edi_edifact.envelope import Interchange, parse_interchanges
from omniroute.connectors.edi_edifact.orders import (
    LocationCode,
    OrdersMappingError,
    map_orders,
    orders_in,
)
from omniroute.mapping import MappingError, validate_order

from .conftest import sample

FULL = (
    "UNA:+,? '\n"
    "UNB+UNOC:3+4012345000009:14+4098765000002:14+240305:0930+IC42'\n"
    "UNH+1+ORDERS:D:01B:UN:EAN010'\n"
    "BGM+220+PO-778?+1+9+AC'\n"
    "DTM+137:202403050915:203'\n"
    "DTM+2:20240312:102'\n"
    "DTM+64:20240311:102'\n"
    "DTM+63:20240313:102'\n"
    "FTX+DEL+++Ring twice:rear door'\n"
    "RFF+CT:K-2024-01'\n"
    "NAD+BY+4012345000009::9++Hansen Handel GmbH'\n"
    "RFF+VA:DE123456789'\n"
    "NAD+ST+4012345000016::9++Hansen Lager Nord+Industriestr. 5:Tor 3+Hamburg++20457+de'\n"
    "NAD+IV++Hansen Buchhaltung:Postfach 12:20001 Hamburg'\n"
    "CUX+2:EUR:9'\n"
    "LIN+1++4000862141404:EN'\n"
    "PIA+5+ART-1001:SA::91+B-77:IN::92'\n"
    "IMD+F++:::Espresso beans:1 kg'\n"
    "QTY+21:12:PCE'\n"
    "DTM+2:20240314:102'\n"
    "MOA+203:215,40'\n"
    "PRI+AAA:17,95'\n"
    "PRI+AAB:1995:::100:PCE'\n"
    "RFF+LI:10'\n"
    "LIN+2++SRV-55:SRV'\n"
    "QTY+21:3'\n"
    "PRI+AAB:4,5'\n"
    "UNS+S'\n"
    "MOA+79:228,90'\n"
    "CNT+2:2'\n"
    "CNT+1:15'\n"
    "UNT+30+1'\n"
    "UNZ+1+IC42'\n"
)


def interchanges(text: str) -> tuple[Interchange, ...]:
    found = parse_interchanges(text)
    assert all(not list(ic.all_problems()) for ic in found if ic.control_reference != "807")
    return found


def test_a_full_order() -> None:
    (interchange,) = interchanges(FULL)
    (message,) = orders_in(interchange)
    mapped = map_orders(message, interchange, zone=timezone(timedelta(hours=1)))
    order = mapped.order
    validate_order(order)
    assert order["external_id"] == order["external_number"] == "PO-778+1"
    assert order["created_at"] == "2024-03-05T09:15:00+01:00"
    assert order["currency"] == "EUR" and order["subtotal"] == "228.90"
    assert order["cancelled"] is False and order["note"] == "Ring twice rear door"
    assert order["customer"] == {"name": "Hansen Handel GmbH"}
    assert order["ship_to"] == {
        "name": "Hansen Lager Nord",
        "address1": "Industriestr. 5",
        "address2": "Tor 3",
        "city": "Hamburg",
        "region": None,
        "postal_code": "20457",
        "country": "DE",
    }
    assert order["bill_to"]["name"] == "Hansen Buchhaltung"
    assert order["bill_to"]["address1"] == "Postfach 12"
    attributes = {pair["name"]: pair["value"] for pair in order["attributes"]}
    assert attributes["delivery_requested"] == "2024-03-12"
    assert attributes["delivery_earliest"] == "2024-03-11"
    assert attributes["delivery_latest"] == "2024-03-13"
    assert attributes["reference_CT"] == "K-2024-01"
    assert attributes["buyer_reference_VA"] == "DE123456789"
    assert attributes["ship_to_location"] == "4012345000016"
    assert attributes["ship_to_location_agency"] == "9"
    assert attributes["response_type"] == "AC"
    first, second = order["lines"]
    assert first["external_line_id"] == "1" and first["quantity"] == 12
    assert first["channel_sku"] == "ART-1001"  # the supplier's (our) number comes first
    assert first["identifiers"] == [
        {"scheme": "vendor_part", "qualifier": "SA", "value": "ART-1001"},
        {"scheme": "buyer_part", "qualifier": "IN", "value": "B-77"},
        {"scheme": "gtin", "qualifier": "EN", "value": "4000862141404"},
    ]
    assert first["unit_of_measure"] == "PCE"
    gtin_first = map_orders(message, interchange, identifier_order=("gtin", "buyer_part"))
    assert gtin_first.order["lines"][0]["channel_sku"] == "4000862141404"
    assert [i["qualifier"] for i in gtin_first.order["lines"][0]["identifiers"]] == [
        "EN",
        "IN",
        "SA",
    ]
    assert first["title"] == "Espresso beans 1 kg"
    assert first["unit_price"] == "17.95" and first["line_total"] == "215.40"
    props = {pair["name"]: pair["value"] for pair in first["properties"]}
    assert props == {
        "delivery_requested": "2024-03-14",
        "gross_price": "19.95",
        "reference_LI": "10",
    }
    assert second["identifiers"] == [{"scheme": "gtin", "qualifier": "SRV", "value": "SRV-55"}]
    assert second["unit_of_measure"] is None
    assert second["unit_price"] == "4.5"  # only a gross price: it is the price
    assert mapped.ship_to_location == LocationCode("ST", "4012345000016", "9")
    assert mapped.response_requested == "AC"


def test_pydifact_sample() -> None:
    """tests/fixtures/third_party/edifact/pydifact_order.edi, read by hand: BGM+220::9+
    801715918011+9+NA, DTM 137 201508030000 (203), DTM 2 201508060000 (203), RFF+PD:50515,
    NAD SU/BY/DP with GLNs (agency 9), two EN lines of 8 each with RFF+PD:99. No CUX."""
    (interchange,) = parse_interchanges(sample("pydifact_order.edi"))
    (message,) = interchange.messages
    mapped = map_orders(message, interchange, currency="gbp")
    order = mapped.order
    assert order["external_id"] == "801715918011" and order["currency"] == "GBP"
    assert order["created_at"] == "2015-08-03T00:00:00+00:00"
    assert order["ship_to"] is None
    assert mapped.ship_to_location == LocationCode("DP", "8711576100019", "9")
    assert [loc.party for loc in mapped.locations] == ["SU", "BY", "DP"]
    attributes = {pair["name"]: pair["value"] for pair in order["attributes"]}
    assert attributes["delivery_requested"] == "2015-08-06T00:00:00+00:00"
    assert attributes["reference_PD"] == "50515"
    assert attributes["buyer_location"] == "8711576000012"
    assert [(line["channel_sku"], line["quantity"]) for line in order["lines"]] == [
        ("5020436373085", 8),
        ("5020436373108", 8),
    ]
    assert order["lines"][0]["properties"] == [{"name": "reference_PD", "value": "99"}]


def test_bots_sample_two_interchanges_three_orders() -> None:
    """bots order01.edi: interchange T0000000004-1 with orders -1 and -2 (one line of 1 each),
    interchange T0000000004-2 with order -3 (lines of 10, 100, 1000, 10000)."""
    found = parse_interchanges(sample("bots_my_first_plugin_order01.edi"))
    orders = [
        map_orders(message, interchange, currency="EUR").order
        for interchange in found
        for message in orders_in(interchange)
    ]
    assert [order["external_id"] for order in orders] == [
        "ORDT0000000004-1",
        "ORDT0000000004-2",
        "ORDT0000000004-3",
    ]
    assert [line["quantity"] for line in orders[2]["lines"]] == [10, 100, 1000, 10000]
    assert orders[2]["lines"][3]["channel_sku"] == "2000100873182"
    assert orders[0]["created_at"] == "2005-08-19T00:00:00+00:00"


def test_cancellation_and_test_interchange() -> None:
    text = FULL.replace("+9+AC'", "+1+AC'").replace("+IC42'\nUNH", "+IC42++++++1'\nUNH")
    (interchange,) = interchanges(text)
    order = map_orders(interchange.messages[0], interchange).order
    assert order["cancelled"] is True and order["test"] is True


@pytest.mark.parametrize(
    ("change", "message", "source"),
    [
        (("CNT+2:2", "CNT+2:3"), "CNT+2 counts 3 lines but the message has 2", "segment 29 (CNT)"),
        (
            ("CNT+1:15", "CNT+1:14"),
            "CNT+1 totals 14 but the lines order 15 units",
            "segment 30 (CNT)",
        ),
        (
            ("QTY+21:12:PCE", "QTY+21:1,5:PCE"),
            "quantity '1,5' is not a whole number",
            "segment 18 (QTY)",
        ),
        (
            ("DTM+2:20240312:102", "DTM+2:20241312:102"),
            "not a date of format 102",
            "segment 5 (DTM)",
        ),
        (
            ("DTM+2:20240312:102", "DTM+2:2024:602"),
            "format qualifier '602' is not supported",
            "segment 5 (DTM)",
        ),
        (("PRI+AAA:17,95", "PRI+AAA:17.9.5"), "'17.9.5' is not a number", "segment 21 (PRI)"),
        (
            ("BGM+220+PO-778?+1+9+AC", "BGM+220++9+AC"),
            "BGM has no document number",
            "segment 3 (BGM)",
        ),
        (
            ("LIN+2++SRV-55:SRV", "LIN+1++SRV-55:SRV"),
            "line number '1' is used twice",
            "segment 24 (LIN)",
        ),
    ],
)
def test_bad_values_name_the_segment(change: tuple[str, str], message: str, source: str) -> None:
    (interchange,) = parse_interchanges(FULL.replace(*change))
    with pytest.raises(MappingError, match=message.replace("+", r"\+").replace("(", r"\(")) as info:
        map_orders(interchange.messages[0], interchange)
    assert info.value.source == source


def test_currency_and_lines_are_required_and_other_messages_refused() -> None:
    (interchange,) = parse_interchanges(
        FULL.replace("CUX+2:EUR:9'\n", "").replace("UNT+30", "UNT+29")
    )
    with pytest.raises(MappingError, match="no CUX currency"):
        map_orders(interchange.messages[0], interchange)
    assert (
        map_orders(interchange.messages[0], interchange, currency="CHF").order["currency"] == "CHF"
    )
    (desadv,) = parse_interchanges(sample("bots_desadv2.edi"))
    with pytest.raises(MappingError, match="'DESADV' is not ORDERS"):
        map_orders(desadv.messages[0], desadv)
    assert list(orders_in(desadv)) == []


def test_schema_bounds_apply() -> None:
    text = FULL.replace("+Hamburg++20457+de'", "+Hamburg++20457+DEU'")
    (interchange,) = parse_interchanges(text)
    with pytest.raises(MappingError) as info:
        map_orders(interchange.messages[0], interchange)
    assert info.value.path == "ship_to.country"


def test_schema_takes_line_identifiers_and_bounds_them() -> None:
    (interchange,) = parse_interchanges(FULL)
    order = map_orders(interchange.messages[0], interchange).order
    line = order["lines"][0]
    for bad, path in (
        ([{"scheme": "gtin"}], "lines[0].identifiers[0].value"),
        ([{"qualifier": "EN", "value": "1"}], "lines[0].identifiers[0].scheme"),
        ([{"scheme": "gtin", "value": ""}], "lines[0].identifiers[0].value"),
        ([{"scheme": "gtin", "value": "1", "extra": "x"}], "lines[0].identifiers[0].extra"),
        ([{"scheme": "gtin", "value": "1"}] * 21, "lines[0].identifiers"),
    ):
        broken = {**order, "lines": [{**line, "identifiers": bad}]}
        with pytest.raises(MappingError) as info:
            validate_order(broken)
        assert info.value.path == path


def test_line_break_variants_map_alike() -> None:
    """The bots sample has CRLF after most segments and LF after some; on one line, with
    LF only, or wrapped at 40 columns it is the same order."""
    text = sample("bots_my_first_plugin_order01.edi")
    one_line = text.replace("\r", "").replace("\n", "")
    wrapped = "\n".join(one_line[i : i + 40] for i in range(0, len(one_line), 40))

    def mapped(variant: str) -> list[dict[str, object]]:
        return [
            map_orders(message, interchange, currency="EUR").order
            for interchange in parse_interchanges(variant)
            for message in orders_in(interchange)
        ]

    split_tags = one_line.replace("UNB", "U\r\nNB").replace("LIN", "LI\nN")
    assert mapped(text) == mapped(one_line) == mapped(text.replace("\r\n", "\n"))
    assert mapped(text) == mapped(wrapped) == mapped(split_tags)
    assert len(mapped(wrapped)) == 3


def test_mapping_errors_keep_their_place_across_processes() -> None:
    (interchange,) = parse_interchanges(FULL.replace("PRI+AAB:1995:::100:PCE", "PRI+AAB:1995:::x"))
    with pytest.raises(OrdersMappingError) as info:
        map_orders(interchange.messages[0], interchange)
    error = info.value
    assert (error.segment, error.tag, error.element, error.component) == (22, "PRI", 1, 5)
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert isinstance(copy, OrdersMappingError)
    assert (copy.segment, copy.code, copy.component, copy.source) == (
        22,
        error.code,
        5,
        "segment 22 (PRI)",
    )
