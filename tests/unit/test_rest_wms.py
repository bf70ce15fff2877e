"""The generic REST WMS connector against respx (no real network)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pydantic
import pytest
import respx
from pydantic import SecretStr

from omniroute.connectors.base import (
    Capability,
    ConnectorRuntime,
    PermanentError,
    ReleaseLine,
    ReleaseOrder,
    ReleaseReceipt,
    ReleaseRequest,
    TransientError,
    WarehouseAdapter,
)
from omniroute.connectors.http import UnsafeUrlError
from omniroute.connectors.wms.rest import RestWmsConfig, RestWmsConnector, RestWmsSecrets
from omniroute.connectors.wms.rest.connector import build_release_payload

BASE = "https://wms.example.com/api"
ORDERS = f"{BASE}/fulfilment-orders"
# retry_max_wait this small keeps the jittered backoff in the sub-millisecond range.
RUNTIME = ConnectorRuntime(allow_private_urls=False, retry_attempts=3, retry_max_wait=0.001)


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    looked_up: list[str] = []
    table = {"wms.example.com": "93.184.216.34", "wms.internal": "10.20.30.40"}

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        looked_up.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (table[host], port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return looked_up


def make_request(key: str = "fo-7-release-1", **overrides: Any) -> ReleaseRequest:
    values: dict[str, Any] = {
        "fulfilment_order_id": 7,
        "order_id": 3,
        "order_reference": "#1001",
        "warehouse_code": "AMS-1",
        "ship_to": {"name": "Ada Lovelace", "country": "NL", "postal_code": "1011 AB"},
        "lines": (ReleaseLine(line_id=11, sku="SKU-RED", quantity=2),),
        "idempotency_key": key,
        "service_level": "express",
    }
    values.update(overrides)
    return ReleaseRequest(**values)


def make_connector(
    api_key: str | None = "wms-s3cr3t",
    runtime: ConnectorRuntime = RUNTIME,
    **config: Any,
) -> RestWmsConnector:
    return RestWmsConnector(
        RestWmsConfig(base_url=config.pop("base_url", BASE), **config),
        RestWmsSecrets(api_key=None if api_key is None else SecretStr(api_key)),
        runtime=runtime,
    )


@pytest.fixture
def connector() -> Iterator[RestWmsConnector]:
    conn = make_connector()
    yield conn
    conn.close()


# --- kind and configuration -------------------------------------------------------------------


def test_declares_kind_capabilities_and_models() -> None:
    assert RestWmsConnector.kind == "rest_wms"
    assert RestWmsConnector.capabilities == frozenset(
        {Capability.FULFILMENT_RELEASE, Capability.FULFILMENT_CANCEL, Capability.RETURN_NOTICE}
    )
    assert RestWmsConnector.config_model is RestWmsConfig
    assert RestWmsConnector.secrets_model is RestWmsSecrets
    assert isinstance(make_connector(), WarehouseAdapter)


def test_config_defaults() -> None:
    config = RestWmsConfig(base_url=BASE)
    assert config.release_path == "/fulfilment-orders"
    assert config.timeout_seconds == 10.0


@pytest.mark.parametrize(
    "values",
    [
        {"base_url": "ftp://wms.example.com"},
        {"base_url": "wms.example.com"},
        {"base_url": "https://user:pw@wms.example.com"},
        {"base_url": "https://wms.example.com/?x=1"},
        {"base_url": BASE, "timeout_seconds": 0},
        {"base_url": BASE, "timeout_seconds": 121},
        {"base_url": BASE, "release_path": "orders"},
        {"base_url": BASE, "release_path": "//evil.example/orders"},
        {"base_url": BASE, "release_path": "http://evil.example/orders"},
        {"base_url": BASE, "release_path": "/orders?x=1"},
        {"base_url": BASE, "unknown": 1},
    ],
)
def test_config_rejects(values: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        RestWmsConfig(**values)


def test_config_accepts_private_urls_syntax_check_is_separate_from_policy() -> None:
    # Whether 10.x may be called is decided at call time by runtime.allow_private_urls.
    assert RestWmsConfig(base_url="http://10.0.0.5:8080").base_url == "http://10.0.0.5:8080"


def test_secrets_hide_the_key_and_forbid_extras() -> None:
    secrets = RestWmsSecrets.model_validate({"api_key": "abc"})
    assert "abc" not in repr(secrets)
    with pytest.raises(pydantic.ValidationError):
        RestWmsSecrets.model_validate({"password": "x"})


def test_json_schemas_are_available_for_forms() -> None:
    assert "base_url" in RestWmsConfig.model_json_schema()["properties"]
    assert RestWmsSecrets.model_json_schema()["properties"]["api_key"]


# --- release ----------------------------------------------------------------------------------


@respx.mock
def test_release_posts_the_payload_with_auth_and_idempotency_key(
    connector: RestWmsConnector,
) -> None:
    route = respx.post(ORDERS).respond(201, json={"id": "WMS-9", "status": "accepted"})

    receipt = connector.release(make_request())

    assert receipt == ReleaseReceipt(external_ref="WMS-9", status_code=201, attempts=1)
    sent = route.calls.last.request
    assert sent.headers["Authorization"] == "Bearer wms-s3cr3t"
    assert sent.headers["Idempotency-Key"] == "fo-7-release-1"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["User-Agent"].startswith("omniroute/")
    assert json.loads(sent.content) == {
        "fulfilment_order_id": 7,
        "order_id": 3,
        "order_reference": "#1001",
        "warehouse_code": "AMS-1",
        "service_level": "express",
        "ship_to": {"name": "Ada Lovelace", "country": "NL", "postal_code": "1011 AB"},
        "note": None,
        "gift_message": None,
        "attributes": [],
        "lines": [
            {
                "line_id": 11,
                "sku": "SKU-RED",
                "quantity": 2,
                "properties": [],
                "gift_message": None,
            }
        ],
    }


def test_payload_lists_every_line() -> None:
    request = make_request(
        lines=(ReleaseLine(1, "A", 1), ReleaseLine(2, "B", 5)), extra={"ignored": True}
    )
    payload = build_release_payload(request)
    assert [(line["line_id"], line["sku"], line["quantity"]) for line in payload["lines"]] == [
        (1, "A", 1),
        (2, "B", 5),
    ]
    assert "extra" not in payload


def test_payload_carries_notes_attributes_and_each_lines_properties() -> None:
    engraved = ({"name": "Custom Engraving", "value": "Happy Birthday"},)
    request = make_request(
        note="Leave at the back door",
        gift_message="For you!",
        attributes=({"name": "colour", "value": "green"},),
        lines=(
            ReleaseLine(1, "A", 1, properties=engraved, gift_message="Happy birthday, Ann"),
            ReleaseLine(2, "B", 5),
        ),
    )
    payload = build_release_payload(request)
    assert (payload["note"], payload["gift_message"]) == ("Leave at the back door", "For you!")
    assert payload["attributes"] == [{"name": "colour", "value": "green"}]
    assert payload["lines"] == [
        {
            "line_id": 1,
            "sku": "A",
            "quantity": 1,
            "properties": [{"name": "Custom Engraving", "value": "Happy Birthday"}],
            "gift_message": "Happy birthday, Ann",
        },
        {"line_id": 2, "sku": "B", "quantity": 5, "properties": [], "gift_message": None},
    ]
    assert "orders" not in payload  # only a consolidated fulfilment order lists its orders


def test_a_consolidated_payload_lists_each_orders_notes_and_lines_keep_their_own() -> None:
    grind = ({"name": "Grind", "value": "Espresso"},)
    request = make_request(
        note="first order's note",
        lines=(
            ReleaseLine(1, "A", 1, order_id=3, order_reference="#1001"),
            ReleaseLine(2, "A", 1, order_id=4, order_reference="#1002", properties=grind),
        ),
        orders=(
            ReleaseOrder(3, "#1001", note="first order's note"),
            ReleaseOrder(4, "#1002", gift_message="Enjoy", attributes=grind),
        ),
    )
    payload = build_release_payload(request)
    assert [line["properties"] for line in payload["lines"]] == [[], [dict(grind[0])]]
    assert payload["orders"] == [
        {
            "order_id": 3,
            "order_reference": "#1001",
            "note": "first order's note",
            "gift_message": None,
            "attributes": [],
        },
        {
            "order_id": 4,
            "order_reference": "#1002",
            "note": None,
            "gift_message": "Enjoy",
            "attributes": [{"name": "Grind", "value": "Espresso"}],
        },
    ]


@respx.mock
def test_no_authorization_header_without_api_key() -> None:
    route = respx.post(ORDERS).respond(201, json={"id": "1"})
    make_connector(api_key=None).release(make_request())
    assert "Authorization" not in route.calls.last.request.headers


@respx.mock
def test_custom_release_path() -> None:
    route = respx.post(f"{BASE}/v2/outbound").respond(202, json={"reference": "OB-1"})
    receipt = make_connector(release_path="/v2/outbound").release(make_request())
    assert route.called
    assert receipt.external_ref == "OB-1"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"id": "WMS-1", "reference": "R-1"}, "WMS-1"),
        ({"reference": "R-1"}, "R-1"),
        ({"id": 42}, "42"),
        ({"id": True}, None),
        ({"status": "accepted"}, None),
        (["WMS-1"], None),
    ],
)
@respx.mock
def test_external_ref_from_json(
    connector: RestWmsConnector, body: Any, expected: str | None
) -> None:
    respx.post(ORDERS).respond(201, json=body)
    assert connector.release(make_request()).external_ref == expected


@respx.mock
def test_non_json_success_is_still_a_success(connector: RestWmsConnector) -> None:
    respx.post(ORDERS).respond(204)
    assert connector.release(make_request()) == ReleaseReceipt(None, 204, 1)
    respx.post(ORDERS).respond(200, text="<html>ok</html>")
    assert connector.release(make_request()) == ReleaseReceipt(None, 200, 1)


@respx.mock
def test_connection_failures_are_tried_again_with_the_same_key(
    connector: RestWmsConnector,
) -> None:
    route = respx.post(ORDERS).mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.ConnectTimeout("no answer to SYN"),
            httpx.Response(201, json={"id": "WMS-3"}),
        ]
    )
    receipt = connector.release(make_request(key="same-key"))
    assert receipt == ReleaseReceipt("WMS-3", 201, 3)
    assert {call.request.headers["Idempotency-Key"] for call in route.calls} == {"same-key"}
    assert len({call.request.content for call in route.calls}) == 1


@respx.mock
def test_connection_failures_stop_at_the_attempts(connector: RestWmsConnector) -> None:
    route = respx.post(ORDERS).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(TransientError) as caught:
        connector.release(make_request())
    assert caught.value.reason == "http_transport"
    assert route.call_count == RUNTIME.retry_attempts


@pytest.mark.parametrize("status", [500, 502, 503, 429])
@respx.mock
def test_an_error_answer_is_the_outboxs_to_retry(connector: RestWmsConnector, status: int) -> None:
    """The WMS saw the request: sending it again is the next outbox attempt's job."""
    route = respx.post(ORDERS).mock(side_effect=[httpx.Response(status), httpx.Response(201)])
    with pytest.raises(TransientError) as caught:
        connector.release(make_request())
    assert caught.value.reason == f"http_{status}"
    assert route.call_count == 1


