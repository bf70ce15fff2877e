"""Amazon SP-API connector: mapping of the recorded samples, polling, LWA auth, pacing, pushes."""

from __future__ import annotations

import json
import socket
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pydantic
import pytest
import respx

from omniroute.connectors import testkit
from omniroute.connectors.amazon import AmazonConfig, AmazonConnector, AmazonSecrets
from omniroute.connectors.amazon.auth import AccessTokenCache
from omniroute.connectors.amazon.mapping import (
    MARKETPLACE_CURRENCY,
    build_payload,
    package_reference_id,
)
from omniroute.connectors.base import (
    Capability,
    ConnectorRuntime,
    FulfilmentNotice,
    PayloadError,
    PermanentError,
    ShippedLine,
    StockUpdate,
    TransientError,
)
from omniroute.connectors.http import UnsafeUrlError
from omniroute.mapping import MappingError
from omniroute.mapping.transforms import TRANSFORMS, TransformError

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "third_party" / "amazon"
API = "https://sellingpartnerapi-na.amazon.com"
TOKEN_URL = "https://api.amazon.com/auth/o2/token"
ORDERS = f"{API}/orders/v0/orders"
US = "ATVPDKIKX0DER"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SECRETS = {
    "lwa_client_id": "amzn1.application-oa2-client.test",
    "lwa_client_secret": "lwa-s3cr3t",
    "refresh_token": "Atzr|refresh-s3cr3t",
}
RUNTIME = ConnectorRuntime(retry_attempts=3, retry_max_wait=0.01)


def orders_sample() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((SAMPLES / "getOrders.200.example.json").read_text())
    return document


def items_sample() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((SAMPLES / "getOrderItems.200.example.json").read_text())
    return document


def sample_order() -> dict[str, Any]:
    order: dict[str, Any] = orders_sample()["payload"]["Orders"][0]
    return order


def sample_items() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = items_sample()["payload"]["OrderItems"]
    return items


def sample_payload() -> dict[str, Any]:
    """The untouched samples as the poller stores them: the order and all its items."""
    return build_payload(sample_order(), sample_items())


def paid_order(order_id: str = "902-3159896-1390916", **changes: Any) -> dict[str, Any]:
    """The sample order once payment was authorised (a variant built here, not a fixture)."""
    order = sample_order()
    order.update(
        {
            "AmazonOrderId": order_id,
            "OrderStatus": "Unshipped",
            "LastUpdateDate": "2017-01-21T08:00:00Z",
            "OrderTotal": {"CurrencyCode": "USD", "Amount": "61.89"},
            "NumberOfItemsUnshipped": 3,
        }
    )
    order.update(changes)
    return order


