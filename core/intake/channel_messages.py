"""What an inbox row holds, read back as the channel's order object for ``map_order``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from omniroute.connectors.base import (
    IMPORTED_TOPIC,
    POLLED_TOPIC,
    OrderFetcher,
    PayloadError,
    PermanentError,
    PolledRecordReader,
    RiskAssessor,
    RiskVerdict,
)

#: Topics whose body is the order payload itself (written by omniroute, not by a channel).
STORED_PAYLOAD_TOPICS = frozenset({POLLED_TOPIC, IMPORTED_TOPIC})


class FetchNeeded(Exception):
    """The row is a hint naming an order to fetch; fetch it outside any transaction."""

    def __init__(self, source: OrderFetcher, external_id: str) -> None:
        super().__init__(f"order {external_id} must be fetched from the channel")
        self.source = source
        self.external_id = external_id

    def fetch(self) -> Mapping[str, Any] | PayloadError:
        """The order, or the PayloadError to record if the channel refuses for good.

        A TransientError propagates: the row is retried later.
        """
        try:
            return dict(self.source.fetch_order(self.external_id).payload)
        except PermanentError as exc:
            return PayloadError(f"could not fetch order {self.external_id}: {exc}")


class RiskNeeded(Exception):
    """The channel rates fraud risk apart from the order; ask it outside any transaction."""

    def __init__(self, source: RiskAssessor, external_id: str) -> None:
        super().__init__(f"the risk of order {external_id} must be read from the channel")
        self.source = source
        self.external_id = external_id

    def fetch(self) -> RiskVerdict | PayloadError:
        """The verdict, or the PayloadError to record if the channel refuses for good (the
        order is not routed without it). A TransientError propagates: retried later."""
        try:
            return self.source.assess_risk(self.external_id)
        except (PermanentError, PayloadError) as exc:
            return PayloadError(f"could not read the fraud risk of order {self.external_id}: {exc}")


def channel_order_of(
    source: Any,
    topic: str | None,
    headers: Mapping[str, str],
    body: bytes,
    *,
    fetched: Mapping[str, Any] | PayloadError | None = None,
) -> Mapping[str, Any] | None:
    """The channel order an inbox row carries; None when it carries none (a ping, a topic
    omniroute does not use). A row that only names an order raises ``FetchNeeded`` unless
    ``fetched`` holds what fetching it gave."""
    if topic in STORED_PAYLOAD_TOPICS:
        return _stored_payload(body, source if topic == POLLED_TOPIC else None)
    event = source.parse_webhook(headers, body)
    if event.order is not None:
        return dict(event.order)
    if event.external_id is None:
        return None
    if not isinstance(source, OrderFetcher):
        raise PayloadError(
            f"webhook {event.topic!r} names order {event.external_id} but carries no order, "
            "and this connector kind cannot fetch one"
        )
    if fetched is None:
        raise FetchNeeded(source, event.external_id)
    if isinstance(fetched, PayloadError):
        raise fetched
    return fetched


def _stored_payload(body: bytes, poller: Any = None) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise PayloadError(f"stored order payload is not JSON: {exc}") from exc
    if isinstance(poller, PolledRecordReader):
        # Read as the poll read it: a record the poll rejected fails again for that reason.
        poller.read_polled(payload)
    if not isinstance(payload, dict):
        raise PayloadError("stored order payload must be a JSON object")
    return payload
