"""Shopify stock by compare-and-set (GraphQL ``inventorySetQuantities``) against respx.

Every request body is asserted whole: the read of ``available`` at the location, then the
mutation setting omniroute's figure less what Shopify sold that omniroute has not seen,
compared against what was read. The REST path (``inventory_compare_and_set`` off) is tested
in test_shopify_api.py.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from hypothesis import given
from hypothesis import strategies as st

from omniroute.connectors import testkit
from omniroute.connectors.base import (
    PayloadError,
    PermanentError,
    PushReceipt,
    StockUpdate,
    TransientError,
)
from omniroute.connectors.shopify import inventory
from omniroute.connectors.shopify.connector import ShopifyConfig, ShopifyConnector
from tests.unit.test_shopify_api import (  # noqa: F401 - fake_dns is an autouse fixture
    BASE,
    LOCATION,
    SHOP,
    TOKEN,
    FakeTime,
    fake_dns,
    make_connector,
)

GRAPHQL = f"{BASE}/graphql.json"
LOCATION_GID = f"gid://shopify/Location/{LOCATION}"
KEY = "stock-7-0f1e2d3c4b5a69788796a5b4c3d2e1f0"
REFERENCE = f"gid://omniroute/StockPush/{KEY}"
RED, BLUE, GREEN = 808950810, 39072856, 49148385

READ_DOCUMENT = """\
query OmnirouteAvailable($ids: [ID!]!, $locationId: ID!) {
  nodes(ids: $ids) {
    ... on InventoryItem {
      id
      inventoryLevel(locationId: $locationId) {
        quantities(names: ["available"]) { name quantity }
      }
    }
  }
}"""
SET_DOCUMENT = """\
mutation OmnirouteSetAvailable($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) {
    userErrors { code field message }
  }
}"""
SET_DOCUMENT_IDEMPOTENT = """\
mutation OmnirouteSetAvailable($input: InventorySetQuantitiesInput!, $idempotencyKey: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $idempotencyKey) {
    userErrors { code field message }
  }
}"""


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def connector(fake_time: FakeTime) -> Iterator[ShopifyConnector]:
    conn = make_connector(fake_time)
    yield conn
    conn.close()


def gid(item: int) -> str:
    return f"gid://shopify/InventoryItem/{item}"


def cost(requested: float = 10, available: float = 990, rate: float = 50) -> dict[str, Any]:
    status = {"maximumAvailable": 1000.0, "currentlyAvailable": available, "restoreRate": rate}
    return {"cost": {"requestedQueryCost": requested, "throttleStatus": status}}


def levels(**by_item: int | None) -> httpx.Response:
    """The read's answer: ``available`` per item (keyword ``i<id>``; None: not stocked)."""
    nodes = []
    for name, quantity in by_item.items():
        level = None
        if quantity is not None:
            level = {"quantities": [{"name": "available", "quantity": quantity}]}
        nodes.append({"id": gid(int(name[1:])), "inventoryLevel": level})
    return httpx.Response(200, json={"data": {"nodes": nodes}, "extensions": cost()})


def set_answer(*errors: tuple[str, list[str], str]) -> httpx.Response:
    user_errors = [{"code": code, "field": field, "message": msg} for code, field, msg in errors]
    data = {"inventorySetQuantities": {"userErrors": user_errors}}
    return httpx.Response(200, json={"data": data, "extensions": cost()})


STALE = ("COMPARE_QUANTITY_STALE", ["input", "quantities", "0", "compareQuantity"], "stale")


def throttled(requested: float, available: float, rate: float) -> httpx.Response:
    errors = [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}]
    return httpx.Response(
        200, json={"errors": errors, "extensions": cost(requested, available, rate)}
    )


def read_body(*items: int) -> dict[str, Any]:
    return {
        "query": READ_DOCUMENT,
        "variables": {"ids": [gid(item) for item in items], "locationId": LOCATION_GID},
    }


