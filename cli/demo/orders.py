"""Shopify-shaped demo orders, generated here so the demo reads no files outside the package."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

CITIES = [
    ("Ottawa", "ON", "K2P 1L4", "CA", "Canada"),
    ("New York", "NY", "10001", "US", "United States"),
    ("Chicago", "IL", "60601", "US", "United States"),
    ("Austin", "TX", "73301", "US", "United States"),
    ("Seattle", "WA", "98101", "US", "United States"),
    ("Toronto", "ON", "M5V 2T6", "CA", "Canada"),
]
FIRST = ["Bob", "Ana", "Li", "Sam", "Noor", "Kai", "Eva", "Tom"]
LAST = ["Norman", "Silva", "Chen", "Okafor", "Haddad", "Berg", "Rossi", "Kim"]


def demo_skus(count: int) -> list[str]:
    return [f"SKU-{i:05d}" for i in range(1, count + 1)]


def shopify_order(
    order_id: int,
    skus: list[str],
    rng: random.Random,
    *,
    max_lines: int = 5,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A webhook body as Shopify sends ``orders/create``: the bare order object."""
    now = now or datetime.now(UTC)
    city, province, zip_code, country_code, country = rng.choice(CITIES)
    first, last = rng.choice(FIRST), rng.choice(LAST)
    address = {
        "first_name": first,
        "last_name": last,
        "name": f"{first} {last}",
        "address1": f"{rng.randint(1, 999)} Main Street",
        "address2": None,
        "company": None,
        "city": city,
        "province": province,
        "province_code": province,
        "zip": zip_code,
        "country": country,
        "country_code": country_code,
        "phone": "555-555-5555",
    }
    lines = []
    total = Decimal("0")
    for n, sku in enumerate(rng.sample(skus, rng.randint(1, min(max_lines, len(skus))))):
        price = Decimal(rng.randint(500, 20000)) / 100
        qty = rng.randint(1, 3)
        total += price * qty
        lines.append(
            {
                "id": order_id * 10 + n,
                "variant_id": 1_000_000 + skus.index(sku),
                "sku": sku,
                "title": f"Demo product {sku}",
                "quantity": qty,
                "price": str(price),
                "requires_shipping": True,
                "grams": 200,
                "fulfillment_status": None,
            }
        )
    stamp = (now - timedelta(seconds=rng.randint(0, 60))).isoformat(timespec="seconds")
    return {
        "id": order_id,
        "name": f"#{order_id}",
        "order_number": order_id,
        "email": f"{first.lower()}.{last.lower()}@example.com",
        "currency": "USD",
        "created_at": stamp,
        "updated_at": stamp,
        "cancelled_at": None,
        "financial_status": "paid",
        "fulfillment_status": None,
        "tags": "demo",
        "total_price": str(total),
        "subtotal_price": str(total),
        "note": None,
        "customer": {
            "id": order_id + 7,
            "email": f"{first.lower()}@example.com",
            "first_name": first,
            "last_name": last,
        },
        "shipping_address": address,
        "billing_address": address,
        "line_items": lines,
        "shipping_lines": [{"code": "Standard", "title": "Standard", "price": "5.00"}],
    }
