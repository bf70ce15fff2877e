"""Tracking on the generic signed webhook: the ``tracking.updated`` event and its errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from omniroute.connectors import testkit
from omniroute.connectors.base import ConnectorRuntime, PayloadError
from omniroute.connectors.generic.connector import GenericWebhookConnector
from omniroute.connectors.tracking import TrackingSource, TrackingStatus

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def connector() -> GenericWebhookConnector:
    return GenericWebhookConnector({}, {"webhook_secret": SECRET}, runtime=ConnectorRuntime())


def body(data: Any, kind: str = "tracking.updated") -> bytes:
    return json.dumps({"type": kind, "timestamp": "2026-11-27T10:00:00Z", "data": data}).encode()


PARCEL = {
    "carrier": "Royal Mail",
    "tracking_number": "ab 123 456 789 gb",
    "tracking_url": "https://example.com/t/AB123456789GB",
    "events": [
        {"status": "delivered", "occurred_at": "2026-11-28T11:00:00+00:00", "raw_status": "DEL"},
        {
            "status": "in_transit",
            "occurred_at": "2026-11-27T09:12:00Z",
            "message": "Departed facility",
            "location": "Leeds, GB",
        },
    ],
}


def test_the_generic_kind_takes_tracking_too() -> None:
    instance = connector()
    testkit.check_kind(type(instance), instance)
    assert isinstance(instance, TrackingSource)


def test_a_tracking_event_parses_oldest_first() -> None:
    delivery = connector().parse_tracking({}, body(PARCEL))
    assert delivery is not None and delivery.update is not None
    update = delivery.update
    assert (update.carrier, update.tracking_number) == ("Royal Mail", "ab 123 456 789 gb")
    assert [e.status for e in update.events] == [
        TrackingStatus.IN_TRANSIT,
        TrackingStatus.DELIVERED,
    ]
    assert update.events[0].raw_status == "in_transit"  # no raw code sent: the status itself
    assert update.events[0].occurred_at == datetime(2026, 11, 27, 9, 12, tzinfo=UTC)
    assert update.events[1].raw_status == "DEL"


def test_an_order_event_is_not_tracking() -> None:
    assert connector().parse_tracking({}, body({"external_id": "1"}, "order.created")) is None
    # Even when an order mentions the words, only the envelope's type decides.
    assert (
        connector().parse_tracking({}, body({"note": "tracking.updated"}, "order.updated")) is None
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], '"data" object'),
        ({**PARCEL, "events": []}, "data.events must be a non-empty list"),
        ({**PARCEL, "carrier": ""}, "data.carrier"),
        (
            {
                **PARCEL,
                "events": [{"status": "lost_in_space", "occurred_at": "2026-11-27T09:12:00Z"}],
            },
            r"data.events\[0\].status must be one of unknown, label_created",
        ),
        (
            {**PARCEL, "events": [{"status": "in_transit", "occurred_at": "soon"}]},
            r"data.events\[0\].occurred_at",
        ),
    ],
)
def test_bad_tracking_events_say_what_is_wrong(data: Any, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        connector().parse_tracking({}, body(data))
