"""Typed calls to Login with Amazon and the Selling Partner API: one method per endpoint.

Each method sends one request over an injected ``httpx.Client`` and returns the raw response;
classifying status codes, retrying and pacing are the connector's job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx

#: The header that carries the LWA access token on every SP-API call (no SigV4 since 2023-10).
ACCESS_TOKEN_HEADER = "x-amz-access-token"  # noqa: S105 - a header name, not a secret


def _segment(value: str) -> str:
    """A path segment with everything but unreserved characters escaped (SKUs may hold '/')."""
    return quote(value, safe="")


class LwaClient:
    """The Login with Amazon token endpoint."""

    def __init__(self, http: httpx.Client, *, token_url: str) -> None:
        self._http = http
        self._token_url = token_url

    def refresh_access_token(
        self, *, refresh_token: str, client_id: str, client_secret: str
    ) -> httpx.Response:
        """POST the refresh-token grant (form-encoded); the answer has access_token, expires_in."""
        return self._http.post(
            self._token_url,
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": client_id,
                "client_secret": client_secret,
            },
            headers={"Accept": "application/json"},
        )


class SpApiClient:
    """SP-API operations over an ``httpx.Client`` whose base URL is the regional endpoint."""

    def __init__(self, http: httpx.Client) -> None:
        self._http = http

    def get_orders(
        self,
        token: str,
        *,
        marketplace_ids: Sequence[str],
        last_updated_after: str | None = None,
        max_results: int | None = None,
        next_token: str | None = None,
    ) -> httpx.Response:
        """Orders v0 ``getOrders``: a first page by LastUpdatedAfter, or the next by NextToken."""
        params: dict[str, str | int] = {"MarketplaceIds": ",".join(marketplace_ids)}
        if next_token is not None:
            params["NextToken"] = next_token
        else:
            if last_updated_after is not None:
                params["LastUpdatedAfter"] = last_updated_after
            if max_results is not None:
                params["MaxResultsPerPage"] = max_results
        return self._http.get("/orders/v0/orders", params=params, headers=_auth(token))

    def get_order(self, token: str, order_id: str) -> httpx.Response:
        """Orders v0 ``getOrder``."""
        return self._http.get(f"/orders/v0/orders/{_segment(order_id)}", headers=_auth(token))

    def get_order_items(
        self, token: str, order_id: str, *, next_token: str | None = None
    ) -> httpx.Response:
        """Orders v0 ``getOrderItems``, one page (NextToken for the following ones)."""
        params = {} if next_token is None else {"NextToken": next_token}
        return self._http.get(
            f"/orders/v0/orders/{_segment(order_id)}/orderItems",
            params=params,
            headers=_auth(token),
        )

    def get_order_address(self, token: str, order_id: str) -> httpx.Response:
        """Orders v0 ``getOrderAddress``: a restricted operation, ``token`` is an RDT."""
        return self._http.get(
            f"/orders/v0/orders/{_segment(order_id)}/address", headers=_auth(token)
        )

    def create_restricted_data_token(
        self, token: str, resources: Sequence[Mapping[str, Any]]
    ) -> httpx.Response:
        """Tokens 2021-03-01 ``createRestrictedDataToken`` for ``resources`` (at most 50)."""
        return self._http.post(
            "/tokens/2021-03-01/restrictedDataToken",
            json={"restrictedResources": [dict(resource) for resource in resources]},
            headers=_auth(token),
        )

    def confirm_shipment(
        self, token: str, order_id: str, body: Mapping[str, Any]
    ) -> httpx.Response:
        """Orders v0 ``confirmShipment`` (204 on success)."""
        return self._http.post(
            f"/orders/v0/orders/{_segment(order_id)}/shipmentConfirmation",
            json=dict(body),
            headers=_auth(token),
        )

    def patch_listings_item(
        self,
        token: str,
        *,
        seller_id: str,
        sku: str,
        marketplace_ids: Sequence[str],
        body: Mapping[str, Any],
    ) -> httpx.Response:
        """Listings Items 2021-08-01 ``patchListingsItem``."""
        return self._http.patch(
            f"/listings/2021-08-01/items/{_segment(seller_id)}/{_segment(sku)}",
            params={"marketplaceIds": ",".join(marketplace_ids)},
            json=dict(body),
            headers=_auth(token),
        )


def _auth(token: str) -> dict[str, str]:
    return {ACCESS_TOKEN_HEADER: token, "Accept": "application/json"}
