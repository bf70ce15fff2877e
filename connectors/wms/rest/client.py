"""Typed calls to a generic REST WMS: one method per remote endpoint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

CORRELATION_HEADER = "X-Correlation-ID"


class RestWmsClient:
    """The WMS's HTTP endpoints over an injected ``httpx.Client`` (base URL, auth, timeouts)."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        release_path: str,
        cancel_path: str = "",
        return_path: str = "",
    ) -> None:
        self._http = http
        self._release_path = release_path
        self._cancel_path = cancel_path
        self._return_path = return_path

    def create_fulfilment_order(
        self,
        payload: Mapping[str, Any],
        idempotency_key: str,
        correlation_id: str | None = None,
    ) -> httpx.Response:
        """POST a fulfilment order as JSON; the WMS must dedupe on ``Idempotency-Key``.
        ``correlation_id``: sent as ``X-Correlation-ID``, for matching the two sides' logs."""
        return self._http.post(
            self._release_path,
            json=dict(payload),
            headers=_headers(idempotency_key, correlation_id),
        )

    def cancel_fulfilment_order(
        self,
        fulfilment_order_id: int,
        payload: Mapping[str, Any],
        idempotency_key: str,
        correlation_id: str | None = None,
    ) -> httpx.Response:
        """POST a cancel of (part of) a fulfilment order; deduped on ``Idempotency-Key``."""
        path = self._cancel_path.replace("{fulfilment_order_id}", str(int(fulfilment_order_id)))
        return self._http.post(
            path, json=dict(payload), headers=_headers(idempotency_key, correlation_id)
        )

    def expect_return(
        self,
        payload: Mapping[str, Any],
        idempotency_key: str,
        correlation_id: str | None = None,
    ) -> httpx.Response:
        """POST an expected return (an RMA, or its cancel); deduped on ``Idempotency-Key``."""
        return self._http.post(
            self._return_path, json=dict(payload), headers=_headers(idempotency_key, correlation_id)
        )


def _headers(idempotency_key: str, correlation_id: str | None) -> dict[str, str]:
    headers = {"Idempotency-Key": idempotency_key}
    if correlation_id:
        headers[CORRELATION_HEADER] = correlation_id
    return headers
