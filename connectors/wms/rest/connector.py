"""The generic REST WMS connector: releases fulfilment orders over HTTP.

Retry rule: a release reaches the WMS at most once per call. Only a failure before the
request left (no connection) is tried again within the call (``retry_attempts``); an error
answer (5xx, 429) or a timeout after sending goes back to the outbox as a ``TransientError``,
whose attempts are the release's one retry budget: the WMS sees a release at most
``OMNIROUTE_OUTBOX_MAX_ATTEMPTS`` times per dead letter, even when it answers after the
timeout (each such answer is another attempt, never another in-call send).

Duplicate rule: the WMS must dedupe on the ``Idempotency-Key`` header. A replay answered with
2xx is a success. A ``409 Conflict`` counts as success only when its JSON body says
``{"duplicate": true}`` (the WMS already holds this key's order); any other 409 is a
``PermanentError`` (``http_409``): the key was reused for a different order, or the WMS
refuses the order for a business reason. Retrying would not change either.

Cancel contract (``cancel``): ``POST <cancel_path>`` (default
``/fulfilment-orders/{fulfilment_order_id}/cancel``; the placeholder is the id the release
sent, and may be left out) with the same ``Idempotency-Key`` on every send, the same retry
rule as a release (sent at most once per call; only a connection never made is tried
again) and the same SSRF guard. The body names the fulfilment order (our id, the WMS's
``external_ref`` from the release's answer, the order and warehouse), ``entire`` (every
open unit) and the ``lines`` to cancel (``line_id``, ``sku``, ``quantity``). The answer:

- 2xx with ``status`` absent or ``"cancelled"``: cancelled. An optional ``lines`` list
  (``[{"line_id": 11, "quantity": 1}]``) says what was cancelled when it is less than asked;
  the rest was too late.
- ``status`` ``"too_late"``, ``"picked"``, ``"packed"`` or ``"shipped"`` on a 2xx, 409 or
  422: too late, nothing was cancelled (an outcome, not an error).
- 404 with ``status`` ``"unknown_order"``: the WMS holds no such fulfilment order. A 404
  without it is a wrong path (``PermanentError`` ``http_404``).
- Anything else as ``raise_for_status`` says: 5xx, 429 and timeouts ``TransientError``
  (the outbox tries again later), other 4xx ``PermanentError`` (a dead letter).

Return contract (``expect_return``): ``POST <return_path>`` (default ``/returns``) with an
``Idempotency-Key``, the same retry rule and duplicate rule as a release (a 409 with
``{"duplicate": true}`` is a success). The body names the RMA (``return_id``,
``rma_number``), the order, the warehouse the parcel goes to, the ``reason``, a ``note`` and
the ``lines`` expected back (``line_id``, ``sku``, ``quantity``); ``cancelled: true`` says the
RMA was cancelled and nothing will come. The WMS later confirms what it received with
``POST /api/v1/returns/{id}/receipts`` on omniroute.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from omniroute.connectors.base import (
    CancelOutcome,
    CancelReceipt,
    CancelRequest,
    Capability,
    ConnectorRuntime,
    ReleaseLine,
    ReleaseOrder,
    ReleaseReceipt,
    ReleaseRequest,
    ReturnRequest,
)
from omniroute.connectors.http import (
    UrlGuard,
    build_client,
    check_base_url,
    raise_for_status,
    send_with_retry,
)
from omniroute.connectors.wms.rest.client import RestWmsClient

__all__ = [
    "RestWmsConfig",
    "RestWmsConnector",
    "RestWmsSecrets",
    "build_cancel_payload",
    "build_release_payload",
    "build_return_payload",
]

# One leading slash, then no whitespace, query or fragment. "//host" or "http://host" would
# make httpx ignore base_url and send the order somewhere the guard never checked.
_PATH_PATTERN = re.compile(r"/(?!/)[^\s?#]*")
#: The one placeholder a cancel path may hold.
FO_PLACEHOLDER = "{fulfilment_order_id}"
#: The words a WMS answers a cancel with when the units are past cancelling.
TOO_LATE_WORDS = frozenset({"too_late", "picked", "packed", "shipped"})


class RestWmsConfig(BaseModel):
    """Where the WMS lives and how long to wait for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field(
        description="http(s) root of the WMS API, e.g. https://wms.example.com/api"
    )
    release_path: str = Field(
        default="/fulfilment-orders", description="Path, under base_url, that accepts orders"
    )
    cancel_path: str = Field(
        default=f"/fulfilment-orders/{FO_PLACEHOLDER}/cancel",
        description="Path, under base_url, that cancels (part of) a released order; "
        f"{FO_PLACEHOLDER} is replaced by the fulfilment order's id",
    )
    return_path: str = Field(
        default="/returns",
        description="Path, under base_url, that takes returns to expect (RMAs) and their cancels",
    )
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        return check_base_url(value, "base_url")

    @field_validator("release_path", "return_path")
    @classmethod
    def _check_plain_path(cls, value: str) -> str:
        if not _PATH_PATTERN.fullmatch(value):
            raise ValueError("the path must start with a single '/'")
        return value

    @field_validator("cancel_path")
    @classmethod
    def _check_cancel_path(cls, value: str) -> str:
        bare = value.replace(FO_PLACEHOLDER, "1")
        if "{" in bare or "}" in bare or not _PATH_PATTERN.fullmatch(bare):
            raise ValueError(
                f"cancel_path must be a path starting with a single '/', with no "
                f"placeholder but {FO_PLACEHOLDER}"
            )
        return value