class FakeSleep:
    """Records requested sleeps instead of sleeping, so pacing and retries cost no time."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    table = {
        "sellingpartnerapi-na.amazon.com": "52.94.0.10",
        "api.amazon.com": "52.94.0.11",
        "spapi.internal": "10.1.2.3",
    }

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (table[host], port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_connector(
    sleep: FakeSleep | None = None,
    clock: FakeClock | None = None,
    runtime: ConnectorRuntime = RUNTIME,
    **config: Any,
) -> AmazonConnector:
    values: dict[str, Any] = {"marketplace_ids": [US], "seller_id": "A2SELLER"}
    values.update(config)
    return AmazonConnector(
        values,
        SECRETS,
        runtime=runtime,
        sleep=sleep or FakeSleep(),
        clock=clock or FakeClock(),
    )


@pytest.fixture
def connector(sleep: FakeSleep, clock: FakeClock) -> AmazonConnector:
    return make_connector(sleep, clock)


def token_route(mock: respx.MockRouter, *tokens: str, expires_in: int = 3600) -> respx.Route:
    answers = [
        httpx.Response(
            200, json={"access_token": t, "token_type": "bearer", "expires_in": expires_in}
        )
        for t in (tokens or ("Atza|access-1",))
    ]
    return mock.post(TOKEN_URL).mock(side_effect=answers)


RDT_URL = f"{API}/tokens/2021-03-01/restrictedDataToken"
#: The generic path: one Restricted Data Token serves getOrderAddress for any order.
ADDRESS_RESOURCE = {"method": "GET", "path": "/orders/v0/orders/{orderId}/address"}
ADDRESS_URL = rf"{ORDERS}/(?P<order_id>[^/]+)/address"


def address_sample(order_id: str = "902-3159896-1390916") -> dict[str, Any]:
    """The getOrderAddress answer built from the documentation, for ``order_id``."""
    document: dict[str, Any] = json.loads((SAMPLES / "getOrderAddress.200.built.json").read_text())
    document["payload"]["AmazonOrderId"] = order_id
    return document


def listed_order(order_id: str = "902-3159896-1390916", **changes: Any) -> dict[str, Any]:
    """A paid order as getOrders lists it without a Restricted Data Token: no name, no street."""
    order = paid_order(order_id, **changes)
    order["ShippingAddress"] = {
        key: order["ShippingAddress"][key]
        for key in ("City", "StateOrRegion", "PostalCode", "CountryCode")
    }
    return order


def rdt_route(mock: respx.MockRouter, *tokens: str, expires_in: int = 3600) -> respx.Route:
    answers = [
        httpx.Response(200, json={"restrictedDataToken": t, "expiresIn": expires_in})
        for t in (tokens or ("Atz.sprdt|rdt-1",))
    ]
    return mock.post(RDT_URL).mock(side_effect=answers)


def address_route(mock: respx.MockRouter) -> respx.Route:
    """getOrderAddress answering the built sample for whichever order is asked for."""
    return mock.get(url__regex=ADDRESS_URL).mock(
        side_effect=lambda request, order_id: httpx.Response(200, json=address_sample(order_id))
    )


def address_routes(mock: respx.MockRouter) -> tuple[respx.Route, respx.Route]:
    return rdt_route(mock), address_route(mock)


def items_page(order_id: str, items: list[dict[str, Any]], token: str | None = None) -> Any:
    payload: dict[str, Any] = {"AmazonOrderId": order_id, "OrderItems": items}
    if token is not None:
        payload["NextToken"] = token
    return httpx.Response(200, json={"payload": payload})


def query(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(request.url.query.decode(), keep_blank_values=True)


def notice(**changes: Any) -> FulfilmentNotice:
    values: dict[str, Any] = {
        "external_order_id": "902-3159896-1390916",
        "shipment_ref": "4711",
        "lines": (
            ShippedLine(sku="SKU-1", quantity=1, external_line_id="68828574383266"),
            ShippedLine(sku="SKU-5", quantity=2, external_line_id="79039765272157"),
        ),
        "shipped_at": datetime(2026, 11, 27, 15, 30, 12, 500000, tzinfo=UTC),
        "idempotency_key": "shipment-4711",
        "carrier": "UPS",
        "tracking_number": "1Z999AA10123456784",
    }
    values.update(changes)
    return FulfilmentNotice(**values)


# --- kind, config, secrets --------------------------------------------------------------------


def test_kind_is_declared_properly(connector: AmazonConnector) -> None:
    testkit.check_kind(AmazonConnector, connector)
    assert AmazonConnector.kind == "amazon_sp"
    assert AmazonConnector.capabilities == frozenset(
        {
            Capability.ORDER_POLLING,
            Capability.ORDER_FETCH,
            Capability.FULFILMENT_PUSH,
            Capability.STOCK_PUSH,
        }
    )
    assert Capability.ORDER_WEBHOOKS not in AmazonConnector.capabilities


def test_config_defaults() -> None:
    config = AmazonConfig(marketplace_ids=(US,))
    assert config.api_base_url == API
    assert config.token_url == TOKEN_URL
    assert config.page_size == 100
    assert config.stock_patch_op == "merge"
    limits = config.rate_limits
    assert (limits.get_orders.rate, limits.get_orders.burst) == (0.0167, 20)
    assert (limits.get_order_items.rate, limits.get_order_items.burst) == (0.5, 30)
    assert (limits.confirm_shipment.rate, limits.confirm_shipment.burst) == (2.0, 10)
    assert (limits.patch_listings_item.rate, limits.patch_listings_item.burst) == (5.0, 10)
    assert (limits.get_order_address.rate, limits.get_order_address.burst) == (0.5, 30)
    assert (
        limits.create_restricted_data_token.rate,
        limits.create_restricted_data_token.burst,
    ) == (1.0, 10)


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"marketplace_ids": []},
        {"marketplace_ids": [" "]},
        {"marketplace_ids": [US], "page_size": 101},
        {"marketplace_ids": [US], "page_size": 0},
        {"marketplace_ids": [US], "api_base_url": "ftp://sellingpartnerapi-na.amazon.com"},
        {"marketplace_ids": [US], "api_base_url": "https://u:p@sellingpartnerapi-na.amazon.com"},
        {"marketplace_ids": [US], "token_url": "https://api.amazon.com/auth/o2/token?x=1"},
        {"marketplace_ids": [US], "stock_patch_op": "add"},
        {"marketplace_ids": [US], "rate_limits": {"get_orders": {"rate": 0, "burst": 1}}},
        {"marketplace_ids": [US], "marketplace": US},
    ],
)
def test_config_rejects(values: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        AmazonConfig.model_validate(values)


def test_secrets_are_hidden_and_required() -> None:
    secrets = AmazonSecrets.model_validate(SECRETS)
    assert "lwa-s3cr3t" not in repr(secrets)
    assert "refresh-s3cr3t" not in str(secrets.model_dump())
    with pytest.raises(pydantic.ValidationError):
        AmazonSecrets.model_validate({**SECRETS, "refresh_token": ""})
    with pytest.raises(pydantic.ValidationError):
        AmazonSecrets.model_validate({**SECRETS, "aws_secret_key": "x"})
    schema = AmazonSecrets.model_json_schema()["properties"]
    assert all(prop.get("writeOnly") for prop in schema.values())


# --- mapping ----------------------------------------------------------------------------------

CUSTOMIZED_URL = (
    "https://zme-caps.amazon.com/t/bR6qHkzSOxuB/J8nbWhze0Bd3DkajkOdY-XQbWkFralegp2sr_QZiKEE/1"
)
EXPECTED_SAMPLE = {
    "external_id": "902-3159896-1390916",
    "external_number": "902-3159896-1390916",
    "channel": "amazon",
    "created_at": "2017-01-20T19:49:35+00:00",
    "updated_at": "2017-01-20T19:49:35+00:00",
    "currency": "JPY",  # no OrderTotal while Pending: the items' price currency
    "total": None,
    "subtotal": "43.94",
    "discount_total": None,
    "shipping_total": "1.26",
    "tax_total": None,
    "financial_status": "pending",
    "cancelled": False,
    "channel_fulfilment": None,
    "service_level": "standard",
    "customer": {"email": "user@example.com", "name": "John Doe", "phone": None},
    "ship_to": {
        "name": "Michigan address",
        "company": None,
        "address1": "1 Cross St.",
        "address2": None,
        "city": "Canton",
        "region": "MI",
        "postal_code": "48817",
        "country": "US",
        "phone": None,
    },
    "bill_to": None,
    "lines": [
        {
            "external_line_id": "68828574383266",
            "channel_sku": "CBA_OTF_1",
            "variant_id": "BT0093TELA",
            "title": "Example item name",
            "quantity": 1,
            "unit_price": "25.99",
            "discount_total": None,
            "tax_total": None,
            "line_total": "25.99",
            "gift_message": "For you!",
            "properties": [
                {"name": "GiftWrapLevel", "value": "Classic"},
                {"name": "CustomizedURL", "value": CUSTOMIZED_URL},
            ],
        },
        {
            "external_line_id": "79039765272157",
            "channel_sku": "CBA_OTF_5",
            "variant_id": "BCTU1104UEFB",
            "title": "Example item name",
            "quantity": 2,
            "unit_price": "8.975",  # ItemPrice 17.95 is the line total for 2
            "discount_total": None,
            "tax_total": None,
            "line_total": "17.95",
            "gift_message": "For you!",
            "properties": [
                {"name": "GiftWrapLevel", "value": "Classic"},
                {"name": "CustomizedURL", "value": CUSTOMIZED_URL},
            ],
        },
    ],
    "tags": [],
    "note": None,
    "fulfilled_externally": False,
}


def test_recorded_samples_map_to_canonical(connector: AmazonConnector) -> None:
    testkit.check_maps_to_canonical(connector, sample_payload())


def test_recorded_samples_map_field_by_field(connector: AmazonConnector) -> None:
    assert connector.map_order(sample_payload()) == EXPECTED_SAMPLE


def test_mapping_leaves_the_payload_unchanged(connector: AmazonConnector) -> None:
    payload = sample_payload()
    connector.map_order(payload)
    assert payload == sample_payload()


def test_paid_order_maps_total_currency_and_status(connector: AmazonConnector) -> None:
    doc = testkit.check_maps_to_canonical(connector, build_payload(paid_order(), sample_items()))
    assert (doc["currency"], doc["total"]) == ("USD", "61.89")
    assert doc["financial_status"] == "paid"
    assert doc["updated_at"] == "2017-01-21T08:00:00+00:00"
    assert doc["cancelled"] is False


@pytest.mark.parametrize(
    ("status", "cancelled", "financial"),
    [
        ("Pending", False, "pending"),
        ("PendingAvailability", False, "pending"),
        ("Unshipped", False, "paid"),
        ("PartiallyShipped", False, "paid"),
        ("Shipped", False, "paid"),
        ("InvoiceUnconfirmed", False, "paid"),
        ("Canceled", True, None),
        ("Unfulfillable", False, None),
    ],
)
def test_order_status(
    connector: AmazonConnector, status: str, cancelled: bool, financial: str | None
) -> None:
    doc = connector.map_order(build_payload(paid_order(OrderStatus=status), sample_items()))
    assert doc["cancelled"] is cancelled
    assert doc["financial_status"] == financial


@pytest.mark.parametrize(
    ("category", "level"),
    [
        ("Standard", "standard"),
        ("FreeEconomy", "standard"),
        ("Scheduled", "standard"),
        ("Expedited", "express"),
        ("NextDay", "express"),
        ("SecondDay", "express"),
        ("Priority", "express"),
        ("SameDay", "same_day"),
        (None, "standard"),
    ],
)
def test_service_level(connector: AmazonConnector, category: str | None, level: str) -> None:
    order = paid_order(ShipmentServiceLevelCategory=category)
    assert connector.map_order(build_payload(order, sample_items()))["service_level"] == level


@pytest.mark.parametrize(("channel", "external"), [("AFN", True), ("MFN", False), (None, False)])
def test_fba_orders_are_fulfilled_externally(
    connector: AmazonConnector, channel: str | None, external: bool
) -> None:
    doc = connector.map_order(build_payload(paid_order(FulfillmentChannel=channel), sample_items()))
    assert doc["fulfilled_externally"] is external


@pytest.mark.parametrize(
    ("status", "external", "fulfilment"),
    [
        ("Unshipped", False, None),
        ("PartiallyShipped", False, "partial"),
        ("Shipped", True, "fulfilled"),
        ("InvoiceUnconfirmed", True, "fulfilled"),
    ],
)
def test_seller_orders_shipped_before_omniroute_saw_them_are_not_routed(
    connector: AmazonConnector, status: str, external: bool, fulfilment: str | None
) -> None:
    order = paid_order(FulfillmentChannel="MFN", OrderStatus=status)
    doc = connector.map_order(build_payload(order, sample_items()))
    assert (doc["fulfilled_externally"], doc["channel_fulfilment"]) == (external, fulfilment)


def test_address_lines_phone_company_and_tags(connector: AmazonConnector) -> None:
    order = paid_order(IsPrime=True, IsBusinessOrder=True, OrderType="Preorder")
    order["ShippingAddress"].update(
        {
            "AddressLine2": "Suite 4",
            "AddressLine3": "Building B",
            "CompanyName": "ACME",
            "Phone": "+1 555 0100",
            "CountryCode": "us",
        }
    )
    doc = connector.map_order(build_payload(order, sample_items()))
    assert doc["ship_to"]["address2"] == "Suite 4 Building B"
    assert doc["ship_to"]["company"] == "ACME"
    assert doc["ship_to"]["country"] == "US"
    assert doc["customer"]["phone"] == "+1 555 0100"
    assert doc["tags"] == ["amazon:prime", "amazon:business", "amazon:preorder"]


def test_fetched_address_fills_ship_to_over_what_get_orders_listed(
    connector: AmazonConnector,
) -> None:
    address = address_sample()["payload"]
    address["ShippingAddress"].update({"CompanyName": "ACME", "AddressLine3": "Building B"})
    doc = connector.map_order(build_payload(listed_order(), sample_items(), address=address))
    assert doc["ship_to"] == {
        "name": "Michigan address",
        "company": "ACME",
        "address1": "1 Cross St.",
        "address2": "Apt 2 Building B",
        "city": "Canton",
        "region": "MI",
        "postal_code": "48817",
        "country": "US",
        "phone": "+1 313-555-0142",
    }


def test_district_municipality_and_county_are_kept_where_the_schema_has_room(
    connector: AmazonConnector,
) -> None:
    # Brazil: the bairro is the District and the city may come as Municipality; no state.
    address = {
        "AmazonOrderId": "902-3159896-1390916",
        "ShippingAddress": {
            "Name": "Maria Silva",
            "AddressLine1": "Rua Augusta 100",
            "District": "Consolacao",
            "Municipality": "Sao Paulo",
            "County": "SP",
            "PostalCode": "01304-000",
            "CountryCode": "BR",
        },
    }
    doc = connector.map_order(build_payload(listed_order(), sample_items(), address=address))
    ship_to = doc["ship_to"]
    assert (ship_to["address2"], ship_to["city"], ship_to["region"]) == (
        "Consolacao",
        "Sao Paulo",
        "SP",
    )


def test_without_a_fetched_address_the_listed_one_is_used(connector: AmazonConnector) -> None:
    # Versions stored before addresses were fetched, and orders Amazon ships (AFN).
    doc = connector.map_order(build_payload(listed_order(), sample_items()))
    assert doc["ship_to"]["address1"] is None
    assert (doc["ship_to"]["postal_code"], doc["ship_to"]["country"]) == ("48817", "US")


def test_unit_price_is_null_when_the_line_total_does_not_divide(
    connector: AmazonConnector,
) -> None:
    items = sample_items()
    items[0].update({"QuantityOrdered": 3, "ItemPrice": {"CurrencyCode": "JPY", "Amount": "10.00"}})
    del items[1]["ItemPrice"]
    lines = connector.map_order(build_payload(paid_order(), items))["lines"]
    assert [line["unit_price"] for line in lines] == [None, None]


def test_pending_order_without_prices_takes_the_marketplace_currency(
    connector: AmazonConnector,
) -> None:
    items = [{k: v for k, v in item.items() if "Price" not in k} for item in sample_items()]
    doc = connector.map_order(build_payload(sample_order(), items))
    assert doc["currency"] == MARKETPLACE_CURRENCY[US] == "USD"
    assert doc["financial_status"] == "pending"


def test_order_without_items_fails_validation_with_its_path(connector: AmazonConnector) -> None:
    with pytest.raises(MappingError) as caught:
        connector.map_order(build_payload(paid_order(), []))
    assert (caught.value.path, caught.value.source) == ("lines", "items")


def test_bad_quantity_names_target_and_source(connector: AmazonConnector) -> None:
    items = sample_items()
    items[1]["QuantityOrdered"] = "two"
    with pytest.raises(MappingError) as caught:
        connector.map_order(build_payload(paid_order(), items))
    assert caught.value.path == "lines[1].quantity"
    assert caught.value.source == "items[1].QuantityOrdered"


# --- polling ----------------------------------------------------------------------------------


@respx.mock
def test_pull_skips_the_pending_sample_without_reading_its_items(
    connector: AmazonConnector,
) -> None:
    token_route(respx.mock)
    orders = respx.get(ORDERS).mock(
        side_effect=[
            httpx.Response(200, json=orders_sample()),
            httpx.Response(200, json={"payload": {"Orders": []}}),
        ]
    )
    items = respx.get(url__regex=rf"{ORDERS}/[^/]+/orderItems")
    pulled = testkit.drain(connector, NOW - timedelta(hours=1), now=NOW)
    assert pulled == []
    assert orders.call_count == 2  # the sample's NextToken was followed
    assert not items.called


@respx.mock
def test_pull_pages_orders_and_items(connector: AmazonConnector) -> None:
    token_route(respx.mock)
    first = orders_sample()
    first["payload"]["Orders"] = [paid_order("111-0000001-0000001"), sample_order()]
    second = {"payload": {"Orders": [paid_order("111-0000002-0000002", OrderStatus="Canceled")]}}
    orders = respx.get(ORDERS).mock(
        side_effect=[httpx.Response(200, json=first), httpx.Response(200, json=second)]
    )
    one = respx.get(f"{ORDERS}/111-0000001-0000001/orderItems").mock(
        side_effect=[
            httpx.Response(200, json=items_sample()),  # carries a NextToken
            items_page(
                "111-0000001-0000001",
                [{"ASIN": "B0", "OrderItemId": "3", "SellerSKU": "S3", "QuantityOrdered": 1}],
            ),
        ]
    )
    two = respx.get(f"{ORDERS}/111-0000002-0000002/orderItems").mock(
        return_value=items_page("111-0000002-0000002", sample_items()[:1])
    )
    _, address = address_routes(respx.mock)

    pulled = testkit.drain(connector, datetime(2026, 11, 27, 10, 0, tzinfo=UTC), now=NOW)

    assert [order.external_id for order in pulled] == ["111-0000001-0000001", "111-0000002-0000002"]
    assert pulled[0].updated_at == datetime(2017, 1, 21, 8, 0, tzinfo=UTC)
    assert pulled[0].payload["order"]["AmazonOrderId"] == "111-0000001-0000001"
    assert [item["OrderItemId"] for item in pulled[0].payload["items"]] == [
        "68828574383266",
        "79039765272157",
        "3",
    ]
    first_request, second_request = (call.request for call in orders.calls)
    assert query(first_request) == {
        "MarketplaceIds": [US],
        "LastUpdatedAfter": ["2026-11-27T10:00:00Z"],
        "MaxResultsPerPage": ["100"],
    }
    # With NextToken the other criteria are not sent; MarketplaceIds is required on every call.
    assert query(second_request) == {
        "MarketplaceIds": [US],
        "NextToken": ["2YgYW55IGNhcm5hbCBwbGVhc3VyZS4"],
    }
    assert query(one.calls[0].request) == {}
    assert query(one.calls[1].request) == {"NextToken": ["2YgYW55IGNhcm5hbCBwbGVhc3VyZS4"]}
    assert two.call_count == 1
    # The shipping address of the paid MFN order, none for the cancelled one.
    assert [call.request.url.path for call in address.calls] == [
        "/orders/v0/orders/111-0000001-0000001/address"
    ]
    assert pulled[0].payload["address"] == address_sample("111-0000001-0000001")["payload"]
    assert "address" not in pulled[1].payload
    for call in respx.calls:
        if call.request.url.host == "sellingpartnerapi-na.amazon.com":
            expected = "Atz.sprdt|rdt-1" if call.request.url.path.endswith("/address") else None
            assert call.request.headers["x-amz-access-token"] == (expected or "Atza|access-1")
            assert "authorization" not in call.request.headers  # LWA only, no SigV4
    for order in pulled:
        testkit.check_maps_to_canonical(connector, order.payload)
    assert connector.map_order(pulled[1].payload)["cancelled"] is True
    json.dumps(pulled[0].payload)  # stored as JSON in the inbox


@respx.mock
def test_last_updated_after_stays_two_minutes_behind_now(connector: AmazonConnector) -> None:
    token_route(respx.mock)
    route = respx.get(ORDERS).respond(200, json={"payload": {"Orders": []}})
    page = connector.pull_orders(NOW - timedelta(seconds=30), None, now=NOW)
    assert page.orders == () and page.next_page_token is None
    assert query(route.calls.last.request)["LastUpdatedAfter"] == ["2026-11-27T11:58:00Z"]
    assert "LastUpdatedBefore" not in query(route.calls.last.request)


@respx.mock
def test_several_marketplaces_and_a_smaller_page(sleep: FakeSleep) -> None:
    token_route(respx.mock)
    route = respx.get(ORDERS).respond(200, json={"payload": {"Orders": []}})
    conn = make_connector(sleep, marketplace_ids=[US, "A2EUQ1WTGCTBG"], page_size=25)
    conn.pull_orders(datetime(2026, 1, 1, 9, 0, tzinfo=timezone(timedelta(hours=2))), None, now=NOW)
    sent = query(route.calls.last.request)
    assert sent["MarketplaceIds"] == [f"{US},A2EUQ1WTGCTBG"]
    assert sent["MaxResultsPerPage"] == ["25"]
    assert sent["LastUpdatedAfter"] == ["2026-01-01T07:00:00Z"]


@pytest.mark.parametrize(
    "body",
    [
        {"payload": {"NextToken": "x"}},
        {"errors": []},
    ],
)
@respx.mock
def test_malformed_orders_answers_are_payload_errors(
    connector: AmazonConnector, body: dict[str, Any]
) -> None:
    token_route(respx.mock)
    respx.get(ORDERS).respond(200, json=body)
    with pytest.raises(PayloadError):
        connector.pull_orders(NOW - timedelta(hours=1), None, now=NOW)


@pytest.mark.parametrize(
    "record",
    [
        "not an order",
        {"OrderStatus": "Unshipped"},
        {"AmazonOrderId": "1", "OrderStatus": "Shipped", "LastUpdateDate": "yesterday"},
    ],
)
@respx.mock
def test_malformed_order_records_are_rejected_alone(
    connector: AmazonConnector, record: Any
) -> None:
    token_route(respx.mock)
    respx.get(ORDERS).respond(200, json={"payload": {"Orders": [record]}})
    page = connector.pull_orders(NOW - timedelta(hours=1), None, now=NOW)
    assert page.orders == ()
    ((rejected),) = page.rejected
    assert rejected.raw == record


@respx.mock
def test_fetch_order_reads_order_and_items(connector: AmazonConnector) -> None:
    token_route(respx.mock)
    respx.get(f"{ORDERS}/902-3159896-1390916").respond(200, json={"payload": paid_order()})
    respx.get(f"{ORDERS}/902-3159896-1390916/orderItems").mock(
        return_value=items_page("902-3159896-1390916", sample_items())
    )
    address_routes(respx.mock)
    fetched = connector.fetch_order("902-3159896-1390916")
    assert fetched.external_id == "902-3159896-1390916"
    assert fetched.payload == build_payload(
        paid_order(), sample_items(), address=address_sample()["payload"]
    )
    testkit.check_maps_to_canonical(connector, fetched.payload)


# --- shipping addresses: getOrderAddress with a Restricted Data Token --------------------------


def pull(connector: AmazonConnector) -> Any:
    return connector.pull_orders(NOW - timedelta(hours=1), None, now=NOW)


def one_listed_order(mock: respx.MockRouter, order: dict[str, Any] | None = None) -> str:
    """getOrders listing one paid MFN order (as listed without PII), and its items."""
    order = order or listed_order()
    order_id = order["AmazonOrderId"]
    mock.get(ORDERS).respond(200, json={"payload": {"Orders": [order]}})
    mock.get(f"{ORDERS}/{order_id}/orderItems").mock(
        return_value=items_page(order_id, sample_items())
    )
    return str(order_id)


@respx.mock
def test_mfn_order_gets_its_shipping_address_with_a_restricted_data_token(
    connector: AmazonConnector,
) -> None:
    tokens = token_route(respx.mock)
    one_listed_order(respx.mock)
    rdt, address = address_routes(respx.mock)

    page = pull(connector)

    # The RDT is asked for with the LWA token, for the generic path (any order's address);
    # getOrderAddress takes no dataElements (only getOrder, getOrders, getOrderItems do).
    assert (tokens.call_count, rdt.call_count, address.call_count) == (1, 1, 1)
    sent = rdt.calls.last.request
    assert json.loads(sent.content) == {"restrictedResources": [ADDRESS_RESOURCE]}
    assert sent.headers["x-amz-access-token"] == "Atza|access-1"
    assert sent.headers["content-type"] == "application/json"
    asked = address.calls.last.request
    assert asked.url.path == "/orders/v0/orders/902-3159896-1390916/address"
    assert asked.headers["x-amz-access-token"] == "Atz.sprdt|rdt-1"  # the RDT, not the LWA token
    (pulled,) = page.orders
    assert pulled.payload == build_payload(
        listed_order(), sample_items(), address=address_sample()["payload"]
    )
    doc = testkit.check_maps_to_canonical(connector, pulled.payload)
    assert doc["ship_to"] == {
        "name": "Michigan address",
        "company": None,
        "address1": "1 Cross St.",
        "address2": "Apt 2",
        "city": "Canton",
        "region": "MI",
        "postal_code": "48817",
        "country": "US",
        "phone": "+1 313-555-0142",
    }
    # Phone comes with the address; BuyerName/BuyerEmail only where getOrders gave them
    # (getOrderBuyerInfo needs tax roles this connector does not ask for).
    assert doc["customer"] == {
        "email": "user@example.com",
        "name": "John Doe",
        "phone": "+1 313-555-0142",
    }
    json.dumps(pulled.payload)  # stored as JSON in the inbox


@respx.mock
def test_one_restricted_data_token_serves_every_address_until_it_nears_expiry(
    connector: AmazonConnector, clock: FakeClock
) -> None:
    tokens = token_route(respx.mock, "Atza|one", "Atza|two")
    orders = [listed_order(f"111-000000{n}-000000{n}") for n in range(1, 4)]
    respx.get(ORDERS).respond(200, json={"payload": {"Orders": orders}})
    respx.get(url__regex=rf"{ORDERS}/(?P<order_id>[^/]+)/orderItems").mock(
        side_effect=lambda request, order_id: items_page(order_id, sample_items())
    )
    rdt = rdt_route(respx.mock, "Atz.sprdt|one", "Atz.sprdt|two", expires_in=3600)
    address = address_route(respx.mock)

    pull(connector)
    clock.now += 3600 - 61
    pull(connector)
    assert (tokens.call_count, rdt.call_count, address.call_count) == (1, 1, 6)
    clock.now += 2  # inside the last minute of the RDT's hour: a new one
    pull(connector)
    assert rdt.call_count == 2 and tokens.call_count == 2  # the LWA token's hour was up too
    assert [c.request.headers["x-amz-access-token"] for c in address.calls][-4:] == [
        "Atz.sprdt|one",
        "Atz.sprdt|two",
        "Atz.sprdt|two",
        "Atz.sprdt|two",
    ]


@pytest.mark.parametrize(
    "changes",
    [
        {"FulfillmentChannel": "AFN"},  # Amazon ships it: recorded, never routed
        {"OrderStatus": "Canceled"},
        {"FulfillmentChannel": "AFN", "OrderStatus": "Shipped"},
    ],
)
@respx.mock
def test_orders_we_do_not_ship_cost_no_address_call(
    connector: AmazonConnector, changes: dict[str, Any]
) -> None:
    token_route(respx.mock)
    one_listed_order(respx.mock, listed_order(**changes))
    rdt, address = address_routes(respx.mock)
    (pulled,) = pull(connector).orders
    assert not rdt.called and not address.called
    assert "address" not in pulled.payload and "address_error" not in pulled.payload
    testkit.check_maps_to_canonical(connector, pulled.payload)


@pytest.mark.parametrize(
    "status", ["Unshipped", "PartiallyShipped", "Shipped", "InvoiceUnconfirmed"]
)
@respx.mock
def test_every_status_with_an_address_gets_it(connector: AmazonConnector, status: str) -> None:
    token_route(respx.mock)
    one_listed_order(respx.mock, listed_order(OrderStatus=status))
    _, address = address_routes(respx.mock)
    (pulled,) = pull(connector).orders
    assert address.call_count == 1 and "address" in pulled.payload


@respx.mock
def test_address_429_and_5xx_are_retried(connector: AmazonConnector) -> None:
    token_route(respx.mock)
    one_listed_order(respx.mock)
    rdt_route(respx.mock)
    address = respx.get(url__regex=ADDRESS_URL).mock(
        side_effect=[
            testkit.server_error(503),
            httpx.Response(200, json=address_sample()),
        ]
    )
    page = testkit.check_retries_then_succeeds(lambda: pull(connector), address, calls=2)
    assert page.orders[0].payload["address"]["ShippingAddress"]["AddressLine1"] == "1 Cross St."


@respx.mock
def test_address_throttled_longer_than_a_retry_reschedules_the_page(
    connector: AmazonConnector, clock: FakeClock
) -> None:
    token_route(respx.mock)
    one_listed_order(respx.mock)
    rdt_route(respx.mock)
    address = respx.get(url__regex=ADDRESS_URL).mock(
        side_effect=[testkit.too_many(5), httpx.Response(200, json=address_sample())]
    )
    with pytest.raises(TransientError) as caught:
        pull(connector)
    # Retry-After plus one getOrderAddress token (0.5/s): handed back, the page read again.
    assert caught.value.reason == "http_429"
    assert caught.value.retry_after == pytest.approx(5 + 1 / 0.5)
    assert address.call_count == 1
    clock.now += caught.value.retry_after or 0
    assert pull(connector).orders[0].payload["address"] == address_sample()["payload"]


@pytest.mark.parametrize(
    ("answer", "reason", "words"),
    [
        (
            httpx.Response(404, json={"errors": [{"code": "NotFound", "message": "Not found"}]}),
            "http_404",
            "NotFound: Not found",
        ),
        (
            httpx.Response(400, json={"errors": [{"code": "InvalidInput", "message": "Bad id"}]}),
            "http_400",
            "InvalidInput: Bad id",
        ),
        (httpx.Response(200, json={"errors": []}), "invalid_payload", "payload"),
        (
            httpx.Response(200, json={"payload": {"AmazonOrderId": "902-3159896-1390916"}}),
            "address_missing",
            "no ShippingAddress",
        ),
        (
            httpx.Response(
                200,
                json={
                    "payload": {
                        "AmazonOrderId": "902-3159896-1390916",
                        "ShippingAddress": {
                            "City": "Canton",
                            "StateOrRegion": "MI",
                            "PostalCode": "48817",
                            "CountryCode": "US",
                        },
                    }
                },
            ),
            "address_incomplete",
            "no street",
        ),
        (httpx.Response(200, json=address_sample("111-9999999-9999999")), "invalid_payload", "111"),
    ],
)
@respx.mock
def test_an_address_amazon_will_not_give_keeps_the_order_with_the_reason(
    connector: AmazonConnector, answer: httpx.Response, reason: str, words: str
) -> None:
    token_route(respx.mock)
    one_listed_order(respx.mock)
    rdt_route(respx.mock)
    address = respx.get(url__regex=ADDRESS_URL).mock(return_value=answer)

    (pulled,) = pull(connector).orders  # the other orders of the poll are not held up

    assert address.call_count == 1  # a refusal for good is not retried
    problem = pulled.payload["address_error"]
    assert problem["reason"] == reason and words in problem["message"]
    assert "address" not in pulled.payload
    # Mapping it fails with the reason: the inbox row is kept as an invalid_payload exception.
    with pytest.raises(PayloadError) as caught:
        connector.map_order(pulled.payload)
    assert caught.value.reason == "address_unavailable"
    assert "902-3159896-1390916" in str(caught.value) and reason in str(caught.value)
    assert (getattr(caught.value, "path", None), getattr(caught.value, "source", None)) == (
        "ship_to",
        "address_error",
    )


ACCESS_DENIED = {
    "errors": [
        {
            "code": "Unauthorized",
            "message": "Access to requested resource is denied.",
            "details": "",
        }
    ]
}
TOKEN_REFUSED = {
    "errors": [
        {
            "code": "Unauthorized",
            "message": "Access to requested resource is denied.",
            "details": "The access token you provided is revoked, malformed or invalid.",
        }
    ]
}


@respx.mock
def test_a_missing_role_on_the_tokens_api_fails_the_poll_and_says_which_role(
    connector: AmazonConnector,
) -> None:
    token_route(respx.mock)
    one_listed_order(respx.mock)
    rdt = respx.post(RDT_URL).respond(403, json=ACCESS_DENIED)
    address = respx.get(url__regex=ADDRESS_URL)
    error = testkit.check_permanent_error(lambda: pull(connector), rdt)
    # Not one order's problem: every MFN order would fail alike. Nothing of the page is
    # stored, so once the role is granted the next poll reads them all again.
    assert error.reason == "rdt_refused"
    assert "Direct-to-Consumer Shipping" in str(error) and "http_403" in str(error)
    assert not address.called


@respx.mock
def test_access_denied_on_get_order_address_fails_the_poll(connector: AmazonConnector) -> None:
    token_route(respx.mock)
    one_listed_order(respx.mock)
    rdt = rdt_route(respx.mock)
    address = respx.get(url__regex=ADDRESS_URL).respond(403, json=ACCESS_DENIED)
    error = testkit.check_permanent_error(lambda: pull(connector), address)
    assert error.reason == "http_403"
    assert "Direct-to-Consumer Shipping" in str(error)
    assert rdt.call_count == 1


@respx.mock
def test_a_refused_restricted_data_token_is_replaced_once(connector: AmazonConnector) -> None:
    tokens = token_route(respx.mock)
    one_listed_order(respx.mock)
    rdt = rdt_route(respx.mock, "Atz.sprdt|stale", "Atz.sprdt|fresh")
    address = respx.get(url__regex=ADDRESS_URL).mock(
        side_effect=[
            httpx.Response(403, json=TOKEN_REFUSED),
            httpx.Response(200, json=address_sample()),
        ]
    )
    (pulled,) = pull(connector).orders
    assert "address" in pulled.payload
    assert [c.request.headers["x-amz-access-token"] for c in address.calls] == [
        "Atz.sprdt|stale",
        "Atz.sprdt|fresh",
    ]
    assert (tokens.call_count, rdt.call_count) == (1, 2)  # the LWA token was fine


@respx.mock
def test_a_restricted_data_token_refused_twice_fails_the_poll(connector: AmazonConnector) -> None:
    token_route(respx.mock)
    one_listed_order(respx.mock)
    rdt_route(respx.mock, "Atz.sprdt|a", "Atz.sprdt|b")
    address = respx.get(url__regex=ADDRESS_URL).respond(403, json=TOKEN_REFUSED)
    with pytest.raises(PermanentError) as caught:
        pull(connector)
    assert caught.value.reason == "rdt_refused"
    assert "Direct-to-Consumer Shipping" in str(caught.value)
    assert address.call_count == 2


@respx.mock
def test_an_lwa_token_refused_by_the_tokens_api_is_not_blamed_on_the_role(
    connector: AmazonConnector,
) -> None:
    tokens = token_route(respx.mock, "Atza|a", "Atza|b")
    one_listed_order(respx.mock)
    rdt = respx.post(RDT_URL).respond(403, json=TOKEN_REFUSED)
    with pytest.raises(PermanentError) as caught:
        pull(connector)
    assert caught.value.reason == "access_token_refused"
    assert "re-authorise" in str(caught.value)
    assert "Direct-to-Consumer" not in str(caught.value)
    assert (tokens.call_count, rdt.call_count) == (2, 2)


@respx.mock
def test_tokens_api_429_and_5xx_are_retried(connector: AmazonConnector) -> None:
    token_route(respx.mock)
    one_listed_order(respx.mock)
    rdt = respx.post(RDT_URL).mock(
        side_effect=[
            testkit.server_error(500),
            httpx.Response(200, json={"restrictedDataToken": "Atz.sprdt|x", "expiresIn": 3600}),
        ]
    )
    address_route(respx.mock)
    page = testkit.check_retries_then_succeeds(lambda: pull(connector), rdt, calls=2)
    assert "address" in page.orders[0].payload


@respx.mock
def test_tokens_api_answer_without_a_token_is_transient(connector: AmazonConnector) -> None:
    token_route(respx.mock)
    one_listed_order(respx.mock)
    respx.post(RDT_URL).respond(200, json={"expiresIn": 3600})
    address = address_route(respx.mock)
    with pytest.raises(TransientError):
        pull(connector)
    assert not address.called


@respx.mock
def test_concurrent_polls_share_one_access_token_and_one_rdt(connector: AmazonConnector) -> None:
    entered = threading.Event()
    release = threading.Event()

    def slow_token(request: httpx.Request) -> httpx.Response:
        entered.set()
        release.wait(5)  # the other threads pile up behind this fetch meanwhile
        return httpx.Response(200, json={"access_token": "Atza|shared", "expires_in": 30})

    tokens = respx.post(TOKEN_URL).mock(side_effect=slow_token)
    one_listed_order(respx.mock)
    rdt = respx.post(RDT_URL).mock(
        side_effect=lambda request: httpx.Response(
            200, json={"restrictedDataToken": "Atz.sprdt|shared", "expiresIn": 3600}
        )
    )
    address = address_route(respx.mock)
    pulled: list[Any] = []
    threads = [threading.Thread(target=lambda: pulled.append(pull(connector))) for _ in range(6)]
    for thread in threads:
        thread.start()
    assert entered.wait(5)
    threading.Event().wait(0.2)  # let the others reach the token cache
    release.set()
    for thread in threads:
        thread.join(10)
    assert len(pulled) == 6
    assert (tokens.call_count, rdt.call_count, address.call_count) == (1, 1, 6)


@respx.mock
def test_address_calls_are_paced_by_their_own_bucket(sleep: FakeSleep) -> None:
    token_route(respx.mock)
    orders = [listed_order(f"111-000000{n}-000000{n}") for n in range(1, 4)]
    respx.get(ORDERS).respond(200, json={"payload": {"Orders": orders}})
    respx.get(url__regex=rf"{ORDERS}/(?P<order_id>[^/]+)/orderItems").mock(
        side_effect=lambda request, order_id: items_page(order_id, sample_items())
    )
    address_routes(respx.mock)
    conn = make_connector(sleep, rate_limits={"get_order_address": {"rate": 0.5, "burst": 1}})
    conn.pull_orders(NOW - timedelta(hours=1), None, now=NOW)
    bucket = conn.rate_limits["get_order_address"]
    assert bucket.waits == 2  # a burst of one: the 2nd and 3rd each waited for a token
    # The fake clock stands still while FakeSleep "sleeps": the 3rd waits for the token after
    # the one the 2nd took, 2 s apart at 0.5/s.
    assert sleep.calls == [pytest.approx(2.0), pytest.approx(4.0)]
    assert conn.rate_limits["get_order_items"].waits == 0


# --- Login with Amazon ------------------------------------------------------------------------


@respx.mock
def test_token_request_and_cache(connector: AmazonConnector, clock: FakeClock) -> None:
    tokens = token_route(respx.mock, "Atza|one", "Atza|two", expires_in=3600)
    orders = respx.get(ORDERS).respond(200, json={"payload": {"Orders": []}})
    for _ in range(3):
        connector.pull_orders(NOW - timedelta(hours=1), None, now=NOW)
    assert tokens.call_count == 1
    form = parse_qs(tokens.calls.last.request.content.decode())
    assert form == {
        "grant_type": ["refresh_token"],
        "refresh_token": [SECRETS["refresh_token"]],
        "client_id": [SECRETS["lwa_client_id"]],
        "client_secret": [SECRETS["lwa_client_secret"]],
    }
    assert tokens.calls.last.request.headers["content-type"] == "application/x-www-form-urlencoded"

    clock.now += 3600 - 61  # still a minute of life left: reused
    connector.pull_orders(NOW - timedelta(hours=1), None, now=NOW)
    assert tokens.call_count == 1
    clock.now += 2  # within the renewal margin: a new one
    connector.pull_orders(NOW - timedelta(hours=1), None, now=NOW)
    assert tokens.call_count == 2
    assert orders.calls.last.request.headers["x-amz-access-token"] == "Atza|two"


@respx.mock
def test_a_short_lived_token_is_reused_until_a_tenth_of_its_life_is_left(
    connector: AmazonConnector, clock: FakeClock
) -> None:
    # Seen on real traffic: a token living under a minute was fetched again before every call
    # (318 token requests for 318 API calls), because the renewal margin was a flat 60 s.
    tokens = token_route(respx.mock, "Atza|one", "Atza|two", expires_in=30)
    orders = respx.get(ORDERS).respond(200, json={"payload": {"Orders": []}})
    start = clock.now
    for offset in (0.0, 5.0, 13.0, 20.0, 26.9):
        clock.now = start + offset
        connector.pull_orders(NOW - timedelta(hours=1), None, now=NOW)
    assert (tokens.call_count, orders.call_count) == (1, 5)
    clock.now = start + 27.0  # 3 s (10 % of 30 s) before it expires: renewed
    connector.pull_orders(NOW - timedelta(hours=1), None, now=NOW)
    assert tokens.call_count == 2
    assert orders.calls.last.request.headers["x-amz-access-token"] == "Atza|two"


@pytest.mark.parametrize(
    ("lifetime", "reused_until"),
    [(3600.0, 3540.0), (600.0, 540.0), (300.0, 270.0), (30.0, 27.0), (1.0, 0.9)],
)
def test_token_cache_renews_a_tenth_of_the_lifetime_early_at_most_a_minute(
    lifetime: float, reused_until: float
) -> None:
    clock = FakeClock()
    issued = iter(["a", "b"])
    cache = AccessTokenCache(lambda: (next(issued), lifetime), clock=clock)
    start = clock.now
    assert cache.get() == "a"
    clock.now = start + reused_until - 0.001
    assert cache.get() == "a"
    clock.now = start + reused_until
    assert cache.get() == "b"
    assert cache.fetches == 2


@respx.mock
def test_expired_token_is_refreshed_once_and_the_call_retried(connector: AmazonConnector) -> None:
    tokens = token_route(respx.mock, "Atza|stale", "Atza|fresh")
    expired = httpx.Response(
        403,
        json={
            "errors": [
                {
                    "code": "Unauthorized",
                    "message": "Access to requested resource is denied.",
                    "details": "The access token you provided has expired.",
                }
            ]
        },
    )
    orders = respx.get(ORDERS).mock(
        side_effect=[expired, httpx.Response(200, json={"payload": {"Orders": []}})]
    )
    connector.pull_orders(NOW - timedelta(hours=1), None, now=NOW)
    assert tokens.call_count == 2
    assert [c.request.headers["x-amz-access-token"] for c in orders.calls] == [
        "Atza|stale",
        "Atza|fresh",
    ]


@respx.mock
def test_token_refused_twice_is_permanent(connector: AmazonConnector) -> None:
    token_route(respx.mock, "Atza|a", "Atza|b")
    refused = {
        "errors": [
            {
                "code": "Unauthorized",
                "message": "Access to requested resource is denied.",
                "details": "The access token you provided is revoked, malformed or invalid.",
            }
        ]
    }
    orders = respx.get(ORDERS).respond(403, json=refused)
    with pytest.raises(PermanentError, match="re-authorise"):
        connector.pull_orders(NOW - timedelta(hours=1), None, now=NOW)
    assert orders.call_count == 2


@respx.mock
def test_access_denied_without_token_problem_is_permanent_and_not_refreshed(
    connector: AmazonConnector,
) -> None:
    tokens = token_route(respx.mock)
    denied = {
        "errors": [
            {
                "code": "Unauthorized",
                "message": "Access to requested resource is denied.",
                "details": "",
            }
        ]
    }
    route = respx.get(ORDERS).respond(403, json=denied)
    error = testkit.check_permanent_error(
        lambda: connector.pull_orders(NOW - timedelta(hours=1), None, now=NOW), route
    )
    assert error.reason == "http_403"
    assert "role" in str(error)
    assert tokens.call_count == 1


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (
            400,
            {
                "error": "invalid_grant",
                "error_description": "The request has an invalid grant parameter",
            },
            "lwa_invalid_grant",
        ),
        (
            401,
            {"error": "invalid_client", "error_description": "Client authentication failed"},
            "lwa_invalid_client",
        ),
    ],
)
@respx.mock
def test_lwa_refusals_are_permanent_and_never_echo_secrets(
    connector: AmazonConnector, status: int, body: dict[str, Any], reason: str
) -> None:
    tokens = respx.post(TOKEN_URL).respond(status, json=body)
    orders = respx.get(ORDERS)
    with pytest.raises(PermanentError) as caught:
        connector.pull_orders(NOW - timedelta(hours=1), None, now=NOW)
    assert caught.value.reason == reason
    assert tokens.call_count == 1
    assert not orders.called
    for secret in SECRETS.values():
        assert secret not in str(caught.value)


@respx.mock
def test_lwa_outage_is_retried(connector: AmazonConnector) -> None:
    tokens = respx.post(TOKEN_URL).mock(
        side_effect=[
            testkit.server_error(503),
            httpx.Response(200, json={"access_token": "Atza|x", "expires_in": 3600}),
        ]
    )
    respx.get(ORDERS).respond(200, json={"payload": {"Orders": []}})
    connector.pull_orders(NOW - timedelta(hours=1), None, now=NOW)
    assert tokens.call_count == 2


@respx.mock
def test_lwa_answer_without_token_is_transient(connector: AmazonConnector) -> None:
    respx.post(TOKEN_URL).respond(200, json={"token_type": "bearer"})
    with pytest.raises(TransientError):
        connector.pull_orders(NOW - timedelta(hours=1), None, now=NOW)


def test_token_cache_invalidate_only_forgets_the_refused_token() -> None:
    issued = iter(["a", "b", "c"])
    cache = AccessTokenCache(lambda: (next(issued), 3600.0), clock=FakeClock())
    assert cache.get() == "a"
    cache.invalidate("zzz")  # another thread's stale token: keep ours
    assert cache.get() == "a"
    cache.invalidate("a")
    assert cache.get() == "b"
    assert cache.fetches == 2


def test_token_cache_fetches_once_for_concurrent_callers() -> None:
    started = threading.Event()
    release = threading.Event()
    fetched: list[int] = []

    def fetch() -> tuple[str, float]:
        fetched.append(1)
        started.set()
        release.wait(5)
        return "Atza|shared", 3600.0

    cache = AccessTokenCache(fetch, clock=FakeClock())
    seen: list[str] = []
    threads = [threading.Thread(target=lambda: seen.append(cache.get())) for _ in range(8)]
    for thread in threads:
        thread.start()
    started.wait(5)
    release.set()
    for thread in threads:
        thread.join(5)
    assert seen == ["Atza|shared"] * 8
    assert len(fetched) == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["25.99", 1], "25.99"),
        (["17.95", 2], "8.975"),
        (["10.00", 4], "2.50"),
        (["10.00", 3], None),
        (["0.00", 2], "0.00"),
        (["5.00", 0], None),
        ([None, 2], None),
        (["5.00", None], None),
        (None, None),
    ],
)
def test_per_unit_transform(value: Any, expected: str | None) -> None:
    assert TRANSFORMS["per_unit"](value) == expected


@pytest.mark.parametrize("value", ["17.95", ["17.95"], ["x", 1], ["1.00", "two"]])
def test_per_unit_transform_rejects_bad_input(value: Any) -> None:
    with pytest.raises(TransformError):
        TRANSFORMS["per_unit"](value)


# --- rate limits and retries ------------------------------------------------------------------


def test_one_bucket_per_operation_with_the_published_plans(connector: AmazonConnector) -> None:
    buckets = connector.rate_limits
    assert set(buckets) == {
        "get_orders",
        "get_order",
        "get_order_items",
        "confirm_shipment",
        "patch_listings_item",
        "get_order_address",
        "create_restricted_data_token",
    }
    assert (buckets["get_orders"].rate, buckets["get_orders"].burst) == (0.0167, 20)
    assert (buckets["get_order_address"].rate, buckets["get_order_address"].burst) == (0.5, 30)
    assert (buckets["get_order_items"].rate, buckets["get_order_items"].burst) == (0.5, 30)


@respx.mock
def test_429_with_retry_after_then_success(
    connector: AmazonConnector, sleep: FakeSleep, clock: FakeClock
) -> None:
    token_route(respx.mock)
    route = respx.get(ORDERS).mock(
        side_effect=[
            testkit.too_many(
                0,
                json={
                    "errors": [
                        {
                            "code": "QuotaExceeded",
                            "message": "You exceeded your quota for the requested resource.",
                        }
                    ]
                },
            ),
            httpx.Response(200, json={"payload": {"Orders": []}}),
        ]
    )

    def poll() -> Any:
        # What the core does with the TransientError: run the poll again after retry_after.
        try:
            return connector.pull_orders(NOW - timedelta(hours=1), None, now=NOW)
        except TransientError as exc:
            clock.now += exc.retry_after or 0
            raise

    page = testkit.check_retries_then_succeeds(poll, route, calls=2)
    assert page.orders == ()


@respx.mock
def test_429_empties_the_bucket_and_hands_back_the_wait(
    connector: AmazonConnector, sleep: FakeSleep, clock: FakeClock
) -> None:
    token_route(respx.mock)
    route = respx.get(ORDERS).mock(
        side_effect=[testkit.too_many(0.5), httpx.Response(200, json={"payload": {"Orders": []}})]
    )
    with pytest.raises(TransientError) as caught:
        connector.pull_orders(NOW - timedelta(hours=1), None, now=NOW)
    # Retry-After, then a whole token of getOrders (one a minute): too long to sleep here.
    assert caught.value.retry_after == pytest.approx(0.5 + 1 / 0.0167)
    assert route.call_count == 1
    bucket = connector.rate_limits["get_orders"]
    # Asked again before that, the bucket refuses rather than hold the thread for a minute.
    with pytest.raises(TransientError):
        connector.pull_orders(NOW - timedelta(hours=1), None, now=NOW)
    assert route.call_count == 1 and sleep.calls == []
    clock.now += caught.value.retry_after or 0  # the core reschedules the poll that far ahead
    connector.pull_orders(NOW - timedelta(hours=1), None, now=NOW)  # the rescheduled run
    assert route.call_count == 2 and bucket.waits == 0


@respx.mock
def test_items_429_is_retried_in_place_when_the_wait_is_short(sleep: FakeSleep) -> None:
    token_route(respx.mock)
    respx.get(ORDERS).respond(200, json={"payload": {"Orders": [paid_order()]}})
    items = respx.get(f"{ORDERS}/902-3159896-1390916/orderItems").mock(
        side_effect=[testkit.too_many(0), items_page("902-3159896-1390916", sample_items())]
    )
    address_routes(respx.mock)
    conn = make_connector(sleep, runtime=ConnectorRuntime(retry_attempts=3, retry_max_wait=5))
    page = conn.pull_orders(NOW - timedelta(hours=1), None, now=NOW)
    assert len(page.orders) == 1 and items.call_count == 2
    # tenacity waited the 2 s hint; the bucket then had its token just in time (fake clock).
    assert sleep.calls[0] == pytest.approx(2.0)


@respx.mock
def test_429_without_retry_after_waits_for_the_next_token(connector: AmazonConnector) -> None:
    token_route(respx.mock)
    route = respx.get(ORDERS).respond(
        429, json={"errors": [{"code": "QuotaExceeded", "message": "You exceeded your quota"}]}
    )
    with pytest.raises(TransientError) as caught:
        connector.pull_orders(NOW - timedelta(hours=1), None, now=NOW)
    # getOrders refills one token a minute: longer than retry_max_wait, so hand it back.
    assert caught.value.retry_after == pytest.approx(1 / 0.0167)
    assert caught.value.reason == "http_429"
    assert "QuotaExceeded" in str(caught.value)
    assert route.call_count == 1


@respx.mock
def test_5xx_then_success(connector: AmazonConnector) -> None:
    token_route(respx.mock)
    route = respx.get(ORDERS).mock(
        side_effect=[
            testkit.server_error(503),
            httpx.Response(200, json={"payload": {"Orders": []}}),
        ]
    )
    testkit.check_retries_then_succeeds(
        lambda: connector.pull_orders(NOW - timedelta(hours=1), None, now=NOW), route, calls=2
    )


@respx.mock
def test_items_429_then_success(connector: AmazonConnector) -> None:
    token_route(respx.mock)
    respx.get(ORDERS).respond(200, json={"payload": {"Orders": [paid_order()]}})
    items = respx.get(f"{ORDERS}/902-3159896-1390916/orderItems").mock(
        side_effect=[testkit.too_many(0), items_page("902-3159896-1390916", sample_items())]
    )
    address_routes(respx.mock)
    page = testkit.check_retries_then_succeeds(
        lambda: connector.pull_orders(NOW - timedelta(hours=1), None, now=NOW), items, calls=2
    )
    assert len(page.orders[0].payload["items"]) == 2


@respx.mock
def test_invalid_input_is_permanent(connector: AmazonConnector) -> None:
    token_route(respx.mock)
    route = respx.get(ORDERS).respond(
        400, json={"errors": [{"code": "InvalidInput", "message": "Invalid Input"}]}
    )
    error = testkit.check_permanent_error(
        lambda: connector.pull_orders(NOW - timedelta(hours=1), None, now=NOW), route
    )
    assert error.reason == "http_400"
    assert "InvalidInput: Invalid Input" in str(error)


@respx.mock
def test_rate_limit_header_adjusts_the_bucket(connector: AmazonConnector) -> None:
    token_route(respx.mock)
    respx.get(ORDERS).respond(
        200, json={"payload": {"Orders": []}}, headers={"x-amzn-RateLimit-Limit": "0.0833"}
    )
    connector.pull_orders(NOW - timedelta(hours=1), None, now=NOW)
    assert connector.rate_limits["get_orders"].rate == pytest.approx(0.0833)


@respx.mock
def test_configured_rates_are_used(sleep: FakeSleep) -> None:
    token_route(respx.mock)
    respx.get(ORDERS).respond(200, json={"payload": {"Orders": []}})
    conn = make_connector(sleep, rate_limits={"get_orders": {"rate": 1, "burst": 1}})
    conn.pull_orders(NOW - timedelta(hours=1), None, now=NOW)
    conn.pull_orders(NOW - timedelta(hours=1), None, now=NOW)
    assert conn.rate_limits["get_orders"].waits == 1
    assert sleep.calls == [pytest.approx(1.0)]


# --- SSRF guard -------------------------------------------------------------------------------


@respx.mock
def test_private_api_host_is_refused_before_any_request() -> None:
    tokens = respx.post(TOKEN_URL)
    conn = make_connector(api_base_url="https://spapi.internal")
    with pytest.raises(UnsafeUrlError):
        conn.pull_orders(NOW - timedelta(hours=1), None, now=NOW)
    assert not tokens.called


@respx.mock
def test_local_fake_is_allowed_in_dev_mode() -> None:
    base = "http://127.0.0.1:8123"
    respx.post(f"{base}/token").respond(200, json={"access_token": "t", "expires_in": 60})
    route = respx.get(f"{base}/orders/v0/orders").respond(200, json={"payload": {"Orders": []}})
    conn = make_connector(
        runtime=ConnectorRuntime(allow_private_urls=True, retry_max_wait=0.01),
        api_base_url=base,
        token_url=f"{base}/token",
    )
    conn.pull_orders(NOW - timedelta(hours=1), None, now=NOW)
    assert route.called
    conn.close()


@respx.mock
def test_clients_are_reused_and_reopened_after_close(connector: AmazonConnector) -> None:
    token_route(respx.mock, "Atza|1")
    respx.get(ORDERS).respond(200, json={"payload": {"Orders": []}})
    connector.pull_orders(NOW - timedelta(hours=1), None, now=NOW)
    first = list(connector._http)
    connector.pull_orders(NOW - timedelta(hours=1), None, now=NOW)
    assert connector._http == first
    connector.close()
    assert all(client.is_closed for client in first)
    connector.pull_orders(NOW - timedelta(hours=1), None, now=NOW)
    assert connector._http and connector._http != first
    connector.close()


# --- shipment confirmation --------------------------------------------------------------------


@respx.mock
def test_push_fulfilment_confirms_the_shipment(connector: AmazonConnector) -> None:
    token_route(respx.mock)
    route = respx.post(f"{ORDERS}/902-3159896-1390916/shipmentConfirmation").respond(204)
    receipt = connector.push_fulfilment(notice())
    assert (receipt.external_ref, receipt.attempts) == ("4711", 1)
    sent = route.calls.last.request
    assert sent.headers["x-amz-access-token"] == "Atza|access-1"
    assert json.loads(sent.content) == {
        "marketplaceId": US,
        "packageDetail": {
            "packageReferenceId": "4711",
            "carrierCode": "UPS",
            "trackingNumber": "1Z999AA10123456784",
            "shipDate": "2026-11-27T15:30:12Z",
            "orderItems": [
                {"orderItemId": "68828574383266", "quantity": 1},
                {"orderItemId": "79039765272157", "quantity": 2},
            ],
        },
    }


@respx.mock
def test_push_fulfilment_attempts_keep_the_same_package(connector: AmazonConnector) -> None:
    token_route(respx.mock)
    route = respx.post(f"{ORDERS}/902-3159896-1390916/shipmentConfirmation").mock(
        side_effect=[testkit.server_error(500), httpx.Response(204)]
    )
    # A write is sent once per delivery attempt: the 500 goes back to the outbox, whose next
    # attempt sends the same package.
    with pytest.raises(TransientError):
        connector.push_fulfilment(notice())
    receipt = connector.push_fulfilment(notice())
    assert (route.call_count, receipt.attempts) == (2, 1)
    assert len({call.request.content for call in route.calls}) == 1


@respx.mock
def test_unknown_carrier_is_sent_as_others_with_its_name(sleep: FakeSleep) -> None:
    token_route(respx.mock)
    route = respx.post(f"{ORDERS}/902-3159896-1390916/shipmentConfirmation").respond(204)
    conn = make_connector(sleep, carrier_codes={"Royal Mail": "Royal Mail"})
    conn.push_fulfilment(notice(carrier="Acme Couriers"))
    package = json.loads(route.calls.last.request.content)["packageDetail"]
    assert (package["carrierCode"], package["carrierName"]) == ("Others", "Acme Couriers")
    conn.push_fulfilment(notice(carrier="royal mail"))
    package = json.loads(route.calls.last.request.content)["packageDetail"]
    assert package["carrierCode"] == "Royal Mail" and "carrierName" not in package


@respx.mock
def test_fulfilment_with_several_marketplaces_reads_the_order_marketplace(
    sleep: FakeSleep,
) -> None:
    token_route(respx.mock)
    respx.get(f"{ORDERS}/902-3159896-1390916").respond(
        200, json={"payload": paid_order(MarketplaceId="A2EUQ1WTGCTBG")}
    )
    route = respx.post(f"{ORDERS}/902-3159896-1390916/shipmentConfirmation").respond(204)
    conn = make_connector(sleep, marketplace_ids=[US, "A2EUQ1WTGCTBG"])
    conn.push_fulfilment(notice())
    assert json.loads(route.calls.last.request.content)["marketplaceId"] == "A2EUQ1WTGCTBG"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"tracking_number": None}, "missing_tracking_number"),
        ({"carrier": " "}, "missing_carrier"),
        ({"lines": (ShippedLine(sku="SKU-1", quantity=1),)}, "missing_order_item_id"),
        ({"lines": (ShippedLine(sku="S", quantity=0, external_line_id="1"),)}, "invalid_quantity"),
        ({"lines": ()}, "no_lines"),
    ],
)
@respx.mock
def test_incomplete_shipments_fail_before_any_request(
    connector: AmazonConnector, changes: dict[str, Any], reason: str
) -> None:
    route = respx.post(url__regex=r".*")
    with pytest.raises(PermanentError) as caught:
        connector.push_fulfilment(notice(**changes))
    assert caught.value.reason == reason
    assert not route.called


@respx.mock
def test_confirmation_rejected_is_permanent(connector: AmazonConnector) -> None:
    token_route(respx.mock)
    route = respx.post(f"{ORDERS}/902-3159896-1390916/shipmentConfirmation").respond(
        400, json={"errors": [{"code": "InvalidInput", "message": "Invalid Input"}]}
    )
    testkit.check_permanent_error(lambda: connector.push_fulfilment(notice()), route)


def test_package_reference_id_is_numeric_and_stable() -> None:
    assert package_reference_id("4711") == "4711"
    derived = package_reference_id("shp_01HXYZ")
    assert derived.isdigit() and int(derived) > 0
    assert derived == package_reference_id("shp_01HXYZ")
    assert derived != package_reference_id("shp_01HXZZ")
    assert package_reference_id("0").isdigit() and package_reference_id("0") != "0"


# --- stock ------------------------------------------------------------------------------------


@respx.mock
def test_push_stock_patches_each_listing(connector: AmazonConnector) -> None:
    token_route(respx.mock)
    route = respx.patch(url__regex=rf"{API}/listings/2021-08-01/items/A2SELLER/.+").mock(
        side_effect=[
            httpx.Response(
                200,
                json={
                    "sku": "CBA_OTF_1",
                    "status": "ACCEPTED",
                    "submissionId": "sub-1",
                    "issues": [],
                },
            ),
            httpx.Response(
                200,
                json={"sku": "A/B 5", "status": "ACCEPTED", "submissionId": "sub-2", "issues": []},
            ),
        ]
    )
    receipt = connector.push_stock(
        [
            StockUpdate(sku="SKU-1", channel_ref="CBA_OTF_1", available=7),
            StockUpdate(sku="SKU-5", channel_ref="A/B 5", available=-2),
        ],
        idempotency_key="stock-1",
    )
    assert (receipt.external_ref, receipt.attempts) == ("sub-1,sub-2", 2)
    first, second = (call.request for call in route.calls)
    assert first.url.path == "/listings/2021-08-01/items/A2SELLER/CBA_OTF_1"
    # A SKU may hold '/' or spaces: it stays one escaped path segment.
    assert second.url.raw_path.decode().split("?")[0] == (
        "/listings/2021-08-01/items/A2SELLER/A%2FB%205"
    )
    assert query(first) == {"marketplaceIds": [US]}
    assert first.headers["x-amz-access-token"] == "Atza|access-1"
    assert json.loads(first.content) == {
        "productType": "PRODUCT",
        "patches": [
            {
                "op": "merge",
                "path": "/attributes/fulfillment_availability",
                "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 7}],
            }
        ],
    }
    assert json.loads(second.content)["patches"][0]["value"][0]["quantity"] == 0


@respx.mock
def test_listing_not_accepted_is_permanent(connector: AmazonConnector) -> None:
    token_route(respx.mock)
    respx.patch(url__regex=rf"{API}/listings/.+").respond(
        200,
        json={
            "sku": "CBA_OTF_1",
            "status": "INVALID",
            "submissionId": "sub-9",
            "issues": [{"code": "90220", "message": "'quantity' is invalid", "severity": "ERROR"}],
        },
    )
    with pytest.raises(PermanentError, match="quantity' is invalid") as caught:
        connector.push_stock([StockUpdate("SKU-1", "CBA_OTF_1", 3)], idempotency_key="k")
    assert caught.value.reason == "listing_not_accepted"


@respx.mock
def test_stock_429_then_success(connector: AmazonConnector) -> None:
    token_route(respx.mock)
    accepted = httpx.Response(200, json={"status": "ACCEPTED", "submissionId": "s"})
    route = respx.patch(url__regex=rf"{API}/listings/.+").mock(
        side_effect=[testkit.too_many(0), accepted]
    )
    receipt = testkit.check_retries_then_succeeds(
        lambda: connector.push_stock([StockUpdate("SKU-1", "CBA_OTF_1", 3)], idempotency_key="k"),
        route,
        calls=2,
    )
    # 0.2 s until a listings token refills is over retry_max_wait: handed back, then resent.
    assert receipt.attempts == 1


@respx.mock
def test_stock_needs_a_seller_id_and_nothing_to_send_sends_nothing(sleep: FakeSleep) -> None:
    route = respx.route()
    conn = make_connector(sleep, seller_id=None)
    with pytest.raises(PermanentError, match="seller_id") as caught:
        conn.push_stock([StockUpdate("SKU-1", "CBA_OTF_1", 3)], idempotency_key="k")
    assert caught.value.reason == "config_incomplete"
    assert conn.push_stock([], idempotency_key="k").attempts == 0
    assert not route.called


@respx.mock
def test_a_record_that_cannot_be_read_is_rejected_alone_and_the_page_goes_on(
    connector: AmazonConnector,
) -> None:
    """One listed order with a broken LastUpdateDate, one whose items Amazon answers with
    a malformed body, one good FBA order: the good one comes in, the two are rejected raw."""
    token_route(respx.mock)
    bad_date = {**paid_order("111-0000001-0000001", FulfillmentChannel="AFN")}
    bad_date["LastUpdateDate"] = "yesterday"
    bad_items = paid_order("111-0000002-0000002", FulfillmentChannel="AFN")
    good = paid_order("111-0000003-0000003", FulfillmentChannel="AFN")
    respx.mock.get(ORDERS).respond(200, json={"payload": {"Orders": [bad_date, bad_items, good]}})
    respx.mock.get(f"{ORDERS}/111-0000002-0000002/orderItems").respond(
        200, json={"payload": {"AmazonOrderId": "111-0000002-0000002", "OrderItems": "none"}}
    )
    respx.mock.get(f"{ORDERS}/111-0000003-0000003/orderItems").mock(
        return_value=items_page("111-0000003-0000003", sample_items())
    )
    page = pull(connector)
    assert [o.external_id for o in page.orders] == ["111-0000003-0000003"]
    assert [(r.external_id, r.raw) for r in page.rejected] == [
        ("111-0000001-0000001", bad_date),
        ("111-0000002-0000002", bad_items),
    ]
    assert "LastUpdateDate" in page.rejected[0].reason
    # Retried from the inbox, a raw record fails again (no API call inside processing); a
    # stored order with its items reads as the poll read it.
    with pytest.raises(PayloadError, match="later poll"):
        connector.read_polled(bad_items)
    assert connector.read_polled(page.orders[0].payload).external_id == "111-0000003-0000003"
