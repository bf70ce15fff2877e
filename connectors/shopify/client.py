"""Typed calls to the Shopify Admin API: one method per remote endpoint.

The injected ``httpx.Client`` carries the base URL (``https://{shop}/admin/api/{version}``)
and the ``X-Shopify-Access-Token`` header; these methods only shape the requests. Most are
REST; stock compare-and-set goes through the GraphQL endpoint of the same version.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

#: Largest page the REST Admin API returns.
MAX_PAGE_SIZE = 250


class ShopifyAdminClient:
    """Orders, fulfillment orders, fulfillments and inventory levels of one shop."""

    def __init__(self, http: httpx.Client) -> None:
        self._http = http

    def list_orders(self, params: Mapping[str, str | int]) -> httpx.Response:
        """``GET /orders.json`` with filters (first page) or ``page_info`` (later pages)."""
        return self._http.get("/orders.json", params=dict(params))

    def get_order(self, order_id: int) -> httpx.Response:
        """``GET /orders/{id}.json``: ``{"order": {...}}``."""
        return self._http.get(f"/orders/{order_id}.json")

    def list_fulfillment_orders(self, order_id: int) -> httpx.Response:
        """``GET /orders/{id}/fulfillment_orders.json``: ``{"fulfillment_orders": [...]}``."""
        return self._http.get(f"/orders/{order_id}/fulfillment_orders.json")

    def list_fulfillments(self, order_id: int) -> httpx.Response:
        """``GET /orders/{id}/fulfillments.json``: ``{"fulfillments": [...]}``."""
        return self._http.get(f"/orders/{order_id}/fulfillments.json", params={"limit": 250})

    def create_fulfillment(self, body: Mapping[str, Any]) -> httpx.Response:
        """``POST /fulfillments.json`` for line items of one or more fulfillment orders."""
        return self._http.post("/fulfillments.json", json=dict(body))

    def set_inventory_level(self, body: Mapping[str, Any]) -> httpx.Response:
        """``POST /inventory_levels/set.json``: absolute ``available`` at one location."""
        return self._http.post("/inventory_levels/set.json", json=dict(body))

    def graphql(self, body: Mapping[str, Any]) -> httpx.Response:
        """``POST /graphql.json`` with ``{"query": ..., "variables": ...}``."""
        return self._http.post("/graphql.json", json=dict(body))

    def cancel_order(self, order_id: int, body: Mapping[str, Any]) -> httpx.Response:
        """``POST /orders/{id}/cancel.json`` with ``reason`` and ``email``."""
        return self._http.post(f"/orders/{order_id}/cancel.json", json=dict(body))

    def list_fulfillment_events(self, order_id: int, fulfillment_id: int) -> httpx.Response:
        """``GET /orders/{id}/fulfillments/{id}/events.json``: ``{"fulfillment_events": [...]}``."""
        return self._http.get(f"/orders/{order_id}/fulfillments/{fulfillment_id}/events.json")

    def create_fulfillment_event(
        self, order_id: int, fulfillment_id: int, body: Mapping[str, Any]
    ) -> httpx.Response:
        """``POST /orders/{id}/fulfillments/{id}/events.json`` with ``{"event": {...}}``."""
        return self._http.post(
            f"/orders/{order_id}/fulfillments/{fulfillment_id}/events.json", json=dict(body)
        )
