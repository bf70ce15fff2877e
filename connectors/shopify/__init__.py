"""Shopify channel connector: order webhooks (HMAC-SHA256, base64) mapped to canonical orders."""
