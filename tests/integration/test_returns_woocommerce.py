"""A return told to the order's channel: WooCommerce gets an order note per step (through the
outbox, once per key) and, when the connector asks for it, status ``refunded`` once every
shipped unit came back. Against the fake WooCommerce REST API on 127.0.0.1."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import OutboxMessage
from omniroute.worker.handlers import drain
from tests.integration.test_woocommerce_channel_e2e import (  # noqa: F401 - the fixture
    SHIRT,
    SINGLE,
    Shop,
    place_sample_order,
    shape,
    ship,
    shop,
)
from tests.integration.woocommerce_fake_api import API
from tests.invariants.checks import assert_invariants


def returns_call(
    shop: Shop,  # noqa: F811 - the imported fixture's name
    path: str,
    body: dict[str, Any],
    headers: dict[str, str],
) -> Any:
    answer = shop.client.post(path, json=body, headers=headers)
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def test_a_return_is_noted_on_the_woocommerce_order_and_refunds_it_when_all_is_back(
    shop: Shop,  # noqa: F811 - the imported fixture
) -> None:
    config = shop.client.get(f"/api/v1/connectors/{shop.connector_id}", headers=shop.admin)
    patched = shop.client.patch(
        f"/api/v1/connectors/{shop.connector_id}",
        json={"config": {**config.json()["config"], "refund_status_on_return": True}},
        headers=shop.admin,
    )
    assert patched.status_code == 200, patched.text
    detail = place_sample_order(shop)
    (fo,) = detail["fulfilment_orders"]
    ship(shop, fo["id"], {"external_ref": "PKG-1"})
    drain(shop.ctx)
    lines = {ln["sku"]: (ln["id"], ln["quantity"]) for ln in detail["lines"]}
    before = len(shop.http.requests)

    rma = returns_call(
        shop,
        f"/api/v1/orders/{detail['id']}/returns",
        {
            "lines": [{"order_line_id": lid, "quantity": q} for lid, q in lines.values()],
            "reason": "no_longer_needed",
        },
        shop.ops,
    )
    drain(shop.ctx)
    notes_path, order_path = f"{API}/orders/727/notes", f"{API}/orders/727"
    authorised_note = (
        f"Your return {rma['rma_number']} is authorised; please send the items back.\n"
        + "".join(f"{q} x {sku}\n" for sku, (_, q) in sorted(lines.items(), key=lambda i: i[1]))
        + f"Return reference: {rma['rma_number']}:authorised:return-{rma['id']}-authorised"
    )
    assert [shape(r) for r in shop.http.requests[before:]] == [
        ("GET", notes_path, {"type": ["any"]}, None),
        ("POST", notes_path, {}, {"note": authorised_note, "customer_note": True}),
    ]

    received = returns_call(
        shop,
        f"/api/v1/returns/{rma['id']}/receipts",
        {
            "external_ref": "RCV-1",
            "lines": [
                {"sku": SINGLE, "quantity": lines[SINGLE][1], "disposition": "restock"},
                {"sku": SHIRT, "quantity": lines[SHIRT][1], "disposition": "write_off"},
            ],
        },
        shop.shipper,
    )
    assert received["order_status"] == "returned"
    drain(shop.ctx)
    calls = [shape(r) for r in shop.http.requests[before + 2 :]]
    assert [c[:2] for c in calls] == [
        ("GET", notes_path),
        ("POST", notes_path),
        ("PUT", order_path),
    ]
    assert calls[2][3] == {"status": "refunded"}
    assert shop.store.orders[727]["status"] == "refunded"
    with unit_of_work(shop.ctx.sessions) as s:
        pushes = s.execute(
            select(OutboxMessage.idempotency_key, OutboxMessage.status).where(
                OutboxMessage.kind == "channel.return"
            )
        ).all()
    assert sorted(pushes) == [
        (f"return-{rma['id']}-authorised", "sent"),
        (f"return-receipt-{received['receipt_id']}", "sent"),
    ]
    assert_invariants(shop.ctx, shop.wms)
