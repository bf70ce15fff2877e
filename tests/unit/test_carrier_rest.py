"""The generic REST carrier/TMS: rates and bookings against respx."""

from __future__ import annotations

import json
import socket
from decimal import Decimal
from typing import Any

import pytest
import respx

from omniroute.connectors.base import ConnectorRuntime, PayloadError, PermanentError, TransientError
from omniroute.connectors.carrier_rest import mapping as tracking_mapping
from omniroute.connectors.carrier_rest.connector import RestCarrierConfig, RestCarrierConnector
from omniroute.connectors.carriers import Address, BookingRequest, Parcel, Quote, RateRequest
from omniroute.connectors.http import UnsafeUrlError

BASE = "https://tms.example.com/api"
RUNTIME = ConnectorRuntime(retry_attempts=2, retry_max_wait=0.0)
REQUEST = RateRequest(
    "fo-7",
    "NYC",
    Address("US", "10001"),
    Address("US", "94105", residential=True),
    (Parcel(2.5),),
    4100.0,
)
QUOTE = Quote("FedEx", "ground", "standard", 4, Decimal("11.20"), "USD")


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """tms.example.com is a public address; nothing else resolves (no real DNS in tests)."""

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host != "tms.example.com":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def carrier(**config: object) -> RestCarrierConnector:
    return RestCarrierConnector(
        {"base_url": BASE, "carrier": "FedEx", **config}, {"api_key": "s3cret"}, runtime=RUNTIME
    )


@respx.mock
def test_rates_are_read_and_bad_quotes_skipped() -> None:
    route = respx.post(f"{BASE}/rates").respond(
        200,
        json={
            "quotes": [
                {"service": "ground", "transit_days": 4, "amount": "11.2", "currency": "usd"},
                {
                    "carrier": "FedEx",
                    "service": "overnight",
                    "service_level": "same_day",
                    "transit_days": 1,
                    "amount": 48.9,
                    "currency": "USD",
                },
                {"service": "broken", "transit_days": -1, "amount": "x", "currency": "USD"},
            ]
        },
    )
    quotes = carrier().quote(REQUEST)
    assert [(q.carrier, q.service, q.service_level, q.amount, q.currency) for q in quotes] == [
        ("FedEx", "ground", "standard", Decimal("11.20"), "USD"),
        ("FedEx", "overnight", "same_day", Decimal("48.90"), "USD"),
    ]
    sent = route.calls.last.request
    assert sent.headers["Authorization"] == "Bearer s3cret"
    body = json.loads(sent.content)
    assert body["destination"] == {
        "country": "US",
        "postal_code": "94105",
        "region": None,
        "city": None,
        "residential": True,
    }
    assert body["parcels"] == [{"weight_kg": 2.5}]


@respx.mock
def test_rates_retry_a_503_then_give_up_transient() -> None:
    route = respx.post(f"{BASE}/rates").respond(503)
    with pytest.raises(TransientError):
        carrier().quote(REQUEST)
    assert route.call_count == 2


@respx.mock
def test_rates_answer_without_quotes_is_permanent() -> None:
    respx.post(f"{BASE}/rates").respond(200, json={"rates": []})
    with pytest.raises(PermanentError, match="no quotes list"):
        carrier().quote(REQUEST)


@respx.mock
def test_booking_sends_the_idempotency_key_once() -> None:
    route = respx.post(f"{BASE}/shipments").respond(
        201, json={"tracking_number": "1Z999", "label_url": "https://l/1.pdf", "amount": "11.20"}
    )
    booking = carrier().book(BookingRequest(REQUEST, "ground", "book:fo-7", {"name": "A"}), QUOTE)
    assert (booking.tracking_number, booking.label_ref, booking.amount, booking.currency) == (
        "1Z999",
        "https://l/1.pdf",
        Decimal("11.20"),
        "USD",
    )
    sent = route.calls.last.request
    assert sent.headers["Idempotency-Key"] == "book:fo-7"
    assert json.loads(sent.content)["service"] == "ground"


