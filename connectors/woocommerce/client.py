"""Typed calls to the WooCommerce REST API v3: one method per remote endpoint.

The injected ``httpx.Client`` carries the store's base URL, authentication and timeouts; each
method sends one request and returns the raw response (the connector classifies it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

DEFAULT_API_PATH = "/wp-json/wc/v3"


class WooCommerceClient:
    """The store's ``/wp-json/wc/v3`` endpoints over an injected ``httpx.Client``."""

    def __init__(self, http: httpx.Client, *, api_path: str = DEFAULT_API_PATH) -> None:
        self._http = http
        self._api = api_path.rstrip("/")

    def list_orders(self, *, modified_after: str, page: int, per_page: int) -> httpx.Response:
        """``GET /orders`` modified after a UTC time, oldest modification first."""
        params: dict[str, str | int] = {
            "modified_after": modified_after,
            "dates_are_gmt": "true",
            "orderby": "modified",
            "order": "asc",
            "per_page": per_page,
            "page": page,
        }
        return self._http.get(f"{self._api}/orders", params=params)

    def get_order(self, order_id: int) -> httpx.Response:
        """``GET /orders/{id}``."""
        return self._http.get(f"{self._api}/orders/{order_id}")

    def update_order(self, order_id: int, changes: Mapping[str, Any]) -> httpx.Response:
        """``PUT /orders/{id}`` with the fields to change (e.g. ``{"status": "completed"}``)."""
        return self._http.put(f"{self._api}/orders/{order_id}", json=dict(changes))

    def list_order_notes(self, order_id: int) -> httpx.Response:
        """``GET /orders/{id}/notes?type=any``: every note of the order (not paginated)."""
        return self._http.get(f"{self._api}/orders/{order_id}/notes", params={"type": "any"})

    def create_order_note(self, order_id: int, note: str, *, customer_note: bool) -> httpx.Response:
        """``POST /orders/{id}/notes``; a customer note is shown (and e-mailed) to the buyer."""
        body = {"note": note, "customer_note": customer_note}
        return self._http.post(f"{self._api}/orders/{order_id}/notes", json=body)

    def batch_update_products(self, updates: Sequence[Mapping[str, Any]]) -> httpx.Response:
        """``POST /products/batch`` with ``{"update": [...]}`` (at most 100 items)."""
        body = {"update": [dict(update) for update in updates]}
        return self._http.post(f"{self._api}/products/batch", json=body)

    def batch_update_variations(
        self, parent_id: int, updates: Sequence[Mapping[str, Any]]
    ) -> httpx.Response:
        """``POST /products/{parent}/variations/batch`` with ``{"update": [...]}`` (max 100)."""
        body = {"update": [dict(update) for update in updates]}
        return self._http.post(f"{self._api}/products/{parent_id}/variations/batch", json=body)
