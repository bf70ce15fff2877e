"""The real EasyPost and AfterShip samples as signed webhook deliveries, for the tests."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

from omniroute.connectors.aftership import webhooks as aftership
from omniroute.connectors.easypost import webhooks as easypost

FIXTURES = Path(__file__).parent / "fixtures" / "third_party"
EASYPOST_SECRET = "sécret-ep"  # accented: the key is the NFKD form, as EasyPost's libraries use
AFTERSHIP_SECRET = "as_webhook_secret"


def easypost_event() -> dict[str, Any]:
    """The recorded ``tracker.updated`` Event, as EasyPost posts it."""
    data: dict[str, Any] = json.loads(
        (FIXTURES / "easypost" / "event-body.tracker.updated.json").read_text()
    )
    return data


def easypost_tracker() -> dict[str, Any]:
    """The recorded Tracker of GET /trackers/:id (a USPS test tracker, pre_transit)."""
    data: dict[str, Any] = json.loads(
        (FIXTURES / "easypost" / "trackers-retrieve.json").read_text()
    )
    return data


def aftership_tracking() -> dict[str, Any]:
    """The recorded AfterShip tracking (FedEx, delivered)."""
    data = json.loads(
        (FIXTURES / "aftership" / "aftership_sdk_java_GetTrackingResult.json").read_text()
    )
    tracking: dict[str, Any] = data["data"]["tracking"]
    return tracking


def aftership_event(
    tracking: dict[str, Any] | None = None, event_id: str | None = None
) -> dict[str, Any]:
    """A ``tracking_update`` webhook: AfterShip puts the tracking object under ``msg``."""
    return {
        "event": "tracking_update",
        "event_id": event_id or str(uuid.uuid4()),
        "is_tracking_first_tag": False,
        "msg": copy.deepcopy(tracking if tracking is not None else aftership_tracking()),
        "ts": 1534482646,
    }


def easypost_delivery(event: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    body = json.dumps(event).encode()
    return {
        "Content-Type": "application/json",
        easypost.SIGNATURE_HEADER: easypost.sign(EASYPOST_SECRET, body),
    }, body


def aftership_delivery(event: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    body = json.dumps(event).encode()
    return {
        "Content-Type": "application/json",
        aftership.SIGNATURE_HEADER: aftership.sign(AFTERSHIP_SECRET, body),
    }, body
