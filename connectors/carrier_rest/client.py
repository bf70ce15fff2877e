"""Typed calls to a REST carrier/TMS: one method per remote endpoint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx


class RestCarrierClient:
    """The carrier's endpoints over an injected ``httpx.Client`` (base URL, auth, timeouts)."""

    def __init__(
        self, http: httpx.Client, *, rates_path: str, shipments_path: str, tracking_path: str = ""
    ) -> None:
        self._http = http
        self._rates_path = rates_path
        self._shipments_path = shipments_path
        self._tracking_path = tracking_path

    def rates(self, payload: Mapping[str, Any]) -> httpx.Response:
        """POST a shipment to be quoted (safe to repeat: it books nothing)."""
        return self._http.post(self._rates_path, json=dict(payload))

    def create_shipment(self, payload: Mapping[str, Any], idempotency_key: str) -> httpx.Response:
        """POST a booking; the carrier must dedupe on ``Idempotency-Key``."""
        return self._http.post(
            self._shipments_path, json=dict(payload), headers={"Idempotency-Key": idempotency_key}
        )

    def tracking(self, tracking_number: str) -> httpx.Response:
        """GET one parcel's tracking (safe to repeat)."""
        path = self._tracking_path.replace("{tracking_number}", quote(tracking_number, safe=""))
        return self._http.get(path)
