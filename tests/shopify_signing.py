"""Sign webhook bodies exactly as Shopify does, independently of the connector's code."""

from __future__ import annotations

import base64
import hashlib
import hmac

TEST_SECRET = b"hush-test-webhook-secret"


def shopify_hmac(secret: bytes, body: bytes) -> str:
    """``X-Shopify-Hmac-Sha256``: base64 of HMAC-SHA256(secret, raw body)."""
    return base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode("ascii")


def signed_headers(
    body: bytes,
    *,
    secret: bytes = TEST_SECRET,
    topic: str = "orders/create",
    webhook_id: str | None = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
) -> dict[str, str]:
    """Headers of a Shopify order webhook delivery carrying ``body``."""
    headers = {
        "X-Shopify-Hmac-Sha256": shopify_hmac(secret, body),
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": "example.myshopify.com",
        "Content-Type": "application/json",
    }
    if webhook_id is not None:
        headers["X-Shopify-Webhook-Id"] = webhook_id
    return headers
