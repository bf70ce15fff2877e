"""Shopify returns through the GraphQL Admin API (``returnCreate``, ``returnApproveRequest``,
``returnClose``, ``returnCancel``, ``returnDeclineRequest``) against respx, and the
``returns/*`` webhooks read into a ``ChannelReturn``.

The answers are shaped as Shopify's GraphQL Admin reference documents them (``Return``:
``id``, ``name``, ``status`` REQUESTED / OPEN / CLOSED / DECLINED / CANCELED;
``ReturnableFulfillment.returnableFulfillmentLineItems``: ``quantity`` and the
``fulfillmentLineItem`` with its ``lineItem``; mutation payloads ``return`` + ``userErrors``).
The webhook body is constructed from the documented Return fields (see
tests/fixtures/constructed/README.md), not a capture.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from omniroute.connectors.base import (
    Capability,
    ChannelReturnLine,
    PayloadError,
    PermanentError,
    ReturnLine,
    ReturnNotice,
    enabled_capabilities,
)
from omniroute.connectors.shopify import returns
from omniroute.connectors.shopify.connector import ShopifyConnector
from tests.unit.test_shopify_api import (  # noqa: F401 - fake_dns is an autouse fixture
    BASE,
    TOKEN,
    FakeTime,
    fake_dns,
    make_connector,
)

GRAPHQL = f"{BASE}/graphql.json"
ORDER = "450789469"
ORDER_GID = f"gid://shopify/Order/{ORDER}"
RETURN_GID = "gid://shopify/Return/945000954"
RMA = "RMA-000007-1001"
GREEN, RED = 466157049, 518995019
FIXTURE = (
    Path(__file__).resolve().parents[1]
    / "fixtures"
    / "constructed"
    / "shopify_returns_request.json"
)


@pytest.fixture
def connector() -> Iterator[ShopifyConnector]:
    conn = make_connector(FakeTime())
    yield conn
    conn.close()


def notice(
    status: str = "authorised",
    *,
    lines: tuple[ReturnLine, ...] = (ReturnLine(11, "IPOD-GREEN", 1, str(GREEN)),),
    reason: str = "damaged",
    external_return_id: str | None = None,
    return_complete: bool = False,
) -> ReturnNotice:
    return ReturnNotice(
        external_order_id=ORDER,
        rma_number=RMA,
        status=status,
        lines=lines,
        reason=reason,
        idempotency_key=f"return-7-{status}",
        return_complete=return_complete,
        external_return_id=external_return_id,
    )


def answer(data: dict[str, Any]) -> httpx.Response:
    cost = {"requestedQueryCost": 10, "throttleStatus": {"currentlyAvailable": 990.0}}
    return httpx.Response(200, json={"data": data, "extensions": {"cost": cost}})


def order_returns(
    existing: list[tuple[str, str, str]] = (),  # type: ignore[assignment]
    returnable: list[tuple[str, int, int]] = (),  # type: ignore[assignment]
) -> httpx.Response:
    """The read: the order's returns ``(id, status, note)`` and its returnable fulfillment
    line items ``(fulfillment line item id, line item id, quantity)``."""
    return answer(
        {
            "order": {
                "id": ORDER_GID,
                "returns": {
                    "nodes": [
                        {
                            "id": rid,
                            "name": "#1001-R1",
                            "status": status,
                            "returnLineItems": {"nodes": [{"returnReasonNote": note}]},
                        }
                        for rid, status, note in existing
                    ]
                },
            },
            "returnableFulfillments": {
                "nodes": [
                    {
                        "returnableFulfillmentLineItems": {
                            "nodes": [
                                {
                                    "quantity": qty,
                                    "fulfillmentLineItem": {
                                        "id": fli,
                                        "lineItem": {"id": f"gid://shopify/LineItem/{item}"},
                                    },
                                }
                                for fli, item, qty in returnable
                            ]
                        }
                    }
                ]
            },
        }
    )


def mutation(name: str, status: str, errors: list[dict[str, Any]] | None = None) -> httpx.Response:
    found = None if errors else {"id": RETURN_GID, "name": "#1001-R1", "status": status}
    return answer({name: {"return": found, "userErrors": errors or []}})


def return_status(status: str) -> httpx.Response:
    return answer({"return": {"id": RETURN_GID, "name": "#1001-R1", "status": status}})


def sent(route: respx.Route) -> list[tuple[str, dict[str, Any]]]:
    """(operation name, variables) of each GraphQL request, headers checked."""
    out = []
    for call in route.calls:
        assert call.request.headers["X-Shopify-Access-Token"] == TOKEN
        body = json.loads(call.request.content)
        name = body["query"].split("Omniroute", 1)[1].split("(", 1)[0]
        out.append((name, body["variables"]))
    return out


# --- pushing ----------------------------------------------------------------------------------


def test_returns_are_pushed_only_with_the_admin_api_and_taken_from_webhooks_always() -> None:
    with_api, webhooks_only = make_connector(), make_connector(token=None)
    assert {Capability.RETURN_PUSH, Capability.RETURN_WEBHOOKS} <= enabled_capabilities(with_api)
    assert Capability.RETURN_PUSH not in enabled_capabilities(webhooks_only)
    assert Capability.RETURN_WEBHOOKS in enabled_capabilities(webhooks_only)


@respx.mock
def test_an_authorised_return_is_created_over_the_returnable_fulfillment_line_items(
    connector: ShopifyConnector,
) -> None:
    two_green = (ReturnLine(11, "IPOD-GREEN", 3, str(GREEN)),)
    route = respx.post(GRAPHQL).mock(
        side_effect=[
            order_returns(
                returnable=[
                    ("gid://shopify/FulfillmentLineItem/1", RED, 1),
                    ("gid://shopify/FulfillmentLineItem/2", GREEN, 2),
                    ("gid://shopify/FulfillmentLineItem/3", GREEN, 4),
                ]
            ),
            mutation("returnCreate", "OPEN"),
        ]
    )
    receipt = connector.push_return(notice(lines=two_green))
    assert receipt.external_ref == RETURN_GID
    assert receipt.attempts == 2
    note = f"omniroute {RMA}"
    assert sent(route) == [
        ("OrderReturns", {"id": ORDER_GID}),
        (
            "ReturnCreate",
            {
                "input": {
                    "orderId": ORDER_GID,
                    "returnLineItems": [
                        {
                            "fulfillmentLineItemId": "gid://shopify/FulfillmentLineItem/2",
                            "quantity": 2,
                            "returnReason": "DEFECTIVE",
                            "returnReasonNote": note,
                        },
                        {
                            "fulfillmentLineItemId": "gid://shopify/FulfillmentLineItem/3",
                            "quantity": 1,
                            "returnReason": "DEFECTIVE",
                            "returnReasonNote": note,
                        },
                    ],
                    "notifyCustomer": False,
                }
            },
        ),
    ]


@pytest.mark.parametrize(
    ("ours", "theirs", "note"),
    [
        ("no_longer_needed", "UNWANTED", ""),
        ("wrong_item", "WRONG_ITEM", ""),
        ("not_as_described", "NOT_AS_DESCRIBED", ""),
        ("defective", "DEFECTIVE", ""),
        ("size_or_fit", "OTHER", " (size_or_fit)"),
        ("arrived_late", "OTHER", " (arrived_late)"),
        ("something-new", "OTHER", " (something-new)"),
    ],
)
def test_a_reason_shopify_has_no_value_for_is_other_with_the_reason_in_the_note(
    ours: str, theirs: str, note: str
) -> None:
    (line,) = returns.return_line_inputs(
        notice(reason=ours), [("gid://shopify/FulfillmentLineItem/2", str(GREEN), 1)]
    )
    assert line["returnReason"] == theirs
    assert line["returnReasonNote"] == f"omniroute {RMA}{note}"


@respx.mock
def test_a_repeat_finds_the_return_the_first_try_made_and_creates_nothing(
    connector: ShopifyConnector,
) -> None:
    route = respx.post(GRAPHQL).mock(
        return_value=order_returns(
            existing=[
                ("gid://shopify/Return/1", "OPEN", "omniroute RMA-000007-10012"),  # not ours
                (RETURN_GID, "OPEN", f"omniroute {RMA} (size_or_fit)"),
            ],
        )
    )
    receipt = connector.push_return(notice())
    assert (receipt.external_ref, receipt.attempts) == (RETURN_GID, 1)
    assert [name for name, _ in sent(route)] == ["OrderReturns"]


@respx.mock
def test_units_shopify_will_not_take_back_are_a_permanent_error_and_nothing_is_created(
    connector: ShopifyConnector,
) -> None:
    route = respx.post(GRAPHQL).mock(
        return_value=order_returns(returnable=[("gid://shopify/FulfillmentLineItem/2", RED, 1)])
    )
    with pytest.raises(PermanentError, match="will not take back 1 of 1 x IPOD-GREEN") as exc:
        connector.push_return(notice())
    assert exc.value.reason == "not_returnable"
    assert len(route.calls) == 1


@respx.mock
def test_user_errors_of_the_mutation_are_a_permanent_error(connector: ShopifyConnector) -> None:
    errors = [{"field": ["returnInput", "returnLineItems", "0"], "message": "Quantity too high"}]
    respx.post(GRAPHQL).mock(
        side_effect=[
            order_returns(returnable=[("gid://shopify/FulfillmentLineItem/2", GREEN, 1)]),
            mutation("returnCreate", "OPEN", errors),
        ]
    )
    with pytest.raises(PermanentError, match=r"returnInput\.returnLineItems\.0: Quantity too high"):
        connector.push_return(notice())


@respx.mock
def test_a_return_the_customer_asked_for_in_shopify_is_approved_once(
    connector: ShopifyConnector,
) -> None:
    route = respx.post(GRAPHQL).mock(
        side_effect=[
            return_status("REQUESTED"),
            mutation("returnApproveRequest", "OPEN"),
            return_status("OPEN"),
        ]
    )
    first = connector.push_return(notice(external_return_id=RETURN_GID))
    again = connector.push_return(notice(external_return_id=RETURN_GID))
    assert (first.external_ref, first.attempts, again.attempts) == (RETURN_GID, 2, 1)
    assert sent(route) == [
        ("Return", {"id": RETURN_GID}),
        ("ReturnApprove", {"input": {"id": RETURN_GID}}),
        ("Return", {"id": RETURN_GID}),
    ]


@respx.mock
def test_a_declined_return_cannot_be_approved(connector: ShopifyConnector) -> None:
    respx.post(GRAPHQL).mock(return_value=return_status("DECLINED"))
    with pytest.raises(PermanentError, match="is DECLINED"):
        connector.push_return(notice(external_return_id="945000954"))


@respx.mock
def test_a_complete_receipt_closes_the_return_a_partial_one_tells_shopify_nothing(
    connector: ShopifyConnector,
) -> None:
    route = respx.post(GRAPHQL).mock(
        side_effect=[
            return_status("OPEN"),
            mutation("returnClose", "CLOSED"),
            return_status("CLOSED"),
        ]
    )
    partial = connector.push_return(notice("received", external_return_id=RETURN_GID))
    assert partial.attempts == 0 and route.calls.call_count == 0
    closed = connector.push_return(
        notice("received", external_return_id=RETURN_GID, return_complete=True)
    )
    again = connector.push_return(notice("closed", external_return_id=RETURN_GID))
    assert (closed.attempts, again.attempts) == (2, 1)
    assert sent(route) == [
        ("Return", {"id": RETURN_GID}),
        ("ReturnClose", {"id": RETURN_GID}),
        ("Return", {"id": RETURN_GID}),
    ]


@respx.mock
def test_closing_a_return_only_omniroute_knows_finds_it_by_its_rma_or_does_nothing(
    connector: ShopifyConnector,
) -> None:
    route = respx.post(GRAPHQL).mock(
        side_effect=[
            order_returns(existing=[(RETURN_GID, "OPEN", f"omniroute {RMA}")]),
            mutation("returnClose", "CLOSED"),
            order_returns(),
        ]
    )
    assert connector.push_return(notice("closed")).external_ref == RETURN_GID
    assert connector.push_return(notice("closed")).external_ref is None
    assert [name for name, _ in sent(route)] == ["OrderReturns", "ReturnClose", "OrderReturns"]


@respx.mock
@pytest.mark.parametrize(
    ("status", "operation", "variables"),
    [
        ("REQUESTED", "ReturnDecline", {"input": {"id": RETURN_GID, "declineReason": "OTHER"}}),
        ("OPEN", "ReturnCancel", {"id": RETURN_GID}),
    ],
)
def test_a_cancelled_rma_declines_a_requested_return_and_cancels_an_open_one(
    connector: ShopifyConnector, status: str, operation: str, variables: dict[str, Any]
) -> None:
    payload = "returnDeclineRequest" if operation == "ReturnDecline" else "returnCancel"
    route = respx.post(GRAPHQL).mock(
        side_effect=[return_status(status), mutation(payload, "CANCELED")]
    )
    connector.push_return(notice("cancelled", external_return_id=RETURN_GID))
    assert sent(route) == [("Return", {"id": RETURN_GID}), (operation, variables)]


def test_a_line_without_a_shopify_line_item_id_is_a_permanent_error() -> None:
    with pytest.raises(PermanentError, match="no Shopify line item id"):
        returns.return_line_inputs(notice(lines=(ReturnLine(11, "X", 1, None),)), [])


# --- webhooks ---------------------------------------------------------------------------------


def test_the_returns_request_webhook_is_read_into_a_channel_return(
    connector: ShopifyConnector,
) -> None:
    body = FIXTURE.read_bytes()
    event = connector.return_event("returns/request", {}, body)
    assert event is not None
    assert event.external_return_id == "gid://shopify/Return/945000954"
    assert event.external_order_id == ORDER
    assert (event.status, event.name, event.rma_number) == ("requested", "#1001-R1", None)
    assert event.lines == (
        ChannelReturnLine(str(GREEN), 1, "defective", "The screen is cracked"),
        ChannelReturnLine(str(RED), 1, "size_or_fit", None),
    )


@pytest.mark.parametrize(
    ("topic", "status"),
    [
        ("returns/approve", "authorised"),
        ("returns/decline", "declined"),
        ("RETURNS/CANCEL", "cancelled"),
        ("returns/close", "closed"),
    ],
)
def test_each_returns_topic_says_its_status_and_a_line_note_names_our_rma(
    connector: ShopifyConnector, topic: str, status: str
) -> None:
    document = json.loads(FIXTURE.read_bytes())
    document["return_line_items"][0]["return_reason_note"] = f"omniroute {RMA} (arrived_late)"
    event = connector.return_event(None, {"X-Shopify-Topic": topic}, json.dumps(document).encode())
    assert event is not None
    assert (event.status, event.rma_number) == (status, RMA)


def test_other_topics_are_not_returns_and_their_bodies_are_not_read(
    connector: ShopifyConnector,
) -> None:
    assert connector.return_event("orders/create", {}, b"not json") is None
    assert connector.return_event(None, {}, b"not json") is None


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"order": {"id": 1}},
        {"id": "Return/abc", "order": {"id": 1}},
        {"id": 5, "return_line_items": {"quantity": 1}},
        {"id": 5, "return_line_items": [{"quantity": 1}]},
        {"id": 5, "return_line_items": [{"quantity": "x", "fulfillment_line_item": {}}]},
    ],
)
def test_a_returns_delivery_that_cannot_be_read_is_a_payload_error(
    connector: ShopifyConnector, document: Any
) -> None:
    with pytest.raises(PayloadError):
        connector.return_event("returns/request", {}, json.dumps(document).encode())
