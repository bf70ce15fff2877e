"""The generic REST carrier/TMS kind (``carrier_rest``): quotes and bookings over HTTP.

Rates may be asked again freely (they book nothing): a failed call is tried again within
the call. A booking is sent at most once per call (only a connection never made is tried
again), always with the same ``Idempotency-Key``; a 5xx, 429 or timeout is a
``TransientError`` for the outbox to try again later; a 409 with ``{"duplicate": true}`` is
the earlier booking, read from the same body; any other 4xx a ``PermanentError`` carrying the
carrier's message (it opens the booking's exception). See ``mapping`` for the bodies.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from omniroute.connectors.base import Capability, ConnectorRuntime
from omniroute.connectors.carrier_rest import mapping
from omniroute.connectors.carrier_rest.client import RestCarrierClient
from omniroute.connectors.carriers import Booking, BookingRequest, Quote, RateRequest
from omniroute.connectors.http import (
    UrlGuard,
    build_client,
    check_base_url,
    raise_for_status,
    send_with_retry,
)
from omniroute.connectors.tracking import (
    TRACKING_NUMBER_HEADER,
    TrackingDelivery,
    TrackingStatus,
    decode_json,
)

_PATH = re.compile(r"/(?!/)[^\s?#]*")


class RestCarrierConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field(description="http(s) root of the carrier/TMS API")
    rates_path: str = "/rates"
    shipments_path: str = "/shipments"
    carrier: str = Field(
        default="", max_length=100, description="Carrier name for quotes that name none"
    )
    warehouses: list[str] = Field(
        default_factory=list, description="Warehouse codes that may use it; [] every one"
    )
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    tracking_path: str = Field(
        default="",
        description="GET a parcel's tracking, '{tracking_number}' in the path; set it for a "
        "carrier without webhooks, which is then polled for its booked parcels ('' : not)",
    )
    status_map: dict[str, str] = Field(
        default_factory=dict,
        description="the carrier's tracking codes -> omniroute's canonical statuses",
    )

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        return check_base_url(value, "base_url")

    @field_validator("rates_path", "shipments_path")
    @classmethod
    def _check_path(cls, value: str) -> str:
        if not _PATH.fullmatch(value):
            raise ValueError("must be a path starting with a single '/'")
        return value

    @field_validator("tracking_path")
    @classmethod
    def _check_tracking_path(cls, value: str) -> str:
        if value and (not _PATH.fullmatch(value) or "{tracking_number}" not in value):
            raise ValueError("must be a path starting with '/' holding '{tracking_number}'")
        return value

    @field_validator("status_map")
    @classmethod
    def _check_statuses(cls, value: dict[str, str]) -> dict[str, str]:
        known = {s.value for s in TrackingStatus}
        wrong = sorted(v for v in value.values() if v not in known)
        if wrong:
            raise ValueError(f"not canonical statuses: {wrong}; use one of {sorted(known)}")
        return value


class RestCarrierSecrets(BaseModel):
    """``api_key`` is sent as a Bearer token when set."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    api_key: SecretStr | None = None


class RestCarrierConnector:
    kind: ClassVar[str] = "carrier_rest"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.CARRIER_RATES, Capability.CARRIER_BOOKING, Capability.TRACKING_POLL}
    )
    config_model: ClassVar[type[BaseModel]] = RestCarrierConfig
    secrets_model: ClassVar[type[BaseModel]] = RestCarrierSecrets

    def __init__(
        self,
        config: RestCarrierConfig | Mapping[str, Any],
        secrets: RestCarrierSecrets | Mapping[str, Any],
        *,
        runtime: ConnectorRuntime,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = RestCarrierConfig.model_validate(config)
        self._secrets = RestCarrierSecrets.model_validate(secrets)
        self._runtime = runtime
        self._transport = transport
        self._lock = threading.Lock()
        self._http: httpx.Client | None = None
        self._api: RestCarrierClient | None = None
        self._guard = UrlGuard(allow_private=runtime.allow_private_urls)
        self._warehouses = frozenset(self.config.warehouses)
        if not self.config.tracking_path:  # polled only where the carrier has a tracking call
            self.enabled_capabilities = self.capabilities - {Capability.TRACKING_POLL}

    def serves(self, warehouse_code: str) -> bool:
        return not self._warehouses or warehouse_code in self._warehouses

    def quote(self, request: RateRequest) -> tuple[Quote, ...]:
        self._guard.check(self.config.base_url)
        api = self._client()
        payload = mapping.rates_payload(request)
        response, _ = send_with_retry(
            lambda: api.rates(payload),
            attempts=self._runtime.retry_attempts,
            max_wait=self._runtime.retry_max_wait,
        )
        return mapping.read_quotes(_json(response), self.config.carrier)

    def book(self, request: BookingRequest, quote: Quote) -> Booking:
        self._guard.check(self.config.base_url)
        api = self._client()
        payload = mapping.booking_payload(request, quote)
        response, _ = send_with_retry(
            lambda: api.create_shipment(payload, request.idempotency_key),
            attempts=self._runtime.retry_attempts,
            max_wait=self._runtime.retry_max_wait,
            check=_check_booking,
            repeat_sent=False,
        )
        return mapping.read_booking(_json(response), quote, request.service)

    def poll_tracking(self, tracking_number: str) -> bytes | None:
        self._guard.check(self.config.base_url)
        api = self._client()
        response, _ = send_with_retry(
            lambda: api.tracking(tracking_number),
            attempts=self._runtime.retry_attempts,
            max_wait=self._runtime.retry_max_wait,
            check=_check_tracking,
        )
        return None if response.status_code == 404 else response.content

    def parse_tracking(self, headers: Mapping[str, str], body: bytes) -> TrackingDelivery:
        number = str(headers.get(TRACKING_NUMBER_HEADER, ""))
        update = mapping.read_tracking(
            decode_json(body), number, self.config.carrier, self.config.status_map
        )
        return TrackingDelivery("tracking.poll", update)

    def close(self) -> None:
        with self._lock:
            http, self._http, self._api = self._http, None, None
        if http is not None:
            http.close()

    def _client(self) -> RestCarrierClient:
        with self._lock:
            if self._api is None:
                key = self._secrets.api_key
                headers = (
                    {"Authorization": f"Bearer {key.get_secret_value()}"}
                    if key is not None and key.get_secret_value()
                    else {}
                )
                self._http = build_client(
                    timeout=self.config.timeout_seconds,
                    base_url=self.config.base_url,
                    headers=headers,
                    transport=self._transport,
                )
                self._api = RestCarrierClient(
                    self._http,
                    rates_path=self.config.rates_path,
                    shipments_path=self.config.shipments_path,
                    tracking_path=self.config.tracking_path,
                )
            return self._api


def _check_tracking(response: httpx.Response) -> None:
    if response.status_code != 404:  # a number the carrier does not know: not an error
        raise_for_status(response)


def _check_booking(response: httpx.Response) -> None:
    if response.status_code == 409 and _json(response).get("duplicate") is True:
        return
    raise_for_status(response)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