class RestWmsSecrets(BaseModel):
    """Credentials; ``api_key`` is sent as a Bearer token when set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_key: SecretStr | None = None


def build_release_payload(request: ReleaseRequest) -> dict[str, Any]:
    """The JSON body of a fulfilment order as this WMS expects it."""
    return {
        "fulfilment_order_id": request.fulfilment_order_id,
        "order_id": request.order_id,
        "order_reference": request.order_reference,
        "warehouse_code": request.warehouse_code,
        "service_level": request.service_level,
        "ship_to": dict(request.ship_to),
        "note": request.note,
        "gift_message": request.gift_message,
        "attributes": [dict(pair) for pair in request.attributes],
        "lines": [_release_line(line) for line in request.lines],
        **({"orders": [_release_order(o) for o in request.orders]} if request.orders else {}),
    }


def _release_line(line: ReleaseLine) -> dict[str, Any]:
    """A line of the body; a consolidated order's lines also name the order each is from."""
    body: dict[str, Any] = {
        "line_id": line.line_id,
        "sku": line.sku,
        "quantity": line.quantity,
        "properties": [dict(pair) for pair in line.properties],
        "gift_message": line.gift_message,
    }
    if line.order_reference is not None:
        body |= {"order_id": line.order_id, "order_reference": line.order_reference}
    return body


def _release_order(order: ReleaseOrder) -> dict[str, Any]:
    """One order of a consolidated fulfilment order: its note, gift message, attributes."""
    return {
        "order_id": order.order_id,
        "order_reference": order.order_reference,
        "note": order.note,
        "gift_message": order.gift_message,
        "attributes": [dict(pair) for pair in order.attributes],
    }


