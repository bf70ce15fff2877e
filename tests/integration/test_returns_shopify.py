"""Returns with Shopify end to end, against the fake Shopify Admin API on 127.0.0.1: each step
of an RMA goes through the outbox to Shopify's GraphQL returns (created once, found again by
the RMA in its line note, closed when every unit is back), and a customer's return request in
Shopify comes in as a signed ``returns/request`` webhook (stored raw first, deduplicated),
becomes an RMA in ``requested``, and is approved in Shopify once ops authorise it.

The ``returns/*`` webhook bodies are built by the fake from the fields Shopify documents (no
capture exists here; see tests/fixtures/constructed/README.md)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import InboundMessage, ReturnAuthorisation
from omniroute.worker.handlers import drain
from tests.integration.shopify_fake_api import Line, order_variant
from tests.integration.test_shopify_channel_e2e import (  # noqa: F401 - env is a fixture
    BLACK,
    ORDER_D,
    Env,
    env,
    ok,
    orders,
    outbox_rows,
    ship,
    single_fulfillment_order,
    webhook_headers,
)
from tests.invariants.checks import assert_invariants

LINE = 50_000_041


def graphql_calls(env: Env, since: int) -> list[tuple[str, dict[str, Any]]]:  # noqa: F811
    """(operation name, variables) of each GraphQL request the shop received since ``since``."""
    out = []
    for request in env.shop.http.requests[since:]:
        assert request.method == "POST" and request.path.endswith("/graphql.json"), request.path
        body = request.json or {}
        out.append((body["query"].split("Omniroute", 1)[1].split("(", 1)[0], body["variables"]))
    return out


def returns_of(env: Env) -> list[tuple[str, str, str | None]]:  # noqa: F811
    with unit_of_work(env.ctx.sessions) as session:
        rows = session.execute(
            select(
                ReturnAuthorisation.status,
                ReturnAuthorisation.source,
                ReturnAuthorisation.external_id,
            ).order_by(ReturnAuthorisation.id)
        ).all()
    return [(str(a), str(b), c) for a, b, c in rows]


def webhook(env: Env, return_id: int, topic: str, webhook_id: str) -> dict[str, Any]:  # noqa: F811
    body = env.shop.return_webhook(return_id)
    url = f"/webhooks/{env.connector_id}"
    answer: dict[str, Any] = ok(
        env.client.post(url, content=body, headers=webhook_headers(body, webhook_id, topic))
    )
    return answer


def test_rma_steps_reach_shopify_once_and_a_customer_request_becomes_an_rma(
    env: Env,  # noqa: F811
) -> None:
    order = order_variant(
        ORDER_D,
        number=1104,
        updated_at="2026-11-21T08:30:00-05:00",
        lines=[Line(LINE, "IPOD2008BLACK", 457924702, 2)],
        customer="Dennis Ritchie",
    )
    env.shop.add_order(order, single_fulfillment_order(order))
    body = json.dumps(order).encode()
    ok(
        env.client.post(
            f"/webhooks/{env.connector_id}", content=body, headers=webhook_headers(body, "wh-o")
        )
    )
    drain(env.ctx)
    order_id = orders(env)[str(ORDER_D)]["id"]
    detail = ok(env.client.get(f"/api/v1/orders/{order_id}", headers=env.ops))
    (fo,) = detail["fulfilment_orders"]
    ((line_id, _),) = [(ln["id"], ln["sku"]) for ln in detail["lines"]]
    shipped = {"external_ref": "PKG-D", "carrier": "UPS", "tracking_number": "1ZD0001"}
    ship(env, fo["id"], shipped)
    drain(env.ctx)
    (fulfillment,) = env.shop.fulfillments[ORDER_D]
    fli = f"gid://shopify/FulfillmentLineItem/{fulfillment['id'] * 1000}"
    order_gid = f"gid://shopify/Order/{ORDER_D}"

    # Ops take one unit back: Shopify is read (no return of this RMA yet), then one
    # returnCreate for the fulfillment line item, reason DEFECTIVE, the RMA in the note.
    start = len(env.shop.http.requests)
    rma = ok(
        env.client.post(
            f"/api/v1/orders/{order_id}/returns",
            json={"lines": [{"order_line_id": line_id, "quantity": 1}], "reason": "damaged"},
            headers=env.ops,
        ),
        201,
    )
    drain(env.ctx)
    note = f"omniroute {rma['rma_number']}"
    assert graphql_calls(env, start) == [
        ("OrderReturns", {"id": order_gid}),
        (
            "ReturnCreate",
            {
                "input": {
                    "orderId": order_gid,
                    "returnLineItems": [
                        {
                            "fulfillmentLineItemId": fli,
                            "quantity": 1,
                            "returnReason": "DEFECTIVE",
                            "returnReasonNote": note,
                        }
                    ],
                    "notifyCustomer": False,
                }
            },
        ),
    ]
    ((made_id, made),) = env.shop.returns.items()
    assert (made["status"], made["lines"][0][2]) == ("OPEN", 1)
    made_gid = f"gid://shopify/Return/{made_id}"
    assert returns_of(env) == [("authorised", "ops", made_gid)]

    # Shopify tells of the return omniroute made (returns/approve): it names the RMA, so it
    # is the same RMA, not a second one.
    webhook(env, made_id, "returns/approve", "wh-r1")
    drain(env.ctx)
    assert returns_of(env) == [("authorised", "ops", made_gid)]

    # The warehouse receives the unit: every unit of the RMA is back, Shopify closes it.
    start = len(env.shop.http.requests)
    receipt = {
        "external_ref": "RCV-1",
        "lines": [{"sku": BLACK, "quantity": 1, "disposition": "restock"}],
    }
    got = ok(
        env.client.post(f"/api/v1/returns/{rma['id']}/receipts", json=receipt, headers=env.shipper),
        201,
    )
    assert got["return_status"] == "received"
    drain(env.ctx)
    assert graphql_calls(env, start) == [
        ("Return", {"id": made_gid}),
        ("ReturnClose", {"id": made_gid}),
    ]
    assert env.shop.returns[made_id]["status"] == "CLOSED"

    # The customer asks in Shopify to return the other unit: a signed returns/request.
    asked = env.shop.request_return(ORDER_D, [(LINE, 1)], reason="UNWANTED")
    start = len(env.shop.http.requests)
    first = webhook(env, asked, "returns/request", "wh-r2")
    assert first["duplicate"] is False
    assert webhook(env, asked, "returns/request", "wh-r2")["duplicate"] is True
    drain(env.ctx)
    asked_gid = f"gid://shopify/Return/{asked}"
    assert returns_of(env)[1] == ("requested", "channel", asked_gid)
    assert env.shop.http.requests[start:] == []  # nothing asked of Shopify
    with unit_of_work(env.ctx.sessions) as session:
        taken = session.execute(
            select(InboundMessage.topic, InboundMessage.status).where(
                InboundMessage.topic.like("returns/%")
            )
        ).all()
    assert sorted((str(t), str(s)) for t, s in taken) == [
        ("returns/approve", "done"),
        ("returns/request", "done"),
    ]
    listed = ok(env.client.get("/api/v1/returns", params={"order_id": order_id}, headers=env.ops))
    channel_rma = listed[1]
    assert (channel_rma["reason"], channel_rma["lines"][0]["quantity"]) == ("no_longer_needed", 1)

    # Ops authorise it: the warehouse is told, Shopify approves the customer's request.
    start = len(env.shop.http.requests)
    url = f"/api/v1/returns/{channel_rma['id']}/authorise"
    assert ok(env.client.post(url, headers=env.ops))["status"] == "authorised"
    drain(env.ctx)
    assert graphql_calls(env, start) == [
        ("Return", {"id": asked_gid}),
        ("ReturnApprove", {"input": {"id": asked_gid}}),
    ]
    assert env.shop.returns[asked]["status"] == "OPEN"
    # Shopify's returns/approve for it changes nothing more.
    webhook(env, asked, "returns/approve", "wh-r3")
    drain(env.ctx)
    assert returns_of(env)[1] == ("authorised", "channel", asked_gid)
    assert [(k, s) for k, s, _ in outbox_rows(env, "channel.return")] == [
        (f"return-{rma['id']}-authorised", "sent"),
        (f"return-receipt-{got['receipt_id']}", "sent"),
        (f"return-{channel_rma['id']}-authorised", "sent"),
    ]
    assert_invariants(env.ctx, env.wms)


def test_a_request_for_an_order_omniroute_does_not_hold_fails_visibly(
    env: Env,  # noqa: F811
) -> None:
    order = order_variant(
        ORDER_D,
        number=1104,
        updated_at="2026-11-21T08:30:00-05:00",
        lines=[Line(LINE, "IPOD2008BLACK", 457924702, 1)],
        customer="Dennis Ritchie",
    )
    env.shop.add_order(order, single_fulfillment_order(order))
    env.shop.fulfillments[ORDER_D].append(
        {"id": 77, "status": "success", "line_items": [{"id": LINE, "quantity": 1}]}
    )
    asked = env.shop.request_return(ORDER_D, [(LINE, 1)])
    webhook(env, asked, "returns/request", "wh-x")
    drain(env.ctx)
    with unit_of_work(env.ctx.sessions) as session:
        status, error = session.execute(
            select(InboundMessage.status, InboundMessage.last_error)
        ).one()
    assert status == "failed"
    assert f"order {ORDER_D}, which omniroute does not hold" in str(error)
    problems = ok(env.client.get("/api/v1/exceptions", headers=env.ops))
    assert [p["reason"] for p in problems] == ["invalid_payload"]
    assert returns_of(env) == []


def test_a_decline_or_cancel_in_shopify_cancels_the_rma_and_tells_only_the_warehouse(
    env: Env,  # noqa: F811
) -> None:
    order = order_variant(
        ORDER_D,
        number=1104,
        updated_at="2026-11-21T08:30:00-05:00",
        lines=[Line(LINE, "IPOD2008BLACK", 457924702, 2)],
        customer="Dennis Ritchie",
    )
    env.shop.add_order(order, single_fulfillment_order(order))
    body = json.dumps(order).encode()
    url = f"/webhooks/{env.connector_id}"
    ok(env.client.post(url, content=body, headers=webhook_headers(body, "wh-o")))
    drain(env.ctx)
    order_id = orders(env)[str(ORDER_D)]["id"]
    (fo,) = ok(env.client.get(f"/api/v1/orders/{order_id}", headers=env.ops))["fulfilment_orders"]
    ship(env, fo["id"], {"external_ref": "PKG-D", "carrier": "UPS", "tracking_number": "1ZD2"})
    drain(env.ctx)

    # One request declined in Shopify before anyone here authorised it.
    first = env.shop.request_return(ORDER_D, [(LINE, 1)])
    webhook(env, first, "returns/request", "wh-a")
    drain(env.ctx)
    env.shop.returns[first]["status"] = "DECLINED"
    webhook(env, first, "returns/decline", "wh-b")
    # Another approved in Shopify (it arrives already open), then cancelled there.
    second = env.shop.request_return(ORDER_D, [(LINE, 1)])
    env.shop.returns[second]["status"] = "OPEN"
    webhook(env, second, "returns/approve", "wh-c")
    drain(env.ctx)
    assert [s for s, _, _ in returns_of(env)] == ["cancelled", "authorised"]
    start = len(env.shop.http.requests)
    env.shop.returns[second]["status"] = "CANCELED"
    webhook(env, second, "returns/cancel", "wh-d")
    drain(env.ctx)
    assert returns_of(env) == [
        ("cancelled", "channel", f"gid://shopify/Return/{first}"),
        ("cancelled", "channel", f"gid://shopify/Return/{second}"),
    ]
    assert env.shop.http.requests[start:] == []  # Shopify is not told what it said
    assert outbox_rows(env, "channel.return") == []
    # The warehouse expected only the approved one, and was told it is off.
    second_rma = returns_of_ids(env)[1]
    assert sorted(
        (r.headers["idempotency-key"], r.body["cancelled"])
        for r in env.wms.requests
        if r.path == "/returns"
    ) == [(f"return-{second_rma}-cancel", True), (f"return-{second_rma}-expect", False)]

    # A request ops cancel here is declined in Shopify.
    third = env.shop.request_return(ORDER_D, [(LINE, 1)])
    webhook(env, third, "returns/request", "wh-e")
    drain(env.ctx)
    third_rma = returns_of_ids(env)[2]
    start = len(env.shop.http.requests)
    cancel = f"/api/v1/returns/{third_rma}/cancel"
    assert ok(env.client.post(cancel, json={}, headers=env.ops))["status"] == "cancelled"
    drain(env.ctx)
    third_gid = f"gid://shopify/Return/{third}"
    assert graphql_calls(env, start) == [
        ("Return", {"id": third_gid}),
        ("ReturnDecline", {"input": {"id": third_gid, "declineReason": "OTHER"}}),
    ]
    assert env.shop.returns[third]["status"] == "DECLINED"
    assert_invariants(env.ctx, env.wms)


def returns_of_ids(env: Env) -> list[int]:  # noqa: F811
    with unit_of_work(env.ctx.sessions) as session:
        return list(
            session.scalars(select(ReturnAuthorisation.id).order_by(ReturnAuthorisation.id))
        )