@pytest.mark.parametrize(
    "error",
    [httpx.ReadTimeout("slow WMS"), httpx.ReadError("reset"), httpx.RemoteProtocolError("gone")],
)
@respx.mock
def test_a_release_that_may_have_arrived_is_not_sent_again_in_the_call(
    connector: RestWmsConnector, error: httpx.TransportError
) -> None:
    route = respx.post(ORDERS).mock(side_effect=[error, httpx.Response(201)])
    with pytest.raises(TransientError):
        connector.release(make_request())
    assert route.call_count == 1


@respx.mock
def test_long_retry_after_is_handed_back_for_rescheduling(connector: RestWmsConnector) -> None:
    route = respx.post(ORDERS).respond(429, headers={"Retry-After": "60"})
    with pytest.raises(TransientError) as caught:
        connector.release(make_request())
    assert caught.value.retry_after == 60.0
    assert route.call_count == 1


@respx.mock
def test_rejection_is_permanent(connector: RestWmsConnector) -> None:
    route = respx.post(ORDERS).respond(422, json={"error": "unknown sku"})
    with pytest.raises(PermanentError) as caught:
        connector.release(make_request())
    assert caught.value.reason == "http_422"
    assert "unknown sku" in str(caught.value)
    assert route.call_count == 1


@respx.mock
def test_conflict_flagged_duplicate_is_success(connector: RestWmsConnector) -> None:
    respx.post(ORDERS).respond(409, json={"duplicate": True, "id": "WMS-5"})
    assert connector.release(make_request()) == ReleaseReceipt("WMS-5", 409, 1)