class RestWmsConnector:
    """A ``WarehouseAdapter`` for any WMS exposing ``POST <release_path>`` with idempotency keys.

    Instances are long-lived and safe to share between threads: the ``httpx.Client`` (and its
    connection pool) is created on first use and reused until ``close()``.
    """

    kind: ClassVar[str] = "rest_wms"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.FULFILMENT_RELEASE, Capability.FULFILMENT_CANCEL, Capability.RETURN_NOTICE}
    )
    config_model: ClassVar[type[BaseModel]] = RestWmsConfig
    secrets_model: ClassVar[type[BaseModel]] = RestWmsSecrets

    def __init__(
        self,
        config: RestWmsConfig | Mapping[str, Any],
        secrets: RestWmsSecrets | Mapping[str, Any],
        *,
        runtime: ConnectorRuntime,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = RestWmsConfig.model_validate(config)
        self._secrets = RestWmsSecrets.model_validate(secrets)
        self._runtime = runtime
        self._transport = transport
        self._lock = threading.Lock()
        self._http: httpx.Client | None = None
        self._api: RestWmsClient | None = None
        self._guard = UrlGuard(allow_private=runtime.allow_private_urls)

    def release(self, request: ReleaseRequest) -> ReleaseReceipt:
        """Send one fulfilment order once; every send carries ``request.idempotency_key``.

        Raises ``TransientError`` (the outbox tries again later) or ``PermanentError``
        (dead-letter). A connection that could not be made is tried again here first.
        """
        self._check_target()
        api = self._client()
        payload = build_release_payload(request)
        response, attempts = send_with_retry(
            lambda: api.create_fulfilment_order(
                payload, request.idempotency_key, request.correlation_id
            ),
            attempts=self._runtime.retry_attempts,
            max_wait=self._runtime.retry_max_wait,
            check=_check_release_response,
            repeat_sent=False,
        )
        return ReleaseReceipt(
            external_ref=_external_ref(response),
            status_code=response.status_code,
            attempts=attempts,
        )

    def cancel(self, request: CancelRequest) -> CancelReceipt:
        """Ask the WMS to cancel lines of a fulfilment order it accepted; the outcome read
        from its answer (see the module's cancel contract). Raises as ``release`` does."""
        self._check_target()
        api = self._client()
        payload = build_cancel_payload(request)
        response, attempts = send_with_retry(
            lambda: api.cancel_fulfilment_order(
                request.fulfilment_order_id,
                payload,
                request.idempotency_key,
                request.correlation_id,
            ),
            attempts=self._runtime.retry_attempts,
            max_wait=self._runtime.retry_max_wait,
            check=_check_cancel_response,
            repeat_sent=False,
        )
        return _cancel_receipt(response, attempts)

    def expect_return(self, request: ReturnRequest) -> ReleaseReceipt:
        """Tell the WMS of a return on its way (or of its cancel); raises as ``release``."""
        self._check_target()
        api = self._client()
        payload = build_return_payload(request)
        response, attempts = send_with_retry(
            lambda: api.expect_return(payload, request.idempotency_key, request.correlation_id),
            attempts=self._runtime.retry_attempts,
            max_wait=self._runtime.retry_max_wait,
            check=_check_release_response,
            repeat_sent=False,
        )
        return ReleaseReceipt(
            external_ref=_external_ref(response),
            status_code=response.status_code,
            attempts=attempts,
        )

    def close(self) -> None:
        """Close pooled connections; a later ``release`` opens a new client."""
        with self._lock:
            http, self._http, self._api = self._http, None, None
        if http is not None:
            http.close()

    def _check_target(self) -> None:
        self._guard.check(self.config.base_url)

    def _client(self) -> RestWmsClient:
        with self._lock:
            if self._api is None:
                self._http = build_client(
                    timeout=self.config.timeout_seconds,
                    base_url=self.config.base_url,
                    headers=self._auth_headers(),
                    transport=self._transport,
                )
                self._api = RestWmsClient(
                    self._http,
                    release_path=self.config.release_path,
                    cancel_path=self.config.cancel_path,
                    return_path=self.config.return_path,
                )
            return self._api

    def _auth_headers(self) -> dict[str, str]:
        key = self._secrets.api_key
        if key is None or not key.get_secret_value():
            return {}
        return {"Authorization": f"Bearer {key.get_secret_value()}"}


def _check_release_response(response: httpx.Response) -> None:
    if response.status_code == 409 and _json_object(response).get("duplicate") is True:
        return
    raise_for_status(response)


def build_cancel_payload(request: CancelRequest) -> dict[str, Any]:
    """The JSON body of a cancel as this WMS expects it."""
    return {
        "fulfilment_order_id": request.fulfilment_order_id,
        "order_id": request.order_id,
        "order_reference": request.order_reference,
        "warehouse_code": request.warehouse_code,
        "external_ref": request.external_ref,
        "entire": request.entire,
        "reason": request.reason,
        "lines": [
            {"line_id": line.line_id, "sku": line.sku, "quantity": line.quantity}
            for line in request.lines
        ],
    }


def build_return_payload(request: ReturnRequest) -> dict[str, Any]:
    """The JSON body of an expected return as this WMS takes it."""
    return {
        "return_id": request.return_id,
        "rma_number": request.rma_number,
        "order_id": request.order_id,
        "order_reference": request.order_reference,
        "warehouse_code": request.warehouse_code,
        "reason": request.reason,
        "note": request.note,
        "cancelled": request.cancelled,
        "lines": [
            {"line_id": line.line_id, "sku": line.sku, "quantity": line.quantity}
            for line in request.lines
        ],
    }


def _cancel_word(response: httpx.Response) -> str | None:
    word = _json_object(response).get("status")
    return word.strip().lower() if isinstance(word, str) else None


def _check_cancel_response(response: httpx.Response) -> None:
    word = _cancel_word(response)
    code = response.status_code
    if code in (409, 422) and word in TOO_LATE_WORDS:
        return
    if code == 404 and word == CancelOutcome.UNKNOWN_ORDER:
        return
    raise_for_status(response)


def _cancel_receipt(response: httpx.Response, attempts: int) -> CancelReceipt:
    word = _cancel_word(response)
    code = response.status_code
    if code == 404:
        return CancelReceipt(CancelOutcome.UNKNOWN_ORDER, code, attempts, detail=word)
    if word in TOO_LATE_WORDS:
        return CancelReceipt(CancelOutcome.TOO_LATE, code, attempts, detail=word)
    return CancelReceipt(
        CancelOutcome.CANCELLED, code, attempts, lines=_cancelled_lines(response), detail=word
    )


def _cancelled_lines(response: httpx.Response) -> dict[int, int] | None:
    """Units cancelled per line when the WMS lists them; None: every unit asked for."""
    listed = _json_object(response).get("lines")
    if not isinstance(listed, list):
        return None
    cancelled: dict[int, int] = {}
    for item in listed:
        if not isinstance(item, dict):
            continue
        line_id, qty = item.get("line_id"), item.get("quantity")
        if isinstance(line_id, int) and isinstance(qty, int) and qty >= 0:
            cancelled[line_id] = cancelled.get(line_id, 0) + qty
    return cancelled


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:  # not JSON (JSONDecodeError and UnicodeDecodeError both are)
        return {}
    return body if isinstance(body, dict) else {}


def _external_ref(response: httpx.Response) -> str | None:
    body = _json_object(response)
    for name in ("id", "reference"):
        value = body.get(name)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    return None
