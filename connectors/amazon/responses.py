"""Classifying and reading SP-API and Login with Amazon answers (no I/O of their own)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx

from omniroute.connectors.amazon.mapping import aware
from omniroute.connectors.base import PayloadError, PermanentError, TransientError
from omniroute.connectors.http import RETRY_AFTER_CAP, parse_retry_after, raise_for_status
from omniroute.connectors.ratelimit import TokenBucket

RATE_LIMIT_HEADER = "x-amzn-RateLimit-Limit"
DEFAULT_LWA_LIFETIME = 3600.0


class RefusedToken(PermanentError):
    """SP-API said the access token is expired or invalid: refresh it and try once more."""

    reason = "access_token_refused"


def check_sp_response(response: httpx.Response, bucket: TokenBucket) -> None:
    """Classify an SP-API answer: pace on 429, flag a refused token, else the shared rules."""
    _adopt_rate(bucket, response)
    code = response.status_code
    if code == 429:
        hint = parse_retry_after(response.headers.get("Retry-After")) or 0.0
        bucket.hold_off(hint)
        # The bucket is now empty: the next request also waits for one token to refill, so
        # that is when a retry can go (a minute for getOrders, better rescheduled than slept).
        raise TransientError(
            f"SP-API quota exceeded (HTTP 429, {_errors_text(response)})",
            retry_after=min(hint + 1.0 / bucket.rate, RETRY_AFTER_CAP),
            reason="http_429",
        )
    if code in (401, 403) and _token_refused(response):
        raise RefusedToken(
            f"SP-API refused the LWA access token (HTTP {code}: {_errors_text(response)}); "
            "if this persists, re-authorise the app and update the refresh token"
        )
    if code == 403:
        raise PermanentError(
            f"SP-API denied access (HTTP 403: {_errors_text(response)}); check that the app "
            "has the role for this operation and that the seller authorised it",
            reason="http_403",
        )
    if code in (400, 404):
        raise PermanentError(
            f"SP-API rejected the request (HTTP {code}: {_errors_text(response)})",
            reason=f"http_{code}",
        )
    raise_for_status(response)


def _adopt_rate(bucket: TokenBucket, response: httpx.Response) -> None:
    """Follow the usage plan the API says it applied (sellers can have higher ones)."""
    try:
        rate = float(response.headers.get(RATE_LIMIT_HEADER, ""))
    except ValueError:
        return
    if 0 < rate < float("inf"):
        bucket.rate = rate


def _token_refused(response: httpx.Response) -> bool:
    if response.status_code == 401:
        return True
    words = _errors_text(response).lower()
    return "token" in words and any(
        word in words for word in ("expired", "invalid", "revoked", "malformed")
    )


def _errors_text(response: httpx.Response) -> str:
    """``code: message (details)`` of each SP-API error, for messages ops can act on."""
    body = _json(response)
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not errors:
        return "no error details"
    parts = []
    for error in errors[:3]:
        if isinstance(error, dict):
            text = f"{error.get('code', '?')}: {error.get('message', '')}".strip()
            if error.get("details"):
                text += f" ({error['details']})"
            parts.append(text)
    return "; ".join(parts)[:300] or "no error details"


def check_lwa_response(response: httpx.Response) -> None:
    body = _json(response)
    error = body.get("error") if isinstance(body, dict) else None
    if response.status_code in (400, 401) and error in ("invalid_grant", "unauthorized_client"):
        raise PermanentError(
            f"Login with Amazon refused the refresh token ({error}): authorise the app for this "
            "seller again and save the new refresh token in the connector's secrets",
            reason="lwa_invalid_grant",
        )
    if response.status_code in (400, 401) and error == "invalid_client":
        raise PermanentError(
            "Login with Amazon refused the client credentials (invalid_client): check the LWA "
            "client id and secret in the connector's secrets",
            reason="lwa_invalid_client",
        )
    raise_for_status(response)


def token_of(response: httpx.Response) -> tuple[str, float]:
    """(access_token, expires_in) of a Login with Amazon answer."""
    return _token_and_lifetime(response, "access_token", "expires_in", "Login with Amazon")


def restricted_token_of(response: httpx.Response) -> tuple[str, float]:
    """(restrictedDataToken, expiresIn) of a createRestrictedDataToken answer."""
    return _token_and_lifetime(response, "restrictedDataToken", "expiresIn", "The Tokens API")


def _token_and_lifetime(
    response: httpx.Response, token_key: str, lifetime_key: str, who: str
) -> tuple[str, float]:
    body = _json(response)
    token = body.get(token_key) if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise TransientError(f"{who} answered without a {token_key}")
    lifetime = body.get(lifetime_key, DEFAULT_LWA_LIFETIME)
    if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0:
        lifetime = DEFAULT_LWA_LIFETIME
    return token, float(lifetime)


_STREET_FIELDS = ("AddressLine1", "AddressLine2", "AddressLine3")


def order_address_of(response: httpx.Response, order_id: str) -> dict[str, Any]:
    """The OrderAddress of a getOrderAddress answer, with a street to ship to.

    ``PayloadError`` when there is none: no ShippingAddress (Amazon gives it only once the
    order is paid), or one without any street line, which no warehouse can ship to.
    """
    payload = payload_of(response, f"getOrderAddress for {order_id}")
    answered_for = payload.get("AmazonOrderId")
    if answered_for is not None and answered_for != order_id:
        raise PayloadError(f"getOrderAddress for {order_id} answered for order {answered_for!r}")
    address = payload.get("ShippingAddress")
    if not isinstance(address, dict):
        raise PayloadError(
            f"getOrderAddress for {order_id} has no ShippingAddress", reason="address_missing"
        )
    if not any(isinstance(address.get(k), str) and address[k].strip() for k in _STREET_FIELDS):
        raise PayloadError(
            f"the ShippingAddress of order {order_id} has no street (AddressLine1-3 are empty)",
            reason="address_incomplete",
        )
    return payload


def accepted_submission(response: httpx.Response, sku: str) -> str:
    body = _json(response)
    if not isinstance(body, dict):
        raise PayloadError(f"patchListingsItem for SKU {sku} answered with no JSON object")
    if body.get("status") != "ACCEPTED":
        found = body.get("issues")
        issues: list[Any] = found if isinstance(found, list) else []
        texts = [
            f"{issue.get('code', '?')}: {issue.get('message', '')}"
            for issue in issues[:3]
            if isinstance(issue, dict)
        ]
        raise PermanentError(
            f"Amazon did not accept the quantity for SKU {sku} (status {body.get('status')!r}: "
            f"{'; '.join(texts) or 'no issues given'}); check the listing and the SKU mapping",
            reason="listing_not_accepted",
        )
    return str(body.get("submissionId") or sku)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:  # JSONDecodeError and UnicodeDecodeError both are
        return None


def payload_of(response: httpx.Response, operation: str) -> dict[str, Any]:
    body = _json(response)
    payload = body.get("payload") if isinstance(body, dict) else None
    if not isinstance(payload, dict):
        raise PayloadError(f"{operation} answered without a JSON payload object")
    return payload


def as_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PayloadError(f"expected a JSON object from SP-API, got {type(value).__name__}")
    return value


def next_token(body: Mapping[str, Any]) -> str | None:
    token = body.get("NextToken")
    return token if isinstance(token, str) and token else None


def parse_time(value: Any, what: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise PayloadError(f"{what} is not an ISO 8601 date-time: {value!r}") from None
    return aware(parsed)
