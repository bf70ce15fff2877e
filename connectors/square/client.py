"""Typed calls to the Square API: one method per remote endpoint.

The injected ``httpx.Client`` carries the base URL, ``Authorization: Bearer <token>`` and the
``Square-Version`` header; these methods only shape the requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx


class SquareClient:
    """Square Orders and Inventory endpoints over an injected ``httpx.Client``."""

    def __init__(self, http: httpx.Client) -> None:
        self._http = http

    def retrieve_order(self, order_id: str) -> httpx.Response:
        """RetrieveOrder: ``GET /v2/orders/{order_id}``."""
        return self._http.get(f"/v2/orders/{_segment(order_id)}")

    def search_orders(self, body: Mapping[str, Any]) -> httpx.Response:
        """SearchOrders: ``POST /v2/orders/search``."""
        return self._http.post("/v2/orders/search", json=dict(body))

    def update_order(self, order_id: str, body: Mapping[str, Any]) -> httpx.Response:
        """UpdateOrder: ``PUT /v2/orders/{order_id}`` (sparse order + version + idempotency key)."""
        return self._http.put(f"/v2/orders/{_segment(order_id)}", json=dict(body))

    def batch_change_inventory(self, body: Mapping[str, Any]) -> httpx.Response:
        """BatchChangeInventory: ``POST /v2/inventory/changes/batch-create``."""
        return self._http.post("/v2/inventory/changes/batch-create", json=dict(body))


def _segment(value: str) -> str:
    # An id with "/" or ".." must not walk to another endpoint.
    return quote(value, safe="")