def set_body(*quantities: tuple[int, int, int]) -> dict[str, Any]:
    """The 2024-07 mutation for (item, value, compared) triples."""
    return {
        "query": SET_DOCUMENT,
        "variables": {
            "input": {
                "name": "available",
                "reason": "correction",
                "referenceDocumentUri": REFERENCE,
                "quantities": [
                    {
                        "inventoryItemId": gid(item),
                        "locationId": LOCATION_GID,
                        "quantity": value,
                        "compareQuantity": compared,
                    }
                    for item, value, compared in quantities
                ],
            }
        },
    }


def bodies(route: respx.Route) -> list[Any]:
    for call in route.calls:
        assert call.request.headers["X-Shopify-Access-Token"] == TOKEN
        assert call.request.headers["Content-Type"] == "application/json"
    return [json.loads(call.request.content) for call in route.calls]


# --- the happy paths --------------------------------------------------------------------------


def test_compare_and_set_is_the_default() -> None:
    assert ShopifyConfig(shop_domain=SHOP).inventory_compare_and_set is True


@respx.mock
def test_reads_then_sets_each_figure_compared_with_what_it_read(
    connector: ShopifyConnector,
) -> None:
    route = respx.post(GRAPHQL).mock(side_effect=[levels(i808950810=4, i39072856=0), set_answer()])
    updates = [
        StockUpdate("SKU-RED", str(RED), 6, previous=4, channel_units_since=0),
        StockUpdate("SKU-BLUE", str(BLUE), 3),  # never pushed: set as is
    ]
    receipt = connector.push_stock(updates, idempotency_key=KEY)

    applied = {str(RED): 6, str(BLUE): 3}  # what the shop holds now, told back to the core
    assert receipt == PushReceipt(external_ref=None, attempts=2, applied=applied)
    assert bodies(route) == [read_body(RED, BLUE), set_body((RED, 6, 4), (BLUE, 3, 0))]


@respx.mock
def test_units_shopify_sold_that_omniroute_has_not_seen_are_held_back(
    connector: ShopifyConnector,
) -> None:
    # RED: pushed 10; omniroute took in 2 of Shopify's sales since; Shopify shows 5, so 3 more
    # sales are on their way: 12 available becomes 9. BLUE: pushed 8, 3 taken in, Shopify
    # shows 5 (all seen): 4 is set as is. GREEN: Shopify shows more than expected (a
    # restock there, or a cancelled order): nothing is held back, 7 is set.
    route = respx.post(GRAPHQL).mock(
        side_effect=[levels(i808950810=5, i39072856=5, i49148385=9), set_answer()]
    )
    updates = [
        StockUpdate("SKU-RED", str(RED), 12, previous=10, channel_units_since=2),
        StockUpdate("SKU-BLUE", str(BLUE), 4, previous=8, channel_units_since=3),
        StockUpdate("SKU-GREEN", str(GREEN), 7, previous=6, channel_units_since=0),
    ]
    connector.push_stock(updates, idempotency_key=KEY)

    assert bodies(route)[1] == set_body((RED, 9, 5), (BLUE, 4, 5), (GREEN, 7, 9))


@respx.mock
def test_more_unseen_than_available_sets_zero(connector: ShopifyConnector) -> None:
    route = respx.post(GRAPHQL).mock(side_effect=[levels(i808950810=1), set_answer()])
    update = StockUpdate("SKU-RED", str(RED), 3, previous=9, channel_units_since=0)
    connector.push_stock([update], idempotency_key=KEY)
    assert bodies(route)[1] == set_body((RED, 0, 1))  # 8 unseen > 3 available


@respx.mock
def test_figures_shopify_already_shows_are_not_sent(connector: ShopifyConnector) -> None:
    route = respx.post(GRAPHQL).mock(side_effect=[levels(i808950810=6, i39072856=2), set_answer()])
    updates = [StockUpdate("R", str(RED), 6, previous=6), StockUpdate("B", str(BLUE), 3)]
    connector.push_stock(updates, idempotency_key=KEY)
    assert bodies(route)[1] == set_body((BLUE, 3, 2))

    route.reset()
    route.side_effect = [levels(i808950810=6)]
    receipt = connector.push_stock([StockUpdate("R", str(RED), 6)], idempotency_key=KEY)
    assert receipt.attempts == 1 and bodies(route) == [read_body(RED)]  # no mutation at all