@pytest.mark.parametrize(
    "body", [{"error": "key reused"}, {"duplicate": "yes"}, {"duplicate": False}, None]
)
@respx.mock
def test_other_conflicts_are_permanent(connector: RestWmsConnector, body: Any) -> None:
    respx.post(ORDERS).respond(409, json=body)
    with pytest.raises(PermanentError) as caught:
        connector.release(make_request())
    assert caught.value.reason == "http_409"


# --- SSRF guard, client lifecycle -------------------------------------------------------------


@respx.mock
def test_private_target_is_refused_before_any_request() -> None:
    route = respx.post("http://wms.internal/fulfilment-orders").respond(201)
    conn = make_connector(base_url="http://wms.internal")
    with pytest.raises(UnsafeUrlError):
        conn.release(make_request())
    assert not route.called


@respx.mock
def test_private_target_is_allowed_in_dev_mode() -> None:
    route = respx.post("http://10.0.0.5:8080/fulfilment-orders").respond(201, json={"id": "x"})
    dev = ConnectorRuntime(allow_private_urls=True, retry_max_wait=0.001)
    conn = make_connector(base_url="http://10.0.0.5:8080", runtime=dev)
    assert conn.release(make_request()).external_ref == "x"
    assert route.called


@respx.mock
def test_unresolvable_host_is_transient() -> None:
    conn = make_connector(base_url="https://nowhere.example.com")
    with pytest.raises(TransientError) as caught:
        conn.release(make_request())
    assert caught.value.reason == "unresolvable_host"


