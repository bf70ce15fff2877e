"""PII masking by key and context, e-mails inside text; every exception code has an SLA."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from omniroute.core.access.pii import MASK, mask_pii
from omniroute.core.exceptions.opening import Reason
from omniroute.core.exceptions.sla import DEFAULT_SLA, SLA, due_at, is_late, sla_of

SHOPIFY = Path(__file__).parents[1] / "fixtures" / "third_party" / "shopify"


def test_people_and_addresses_are_masked_products_are_not() -> None:
    order = {
        "name": "#1001",
        "email": "jo@example.com",
        "note": "call jo@example.com before noon",
        "shipping_address": {
            "name": "Jo Bloggs",
            "address1": "1 High St",
            "city": "Leeds",
            "phone": "+44 113 000",
        },
        "customer": {"first_name": "Jo", "last_name": "Bloggs", "id": 7},
        "line_items": [{"name": "Blue mug", "sku": "MUG-1", "quantity": 2}],
        "billing_address": None,
    }
    masked = mask_pii(order)
    assert masked["email"] == MASK
    assert masked["name"] == "#1001"  # the order's number, beside an e-mail but no address
    assert masked["note"] == f"call {MASK} before noon"
    assert masked["shipping_address"] == {
        "name": MASK,
        "address1": MASK,
        "city": "Leeds",
        "phone": MASK,
    }
    assert masked["customer"] == {"first_name": MASK, "last_name": MASK, "id": 7}
    assert masked["line_items"] == order["line_items"]
    assert masked["billing_address"] is None
    assert order["email"] == "jo@example.com"  # a copy: the input is untouched


def test_a_real_shopify_order_keeps_no_email_phone_or_street() -> None:
    order = json.loads((SHOPIFY / "shopify_python_api_order.json").read_text())["order"]
    text = json.dumps(mask_pii(order))
    for secret in (
        order["email"],
        order["shipping_address"]["address1"],
        order["shipping_address"]["last_name"],
        order["billing_address"]["name"],
    ):
        assert secret and secret not in text, secret
    assert order["line_items"][0]["name"] in text


def test_every_code_has_an_sla_and_lateness_counts_from_first_seen() -> None:
    assert set(SLA) == set(Reason)
    first = datetime(2030, 1, 1, 8, 0)
    assert due_at("unknown_sku", first) == first + timedelta(hours=4)
    assert sla_of("a_code_from_later") == DEFAULT_SLA
    assert not is_late("unknown_sku", first, "open", first + timedelta(hours=3, minutes=59))
    assert is_late("unknown_sku", first, "open", first + timedelta(hours=4))
    assert not is_late("unknown_sku", first, "resolved", first + timedelta(days=9))