# --- a sale between the read and the set ------------------------------------------------------


@respx.mock
def test_a_stale_compare_reads_again_and_sets_the_new_figure(connector: ShopifyConnector) -> None:
    # Between the read and the set a customer bought 1 RED in the shop: the compare fails; the
    # second read shows 3, which omniroute cannot explain (no new order taken in), so the unit
    # is held back: 6 - 1 = 5.
    route = respx.post(GRAPHQL).mock(
        side_effect=[
            levels(i808950810=4, i39072856=0),
            set_answer(STALE),
            levels(i808950810=3, i39072856=0),
            set_answer(),
        ]
    )
    updates = [
        StockUpdate("SKU-RED", str(RED), 6, previous=4),
        StockUpdate("SKU-BLUE", str(BLUE), 3, previous=0),
    ]
    receipt = connector.push_stock(updates, idempotency_key=KEY)

    assert receipt.attempts == 4
    assert bodies(route) == [
        read_body(RED, BLUE),
        set_body((RED, 6, 4), (BLUE, 3, 0)),
        read_body(RED, BLUE),
        set_body((RED, 5, 3), (BLUE, 3, 0)),
    ]
    assert receipt.applied == {str(RED): 5, str(BLUE): 3}  # RED held back: the next push expects 5


@respx.mock
def test_stale_three_times_is_left_for_a_later_try(connector: ShopifyConnector) -> None:
    route = respx.post(GRAPHQL).mock(
        side_effect=[
            levels(i808950810=4),
            set_answer(STALE),
            levels(i808950810=3),
            set_answer(STALE),
            levels(i808950810=2),
            set_answer(STALE),
        ]
    )
    with pytest.raises(TransientError, match="SKU-RED changed between read and set 3 times") as ex:
        connector.push_stock([StockUpdate("SKU-RED", str(RED), 6)], idempotency_key=KEY)
    assert ex.value.reason == "compare_stale"
    assert route.call_count == 6
    assert [body["variables"] for body in bodies(route)[1::2]] == [
        set_body((RED, 6, 4))["variables"],
        set_body((RED, 6, 3))["variables"],
        set_body((RED, 6, 2))["variables"],
    ]


# --- refusals ---------------------------------------------------------------------------------


@respx.mock
def test_other_user_errors_are_permanent_with_shopifys_words(connector: ShopifyConnector) -> None:
    error = (
        "NON_MUTABLE_INVENTORY_ITEM",
        ["input", "quantities", "0", "inventoryItemId"],
        "The specified inventory item is not allowed to be adjusted via API.",
    )
    route = respx.post(GRAPHQL).mock(side_effect=[levels(i808950810=4), set_answer(error)])
    with pytest.raises(PermanentError) as caught:
        connector.push_stock([StockUpdate("SKU-RED", str(RED), 6)], idempotency_key=KEY)
    assert str(caught.value) == (
        "Shopify refused the stock update: NON_MUTABLE_INVENTORY_ITEM "
        "(input.quantities.0.inventoryItemId): "
        "The specified inventory item is not allowed to be adjusted via API."
    )
    assert caught.value.reason == "user_error"
    assert route.call_count == 2  # never repeated


@respx.mock
def test_a_stale_compare_beside_another_error_is_permanent(connector: ShopifyConnector) -> None:
    other = ("INVALID_QUANTITY_TOO_HIGH", ["input", "quantities", "1", "quantity"], "too high")
    respx.post(GRAPHQL).mock(
        side_effect=[levels(i808950810=4, i39072856=0), set_answer(STALE, other)]
    )
    updates = [StockUpdate("R", str(RED), 6), StockUpdate("B", str(BLUE), 2_000_000_000)]
    with pytest.raises(PermanentError, match="INVALID_QUANTITY_TOO_HIGH"):
        connector.push_stock(updates, idempotency_key=KEY)