@respx.mock
def test_booking_duplicate_409_is_the_earlier_booking() -> None:
    respx.post(f"{BASE}/shipments").respond(
        409, json={"duplicate": True, "tracking_number": "1Z999", "amount": "11.20"}
    )
    booking = carrier().book(BookingRequest(REQUEST, "ground", "k", {}), QUOTE)
    assert booking.tracking_number == "1Z999"


@respx.mock
def test_booking_5xx_is_not_repeated_in_the_call() -> None:
    route = respx.post(f"{BASE}/shipments").respond(502)
    with pytest.raises(TransientError):
        carrier().book(BookingRequest(REQUEST, "ground", "k", {}), QUOTE)
    assert route.call_count == 1


@respx.mock
def test_booking_refusal_carries_the_carriers_reason() -> None:
    respx.post(f"{BASE}/shipments").respond(422, json={"error": "address not serviceable"})
    with pytest.raises(PermanentError, match="address not serviceable"):
        carrier().book(BookingRequest(REQUEST, "ground", "k", {}), QUOTE)


@respx.mock
def test_booking_without_tracking_number_is_refused() -> None:
    respx.post(f"{BASE}/shipments").respond(200, json={"label_ref": "L1"})
    with pytest.raises(PermanentError, match="tracking_number"):
        carrier().book(BookingRequest(REQUEST, "ground", "k", {}), QUOTE)


def test_private_base_url_is_refused_by_the_guard() -> None:
    connector = RestCarrierConnector(
        {"base_url": "http://127.0.0.1:9/api"}, {}, runtime=ConnectorRuntime()
    )
    with pytest.raises(UnsafeUrlError):
        connector.quote(REQUEST)


def test_serves_its_warehouses_and_config_refuses_bad_paths() -> None:
    assert carrier(warehouses=["NYC"]).serves("NYC")
    assert not carrier(warehouses=["NYC"]).serves("LAX")
    with pytest.raises(ValueError, match="single"):
        carrier(rates_path="//evil")


def test_the_kind_declares_and_implements_its_protocols() -> None:
    from omniroute.connectors import testkit

    testkit.check_kind(RestCarrierConnector, carrier())


def test_tracking_answers_are_read_in_the_canonical_vocabulary() -> None:
    doc = {
        "tracking_number": "TMS9",
        "events": [
            {"status": "pu", "occurred_at": "2026-12-01T10:00:00Z", "message": "picked up"},
            {"status": "delivered", "occurred_at": "2026-12-02T10:00:00+01:00"},
            {"status": "XX-CUSTOMS", "occurred_at": "2026-12-01T12:00:00Z"},
        ],
    }
    update = tracking_mapping.read_tracking(doc, "TMS9", "Acme", {"PU": "in_transit"})
    assert (update.carrier, update.tracking_number) == ("Acme", "TMS9")
    assert [(e.status.value, e.raw_status) for e in update.events] == [
        ("in_transit", "pu"),
        ("delivered", "delivered"),
        ("unknown", "XX-CUSTOMS"),  # a code nobody mapped: kept, never guessed
    ]
    assert update.events[1].occurred_at.utcoffset() is not None
    for bad in ({"events": "no"}, {"events": [{"occurred_at": "2026-12-01T10:00:00Z"}]}, []):
        with pytest.raises(PayloadError):
            tracking_mapping.read_tracking(bad, "TMS9", "Acme", {})


def test_a_status_map_to_a_word_omniroute_does_not_know_is_refused() -> None:
    with pytest.raises(ValueError, match="not canonical statuses"):
        RestCarrierConfig.model_validate(
            {"base_url": "https://tms.example", "status_map": {"PU": "picked"}}
        )
    with pytest.raises(ValueError, match="tracking_number"):
        RestCarrierConfig.model_validate(
            {"base_url": "https://tms.example", "tracking_path": "/tracking"}
        )