@respx.mock
def test_guard_verdict_is_cached_per_instance(
    connector: RestWmsConnector, fake_dns: list[str]
) -> None:
    respx.post(ORDERS).respond(201, json={"id": "1"})
    for _ in range(3):
        connector.release(make_request())
    assert fake_dns == ["wms.example.com"]


@respx.mock
def test_client_is_created_once_and_reused(connector: RestWmsConnector) -> None:
    respx.post(ORDERS).respond(201, json={"id": "1"})
    connector.release(make_request())
    first = connector._http
    connector.release(make_request())
    assert connector._http is first is not None

    connector.close()
    assert first.is_closed
    connector.release(make_request())  # a closed connector reopens on demand
    assert connector._http is not first
    connector.close()
    connector.close()  # idempotent


def test_transport_keyword_is_used() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"id": "via-transport"})

    conn = RestWmsConnector(
        {"base_url": BASE},  # a plain mapping is validated into the config model
        {"api_key": "k"},
        runtime=RUNTIME,
        transport=httpx.MockTransport(handler),
    )
    assert conn.release(make_request()).external_ref == "via-transport"
    assert str(seen[0].url) == ORDERS
    conn.close()


def test_concurrent_releases_share_one_client() -> None:
    created: list[int] = []
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        key = request.headers["Idempotency-Key"]
        with lock:
            created.append(1)
        return httpx.Response(201, json={"id": f"WMS-{key}"})

    conn = RestWmsConnector(
        RestWmsConfig(base_url=BASE),
        RestWmsSecrets(),
        runtime=RUNTIME,
        transport=httpx.MockTransport(handler),
    )
    clients: set[int] = set()
    receipts: list[ReleaseReceipt] = []

    def work(n: int) -> None:
        receipt = conn.release(make_request(key=f"k{n}"))
        with lock:
            receipts.append(receipt)
            clients.add(id(conn._http))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(receipts) == 16
    assert {r.external_ref for r in receipts} == {f"WMS-k{n}" for n in range(16)}
    assert len(clients) == 1
    conn.close()
