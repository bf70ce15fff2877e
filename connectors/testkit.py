"""The contract test kit: checks every connector kind must pass, callable from pytest.

A connector package (built in or third party) proves itself with a test module such as::

    from omniroute.connectors import testkit

    def test_kind_is_declared_properly():
        testkit.check_kind(WooConnector)

    @pytest.mark.parametrize("name", SAMPLES)
    def test_sample_maps(name):
        testkit.check_maps_to_canonical(connector(), load(name))

    def test_signatures():
        testkit.check_signature(connector(), signed_headers(body), body,
                                signature_header="X-WC-Webhook-Signature")
        testkit.check_stored_headers(connector(), signed_headers(body), body,
                                     signature_header="X-WC-Webhook-Signature")

    def test_paging(respx_mock):
        ...register two pages...
        orders = testkit.drain(connector(), since, now=now)

    def test_429_then_success(respx_mock):
        route = respx_mock.get(url).mock(side_effect=[testkit.too_many(2), page])
        testkit.check_retries_then_succeeds(lambda: connector().pull_orders(...), route)

The checks raise ``AssertionError`` with a message that says what the connector did wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import httpx
from pydantic import BaseModel

from omniroute.connectors.base import (
    Capability,
    ChannelOrder,
    FulfilmentSink,
    OrderCanceller,
    OrderFetcher,
    OrderPoller,
    OrderSource,
    PermanentError,
    ReturnEvents,
    ReturnExpecter,
    ReturnSink,
    RiskAssessor,
    SignatureError,
    StockSink,
    TransientError,
    WarehouseAdapter,
    WarehouseCanceller,
    kept_webhook_headers,
)
from omniroute.connectors.carriers import CarrierBooking, CarrierRating
from omniroute.connectors.erp import (
    ErpPoster,
    ItemMasterSource,
    PurchaseRequestSink,
    StockSnapshotSource,
)
from omniroute.connectors.tracking import TrackingPoller, TrackingSink, TrackingSource
from omniroute.mapping import validate_order

__all__ = [
    "PROTOCOL_OF",
    "check_duplicate_delivery",
    "check_kind",
    "check_maps_to_canonical",
    "check_permanent_error",
    "check_retries_then_succeeds",
    "check_signature",
    "check_stored_headers",
    "drain",
    "server_error",
    "too_many",
]

#: The protocol an instance must implement for each capability it declares.
PROTOCOL_OF: Mapping[Capability, type] = {
    Capability.ORDER_WEBHOOKS: OrderSource,
    Capability.ORDER_POLLING: OrderPoller,
    Capability.ORDER_FETCH: OrderFetcher,
    Capability.FULFILMENT_PUSH: FulfilmentSink,
    Capability.STOCK_PUSH: StockSink,
    Capability.CANCEL_PUSH: OrderCanceller,
    Capability.FULFILMENT_RELEASE: WarehouseAdapter,
    Capability.FULFILMENT_CANCEL: WarehouseCanceller,
    Capability.RISK_ASSESSMENT: RiskAssessor,
    Capability.TRACKING_WEBHOOKS: TrackingSource,
    Capability.TRACKING_POLL: TrackingPoller,
    Capability.TRACKING_PUSH: TrackingSink,
    Capability.RETURN_NOTICE: ReturnExpecter,
    Capability.RETURN_PUSH: ReturnSink,
    Capability.RETURN_WEBHOOKS: ReturnEvents,
    Capability.CARRIER_RATES: CarrierRating,
    Capability.CARRIER_BOOKING: CarrierBooking,
    Capability.ERP_POSTING: ErpPoster,
    Capability.ERP_STOCK_SNAPSHOT: StockSnapshotSource,
    Capability.ERP_ITEM_MASTER: ItemMasterSource,
    Capability.PURCHASE_REQUESTS: PurchaseRequestSink,
}

MAX_PAGES = 1000


def check_kind(kind_cls: type, instance: object | None = None) -> None:
    """The class-level declaration, and (given an instance) the protocols it promises."""
    kind = getattr(kind_cls, "kind", None)
    assert isinstance(kind, str) and kind, f"{kind_cls.__name__}.kind must be a non-empty str"
    capabilities = getattr(kind_cls, "capabilities", None)
    assert isinstance(capabilities, frozenset) and capabilities, (
        f"{kind}: capabilities must be a non-empty frozenset of Capability"
    )
    assert all(isinstance(c, Capability) for c in capabilities), (
        f"{kind}: every capability must be a connectors.base.Capability"
    )
    for attr in ("config_model", "secrets_model"):
        model = getattr(kind_cls, attr, None)
        assert isinstance(model, type) and issubclass(model, BaseModel), (
            f"{kind}: {attr} must be a pydantic model class"
        )
        model.model_json_schema()  # the API publishes it; it must render
    secrets_schema = kind_cls.secrets_model.model_json_schema()  # type: ignore[attr-defined]
    for name, prop in secrets_schema.get("properties", {}).items():
        assert _is_write_only(prop), f"{kind}: secret {name!r} must be a SecretStr (writeOnly)"
    if instance is not None:
        for capability in capabilities:
            protocol = PROTOCOL_OF[capability]
            assert isinstance(instance, protocol), (
                f"{kind} declares {capability} but does not implement {protocol.__name__}"
            )


def _is_write_only(prop: Mapping[str, Any]) -> bool:
    if prop.get("writeOnly"):
        return True
    return any(_is_write_only(option) for option in prop.get("anyOf", ()))


def check_maps_to_canonical(source: Any, order: Mapping[str, Any]) -> dict[str, Any]:
    """``map_order`` gives a canonical order valid against the schema; it is returned."""
    canonical: dict[str, Any] = source.map_order(order)
    validate_order(canonical)
    assert canonical["external_id"], "a canonical order needs the channel's order id"
    assert canonical["lines"], "a canonical order needs at least one line"
    return canonical


def check_signature(
    source: OrderSource,
    headers: Mapping[str, str],
    body: bytes,
    *,
    signature_header: str,
) -> None:
    """Good headers pass; a tampered body, a wrong or a missing signature are refused."""
    source.verify_webhook(headers, body)
    tampered = body[:-1] + bytes([body[-1] ^ 0x01]) if body else b"x"
    _refused(source, headers, tampered, "a tampered body")
    wrong = {
        k: ("AAAA" + v[4:] if k.lower() == signature_header.lower() else v)
        for k, v in headers.items()
    }
    _refused(source, wrong, body, "a wrong signature")
    missing = {k: v for k, v in headers.items() if k.lower() != signature_header.lower()}
    assert len(missing) < len(headers), f"{signature_header} is not among the signed headers"
    _refused(source, missing, body, "a missing signature")


def _refused(source: OrderSource, headers: Mapping[str, str], body: bytes, what: str) -> None:
    try:
        source.verify_webhook(headers, body)
    except SignatureError:
        return
    raise AssertionError(f"verify_webhook accepted {what}")


def check_stored_headers(
    source: OrderSource,
    headers: Mapping[str, str],
    body: bytes,
    *,
    signature_header: str,
) -> dict[str, str]:
    """What intake stores with a delivery is enough for ``parse_webhook`` later, and holds
    no signature; the stored headers are returned."""
    stored = kept_webhook_headers(source, headers)
    assert signature_header.lower() not in stored, f"{signature_header} must not be stored"
    assert source.parse_webhook(stored, body) == source.parse_webhook(headers, body), (
        "parse_webhook reads a header that kept_headers does not keep: the worker, which sees "
        "only the stored headers, would read the delivery differently"
    )
    return stored


def check_duplicate_delivery(
    source: OrderSource,
    delivery: tuple[Mapping[str, str], bytes],
    other_delivery: tuple[Mapping[str, str], bytes],
) -> None:
    """A redelivery has the same dedupe key; another delivery has a different one."""
    first = source.dedupe_key(*delivery)
    assert first, "dedupe_key must not be empty"
    assert source.dedupe_key(*delivery) == first, "a redelivery must keep its dedupe key"
    assert source.dedupe_key(*other_delivery) != first, (
        "two different deliveries must not share a dedupe key"
    )


def drain(poller: OrderPoller, updated_after: datetime, *, now: datetime) -> list[ChannelOrder]:
    """Every order of one poll run, following page tokens to the end."""
    orders: list[ChannelOrder] = []
    token: str | None = None
    for _ in range(MAX_PAGES):
        page = poller.pull_orders(updated_after, token, now=now)
        orders.extend(page.orders)
        for order in page.orders:
            assert order.updated_at.tzinfo is not None, "updated_at must be timezone-aware"
        if page.next_page_token is None:
            return orders
        assert page.next_page_token != token, "a page token must move forward"
        token = page.next_page_token
    raise AssertionError(f"poll did not finish within {MAX_PAGES} pages")


def too_many(retry_after: float = 1, **kwargs: Any) -> httpx.Response:
    """A 429 with Retry-After, for respx side effects."""
    return httpx.Response(429, headers={"Retry-After": str(retry_after)}, **kwargs)


def server_error(status: int = 503) -> httpx.Response:
    return httpx.Response(status, json={"error": "unavailable"})


def check_retries_then_succeeds(call: Callable[[], Any], route: Any, *, calls: int) -> Any:
    """``call`` survives transient answers: it retries (or raises TransientError, and a
    second call succeeds); in the end the route was hit ``calls`` times. Its result is
    returned."""
    for _ in range(calls):
        try:
            result = call()
        except TransientError:
            continue
        assert route.call_count == calls, (
            f"expected {calls} requests before success, saw {route.call_count}"
        )
        return result
    raise AssertionError(f"no success within {calls} requests")


def check_permanent_error(call: Callable[[], Any], route: Any) -> PermanentError:
    """A permanent 4xx leaves as PermanentError after one request, with a useful message."""
    try:
        call()
    except PermanentError as exc:
        assert route.call_count == 1, f"a permanent error must not be retried ({route.call_count})"
        assert str(exc), "a permanent error must say what went wrong"
        return exc
    raise AssertionError("a permanent 4xx must raise PermanentError")
