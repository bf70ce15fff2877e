"""EasyPost and AfterShip connectors: signatures, dedupe keys, the real samples through
parse and the mapping tables."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from omniroute.connectors import testkit
from omniroute.connectors.aftership import mapping as as_mapping
from omniroute.connectors.aftership.connector import AfterShipConnector
from omniroute.connectors.base import (
    ConnectorRuntime,
    PayloadError,
    SignatureError,
    kept_webhook_headers,
)
from omniroute.connectors.easypost import mapping as ep_mapping
from omniroute.connectors.easypost.connector import EasyPostConnector
from omniroute.connectors.tracking import TrackingSource, TrackingStatus
from tests.carrier_samples import (
    AFTERSHIP_SECRET,
    EASYPOST_SECRET,
    aftership_delivery,
    aftership_event,
    aftership_tracking,
    easypost_delivery,
    easypost_event,
    easypost_tracker,
)

T = TrackingStatus


def easypost() -> EasyPostConnector:
    return EasyPostConnector({}, {"webhook_secret": EASYPOST_SECRET}, runtime=ConnectorRuntime())


def aftership() -> AfterShipConnector:
    return AfterShipConnector({}, {"webhook_secret": AFTERSHIP_SECRET}, runtime=ConnectorRuntime())


@pytest.mark.parametrize("make", [easypost, aftership])
def test_kinds_declare_themselves(make: Callable[[], object]) -> None:
    instance = make()
    testkit.check_kind(type(instance), instance)
    assert isinstance(instance, TrackingSource)


def test_easypost_signature_good_bad_missing() -> None:
    headers, body = easypost_delivery(easypost_event())
    testkit.check_signature(easypost(), headers, body, signature_header="X-Hmac-Signature")
    # The key is the NFKD form of the secret, UTF-8 encoded, as EasyPost's own libraries do.
    key = unicodedata.normalize("NFKD", EASYPOST_SECRET).encode()
    assert headers["X-Hmac-Signature"] == (
        "hmac-sha256-hex=" + hmac.new(key, body, hashlib.sha256).hexdigest()
    )
    composed = EasyPostConnector(
        {},
        {"webhook_secret": unicodedata.normalize("NFC", EASYPOST_SECRET)},
        runtime=ConnectorRuntime(),
    )
    composed.verify_webhook(headers, body)  # the same secret typed in another normal form
    with pytest.raises(SignatureError, match="missing X-Hmac-Signature"):
        easypost().verify_webhook({}, body)
    hexonly = {"X-Hmac-Signature": headers["X-Hmac-Signature"].split("=", 1)[1]}
    with pytest.raises(SignatureError):
        easypost().verify_webhook(hexonly, body)


def test_aftership_signature_good_bad_missing() -> None:
    headers, body = aftership_delivery(aftership_event())
    testkit.check_signature(aftership(), headers, body, signature_header="aftership-hmac-sha256")
    expected = base64.b64encode(
        hmac.new(AFTERSHIP_SECRET.encode(), body, hashlib.sha256).digest()
    ).decode()
    assert headers["aftership-hmac-sha256"] == expected
    with pytest.raises(SignatureError, match="missing aftership-hmac-sha256"):
        aftership().verify_webhook({"Content-Type": "application/json"}, body)
    other = AfterShipConnector({}, {"webhook_secret": "another"}, runtime=ConnectorRuntime())
    with pytest.raises(SignatureError, match="does not match"):
        other.verify_webhook(headers, body)


def test_signatures_are_never_stored() -> None:
    for source, (headers, _body) in (
        (easypost(), easypost_delivery(easypost_event())),
        (aftership(), aftership_delivery(aftership_event())),
    ):
        stored = kept_webhook_headers(source, headers)
        assert stored == {"content-type": "application/json"}


def test_dedupe_keys_are_the_event_ids() -> None:
    event = easypost_event()
    source = easypost()
    testkit.check_duplicate_delivery(
        source, easypost_delivery(event), easypost_delivery({**event, "id": "evt_2"})
    )
    assert source.dedupe_key({}, easypost_delivery(event)[1]) == "ep:evt_1"
    first = aftership_event(event_id="5b0d7b9c-0000-4000-8000-000000000001")
    testkit.check_duplicate_delivery(
        aftership(), aftership_delivery(first), aftership_delivery(aftership_event())
    )
    assert aftership().dedupe_key({}, aftership_delivery(first)[1]) == (
        "as:5b0d7b9c-0000-4000-8000-000000000001"
    )
    # A body without an id (or not JSON) is keyed by its digest, never refused here.
    assert aftership().dedupe_key({}, b"not json").startswith("as:sha256:")


def test_the_recorded_easypost_event_parses() -> None:
    headers, body = easypost_delivery(easypost_event())
    delivery = easypost().parse_tracking(headers, body)
    assert delivery.topic == "tracker.updated"
    update = delivery.update
    assert update is not None
    assert (update.carrier, update.tracking_number) == ("FedEx", "1")
    assert update.tracking_url == "https://track.easypost.com/1"
    assert [e.status for e in update.events] == [T.LABEL_CREATED] + [T.IN_TRANSIT] * 6
    first = update.events[0]
    assert first.raw_status == "pre_transit/label_created"
    assert first.occurred_at == datetime(2024, 7, 31, 15, 0, tzinfo=UTC)
    assert first.message == "Shipment information sent to FedEx"
    assert first.location == "32837, US"
    assert update.events[1].location == "ORLANDO, FL, 32809, US"


def test_the_recorded_easypost_tracker_maps() -> None:
    update = ep_mapping.tracker_update(easypost_tracker())
    assert update.tracking_number == "EZ1000000001"
    assert [e.status for e in update.events] == [T.LABEL_CREATED, T.LABEL_CREATED]
    assert [e.raw_status for e in update.events] == ["pre_transit/status_update"] * 2


def test_the_recorded_aftership_tracking_parses() -> None:
    headers, body = aftership_delivery(aftership_event())
    delivery = aftership().parse_tracking(headers, body)
    update = delivery.update
    assert update is not None and delivery.topic == "tracking_update"
    assert (update.carrier, update.tracking_number) == ("fedex", "111111111111")
    statuses = [e.status for e in update.events]
    assert statuses[0] == T.LABEL_CREATED and statuses[-2:] == [T.OUT_FOR_DELIVERY, T.DELIVERED]
    assert update.events[-1].raw_status == "Delivered/Delivered_001"
    # Oldest first, across the checkpoints' different offsets.
    times = [e.occurred_at for e in update.events]
    assert times == sorted(times)
    assert update.events[1].location == "DONGGUAN CN"


@pytest.mark.parametrize(
    ("status", "detail", "expected"),
    [
        ("pre_transit", "label_created", T.LABEL_CREATED),
        ("in_transit", "arrived_at_facility", T.IN_TRANSIT),
        ("in_transit", "arrived_at_pickup_location", T.AVAILABLE_FOR_PICKUP),
        ("out_for_delivery", "out_for_delivery", T.OUT_FOR_DELIVERY),
        ("available_for_pickup", "arrived_at_pickup_location", T.AVAILABLE_FOR_PICKUP),
        ("in_transit", "lost", T.EXCEPTION),
        ("failure", "damaged", T.EXCEPTION),
        ("return_to_sender", "return", T.RETURNED_TO_SENDER),
        ("in_transit", "return_to_sender", T.RETURNED_TO_SENDER),
        ("delivered", "arrived_at_destination", T.DELIVERED),
        ("delivered", "lost", T.DELIVERED),  # a detail never overrides a final status
        ("cancelled", None, T.EXCEPTION),
        ("something_new", None, T.UNKNOWN),
    ],
)
def test_easypost_mapping_table(status: str, detail: str | None, expected: T) -> None:
    mapped, raw = ep_mapping.canonical_status(status, detail)
    assert mapped == expected
    assert raw == (status if detail is None else f"{status}/{detail}")


@pytest.mark.parametrize(
    ("tag", "subtag", "expected"),
    [
        ("Pending", "Pending_001", T.UNKNOWN),
        ("InfoReceived", "InfoReceived_001", T.LABEL_CREATED),
        ("InTransit", "InTransit_007", T.IN_TRANSIT),
        ("OutForDelivery", "OutForDelivery_001", T.OUT_FOR_DELIVERY),
        ("AvailableForPickup", "AvailableForPickup_001", T.AVAILABLE_FOR_PICKUP),
        ("AttemptFail", "AttemptFail_001", T.FAILED_ATTEMPT),
        ("Exception", "Exception_004", T.EXCEPTION),
        ("Exception", "Exception_010", T.EXCEPTION),
        ("Exception", "Exception_011", T.RETURNED_TO_SENDER),
        ("Expired", "Expired_001", T.EXCEPTION),
        ("Delivered", "Delivered_003", T.DELIVERED),
        ("Unheard", None, T.UNKNOWN),
    ],
)
def test_aftership_mapping_table(tag: str, subtag: str | None, expected: T) -> None:
    mapped, raw = as_mapping.canonical_status(tag, subtag)
    assert mapped == expected
    assert raw == (tag if subtag is None else f"{tag}/{subtag}")


def test_a_delivered_tracker_without_its_last_scan_still_says_delivered() -> None:
    event = easypost_event()
    event["result"]["status"], event["result"]["status_detail"] = (
        "delivered",
        "arrived_at_destination",
    )
    update = easypost().parse_tracking({}, easypost_delivery(event)[1]).update
    assert update is not None
    assert update.events[-1].status == T.DELIVERED
    assert update.events[-1].occurred_at == datetime(2024, 8, 2, 19, 26, 51, tzinfo=UTC)


def test_other_event_types_are_acknowledged_and_ignored() -> None:
    event = {**easypost_event(), "description": "batch.updated"}
    assert easypost().parse_tracking({}, easypost_delivery(event)[1]).update is None
    other = {**aftership_event(), "event": "edd_revise"}
    assert aftership().parse_tracking({}, aftership_delivery(other)[1]).update is None


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: e.pop("description"), "description"),
        (lambda e: e.__setitem__("result", []), "result"),
        (lambda e: e["result"].pop("tracking_code"), "result.tracking_code"),
        (
            lambda e: e["result"]["tracking_details"][2].__setitem__("datetime", "yesterday"),
            r"result.tracking_details\[2\].datetime",
        ),
    ],
)
def test_bad_easypost_payloads_say_what_is_wrong(
    mutate: Callable[[dict[str, Any]], object], message: str
) -> None:
    event = copy.deepcopy(easypost_event())
    mutate(event)
    with pytest.raises(PayloadError, match=message):
        easypost().parse_tracking({}, easypost_delivery(event)[1])
    with pytest.raises(PayloadError, match="not valid JSON"):
        easypost().parse_tracking({}, b"{")


def test_bad_aftership_payloads_say_what_is_wrong() -> None:
    tracking = aftership_tracking()
    tracking["checkpoints"][0]["checkpoint_time"] = None
    with pytest.raises(PayloadError, match=r"msg.checkpoints\[0\].checkpoint_time"):
        aftership().parse_tracking({}, aftership_delivery(aftership_event(tracking))[1])
    no_number = aftership_tracking()
    no_number["tracking_number"] = " "
    with pytest.raises(PayloadError, match=r"msg\.tracking_number"):
        aftership().parse_tracking({}, aftership_delivery(aftership_event(no_number))[1])


def test_a_checkpoint_time_without_offset_is_taken_as_utc() -> None:
    tracking = aftership_tracking()
    tracking["checkpoints"] = [
        {**tracking["checkpoints"][0], "checkpoint_time": "2018-07-23T08:58:00"}
    ]
    update = aftership().parse_tracking({}, aftership_delivery(aftership_event(tracking))[1]).update
    assert update is not None
    assert update.events[0].occurred_at == datetime(2018, 7, 23, 8, 58, tzinfo=UTC)