@pytest.mark.parametrize(
    ("level", "reason"),
    [
        ({"id": gid(RED), "inventoryLevel": None}, "not_stocked"),
        (None, "unknown_inventory_item"),
    ],
    ids=["not-stocked-at-the-location", "no-such-item"],
)
@respx.mock
def test_an_item_that_cannot_be_set_is_named_before_anything_is_set(
    connector: ShopifyConnector, level: dict[str, Any] | None, reason: str
) -> None:
    answer = {"data": {"nodes": [level]}, "extensions": cost()}
    route = respx.post(GRAPHQL).respond(200, json=answer)
    with pytest.raises(PermanentError, match="SKU-RED") as caught:
        connector.push_stock([StockUpdate("SKU-RED", str(RED), 6)], idempotency_key=KEY)
    assert caught.value.reason == reason
    assert route.call_count == 1


@respx.mock
def test_missing_read_inventory_scope_says_what_to_do(connector: ShopifyConnector) -> None:
    denied = {
        "errors": [
            {
                "message": "Access denied for nodes field. Required access: `read_inventory`.",
                "extensions": {"code": "ACCESS_DENIED"},
            }
        ]
    }
    route = respx.post(GRAPHQL).respond(200, json=denied)
    error = testkit.check_permanent_error(
        lambda: connector.push_stock([StockUpdate("R", str(RED), 6)], idempotency_key=KEY), route
    )
    assert "read_inventory" in str(error) and "inventory_compare_and_set" in str(error)


@respx.mock
def test_an_answer_without_the_levels_is_a_payload_error(connector: ShopifyConnector) -> None:
    respx.post(GRAPHQL).respond(200, json={"data": {"nodes": []}})
    with pytest.raises(PayloadError):
        connector.push_stock([StockUpdate("R", str(RED), 6)], idempotency_key=KEY)


# --- throttling -------------------------------------------------------------------------------


@respx.mock
def test_throttled_hands_back_the_wait_the_cost_extension_gives(fake_time: FakeTime) -> None:
    connector = make_connector(fake_time)
    # 752 points asked, 666 there, 50 back per second: 1.72 s, longer than the runtime's
    # retry_max_wait, so the push is handed back with it instead of sleeping on it.
    route = respx.post(GRAPHQL).mock(side_effect=[throttled(752, 666, 50)])
    with pytest.raises(TransientError) as caught:
        connector.push_stock([StockUpdate("R", str(RED), 6)], idempotency_key=KEY)
    assert caught.value.retry_after == pytest.approx(1.72)
    assert caught.value.reason == "rate_limited"
    assert route.call_count == 1

    # The shop's bucket holds the next call back at least that long.
    route.side_effect = [levels(i808950810=6)]
    connector.push_stock([StockUpdate("R", str(RED), 6)], idempotency_key=KEY)
    assert len(fake_time.sleeps) == 1 and fake_time.sleeps[0] >= 1.72


@respx.mock
def test_throttled_with_the_points_back_already_is_retried_in_the_call(
    connector: ShopifyConnector,
) -> None:
    route = respx.post(GRAPHQL).mock(
        side_effect=[levels(i808950810=4), throttled(10, 990, 50), set_answer()]
    )
    testkit.check_retries_then_succeeds(
        lambda: connector.push_stock([StockUpdate("R", str(RED), 6)], idempotency_key=KEY),
        route,
        calls=3,
    )
    assert bodies(route)[1] == bodies(route)[2] == set_body((RED, 6, 4))  # the same mutation


@pytest.mark.parametrize(
    "first", [testkit.too_many(0), testkit.server_error(503)], ids=["429", "503"]
)
@respx.mock
def test_http_failures_of_the_graphql_endpoint_are_retried(
    connector: ShopifyConnector, first: httpx.Response
) -> None:
    route = respx.post(GRAPHQL).mock(side_effect=[first, levels(i808950810=6)])
    testkit.check_retries_then_succeeds(
        lambda: connector.push_stock([StockUpdate("R", str(RED), 6)], idempotency_key=KEY),
        route,
        calls=2,
    )


# --- versions and sizes -----------------------------------------------------------------------


