"""The GraphQL Admin API envelope: ``data``, top-level ``errors`` and the cost extension.

GraphQL answers 200 even when it did nothing: a throttled request comes back as
``{"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
"extensions": {"cost": {"requestedQueryCost": 752, "throttleStatus": {"currentlyAvailable":
666, "restoreRate": 50.0, ...}}}}``. Its limits are by calculated query cost, not by request;
omniroute does not model the cost, it paces GraphQL calls with the shop's REST bucket and
waits out a throttle for as long as the cost extension says the points take to come back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from omniroute.connectors.base import PayloadError, PermanentError, TransientError

THROTTLED = "THROTTLED"
ACCESS_DENIED = "ACCESS_DENIED"


def throttle_wait(body: Mapping[str, Any]) -> float | None:
    """Seconds until the points a throttled request asked for are back; None if not said."""
    cost = (body.get("extensions") or {}).get("cost")
    if not isinstance(cost, dict):
        return None
    status = cost.get("throttleStatus")
    if not isinstance(status, dict):
        return None
    requested = _number(cost.get("requestedQueryCost"))
    available = _number(status.get("currentlyAvailable"))
    rate = _number(status.get("restoreRate"))
    if requested is None or available is None or rate is None or rate <= 0:
        return None
    return max(0.0, requested - available) / rate


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def error_codes(body: Mapping[str, Any]) -> set[str]:
    """The ``extensions.code`` of each top-level error."""
    codes: set[str] = set()
    for error in body.get("errors") or ():
        if isinstance(error, dict):
            codes.add(str((error.get("extensions") or {}).get("code") or ""))
    return codes


def envelope(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a 2xx GraphQL answer."""
    try:
        body = response.json()
    except ValueError:
        raise PayloadError("Shopify's GraphQL answer is not JSON") from None
    if not isinstance(body, dict):
        raise PayloadError("Shopify's GraphQL answer is not a JSON object")
    return body


def check(body: Mapping[str, Any], *, denied_hint: str) -> dict[str, Any]:
    """``data`` of an answer without top-level errors; a throttle is a ``TransientError``.

    Any other top-level error (a query Shopify cannot run, a missing access scope) will not
    heal by itself: ``PermanentError`` with Shopify's messages (and ``denied_hint`` when the
    app lacks a scope).
    """
    errors = body.get("errors")
    if errors:
        codes = error_codes(body)
        if THROTTLED in codes:
            raise TransientError(
                "Shopify throttled the GraphQL call (query cost limit)",
                retry_after=throttle_wait(body),
                reason="rate_limited",
                not_applied=True,  # Shopify runs nothing of a throttled call
            )
        messages = _messages(errors)
        hint = f"; {denied_hint}" if ACCESS_DENIED in codes else ""
        raise PermanentError(f"Shopify's GraphQL API refused: {messages}{hint}", reason="graphql")
    data = body.get("data")
    if not isinstance(data, dict):
        raise PayloadError("Shopify's GraphQL answer has no 'data' object")
    return data


def _messages(errors: Any) -> str:
    if not isinstance(errors, list):
        return str(errors)[:500]
    parts = [str(e.get("message")) if isinstance(e, dict) else str(e) for e in errors]
    return "; ".join(parts)[:1000]