@respx.mock
def test_from_2026_01_the_compare_is_change_from_with_an_idempotency_key(
    fake_time: FakeTime,
) -> None:
    connector = make_connector(fake_time, api_version="2026-04")
    graphql = "https://example.myshopify.com/admin/api/2026-04/graphql.json"
    stale = ("CHANGE_FROM_QUANTITY_STALE", ["input", "quantities", "0"], "stale")
    route = respx.post(graphql).mock(
        side_effect=[
            levels(i808950810=4),
            set_answer(stale),
            levels(i808950810=3),
            httpx.Response(503),  # the answer is lost: the same request goes again
            set_answer(),
        ]
    )
    connector.push_stock([StockUpdate("R", str(RED), 6, previous=4)], idempotency_key=KEY)

    sets = [*bodies(route)[1::2], bodies(route)[4]]
    assert all(body["query"] == SET_DOCUMENT_IDEMPOTENT for body in sets)
    quantities = [body["variables"]["input"]["quantities"] for body in sets]
    assert quantities == [
        [
            {
                "inventoryItemId": gid(RED),
                "locationId": LOCATION_GID,
                "quantity": 6,
                "changeFromQuantity": 4,
            }
        ],
        [
            {
                "inventoryItemId": gid(RED),
                "locationId": LOCATION_GID,
                "quantity": 5,
                "changeFromQuantity": 3,
            }
        ],
        [
            {
                "inventoryItemId": gid(RED),
                "locationId": LOCATION_GID,
                "quantity": 5,
                "changeFromQuantity": 3,
            }
        ],
    ]
    keys = [body["variables"]["idempotencyKey"] for body in sets]
    assert all(uuid.UUID(key) for key in keys)
    assert keys[0] != keys[1] == keys[2]  # a new round gets a new key; a resend repeats it


def test_versions_before_2026_01_compare_with_compare_quantity() -> None:
    assert not inventory.uses_change_from("2024-07")
    assert not inventory.uses_change_from("2025-10")
    assert inventory.uses_change_from("2026-01")
    assert inventory.uses_change_from("unstable")


@respx.mock
def test_more_than_250_items_go_in_calls_of_250(connector: ShopifyConnector) -> None:
    items = list(range(1000, 1251))

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body["query"] == READ_DOCUMENT:
            ids = body["variables"]["ids"]
            nodes = [
                {"id": i, "inventoryLevel": {"quantities": [{"name": "available", "quantity": 0}]}}
                for i in ids
            ]
            return httpx.Response(200, json={"data": {"nodes": nodes}})
        return set_answer()

    route = respx.post(GRAPHQL).mock(side_effect=answer)
    updates = [StockUpdate(f"SKU-{item}", str(item), 1) for item in items]
    receipt = connector.push_stock(updates, idempotency_key=KEY)

    sent = bodies(route)
    assert receipt.attempts == 4
    assert [len(body["variables"]["ids"]) for body in sent[0::2]] == [250, 1]
    assert [len(body["variables"]["input"]["quantities"]) for body in sent[1::2]] == [250, 1]
    assert sent[3]["variables"]["input"]["quantities"][0]["inventoryItemId"] == gid(1250)


# --- the arithmetic -------------------------------------------------------------------------


@given(
    available=st.integers(0, 10**6),
    previous=st.none() | st.integers(-50, 10**6),
    since=st.integers(0, 10**4),
    current=st.integers(-50, 10**6),
)
def test_the_figure_set_is_never_above_omniroutes_nor_below_zero(
    available: int, previous: int | None, since: int, current: int
) -> None:
    value = inventory.Target("S", 1, available, previous, since).value(current)
    assert 0 <= value <= available
    if previous is None or previous - since <= current:
        assert value == available  # nothing unexplained: omniroute's figure as it is


@given(
    pushed=st.integers(0, 1000),
    seen=st.integers(0, 1000),
    unseen=st.integers(0, 1000),
    restocked=st.integers(0, 1000),
)
def test_shop_sales_omniroute_has_not_taken_in_are_never_given_back(
    pushed: int, seen: int, unseen: int, restocked: int
) -> None:
    # Shopify was set to ``pushed``; since then it sold ``seen`` units in orders omniroute
    # took in (and reserved) and ``unseen`` more in orders still on their way, while
    # omniroute received ``restocked`` units.
    current = pushed - seen - unseen
    available = max(0, pushed - seen + restocked)
    target = inventory.Target("S", 1, available, pushed, seen)
    assert target.value(current) == max(0, available - unseen)
