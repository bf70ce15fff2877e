"""The fake WMS as a real HTTP server on 127.0.0.1, driven with httpx."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from omniroute.connectors.base import (
    ConnectorRuntime,
    PermanentError,
    ReleaseLine,
    ReleaseRequest,
    TransientError,
)
from omniroute.connectors.wms.demo_server import FakeWms, RecordedRequest
from omniroute.connectors.wms.rest import RestWmsConfig, RestWmsConnector, RestWmsSecrets


@pytest.fixture
def wms() -> Iterator[FakeWms]:
    with FakeWms() as server:
        yield server


@pytest.fixture
def client(wms: FakeWms) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=wms.base_url, timeout=5.0) as c:
        yield c


def order(*skus: str) -> dict[str, Any]:
    return {
        "fulfilment_order_id": 1,
        "order_reference": "#1001",
        "lines": [
            {"line_id": n, "sku": sku, "quantity": 1} for n, sku in enumerate(skus or ("A",))
        ],
    }


def post(client: httpx.Client, key: str | None, body: Any = None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post(
        "/fulfilment-orders", json=order() if body is None else body, headers=headers
    )


def test_binds_loopback_on_a_free_port(wms: FakeWms) -> None:
    assert wms.base_url.startswith("http://127.0.0.1:")
    assert not wms.base_url.endswith(":0")


def test_healthz(client: httpx.Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_new_order_is_accepted(wms: FakeWms, client: httpx.Client) -> None:
    first = post(client, "k1")
    second = post(client, "k2", order("B"))
    assert first.status_code == 201
    assert first.json() == {"id": "WMS-1", "status": "accepted"}
    assert second.json()["id"] == "WMS-2"
    assert wms.accepted == {"k1": order(), "k2": order("B")}
    assert wms.accepted_count == 2


def test_replayed_key_gets_the_same_response_and_is_counted_once(
    wms: FakeWms, client: httpx.Client
) -> None:
    first = post(client, "k1")
    replay = post(client, "k1")
    assert (replay.status_code, replay.json()) == (first.status_code, first.json())
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert wms.accepted_count == 1
    assert len(wms.requests) == 2


def test_same_key_with_a_different_body_conflicts(wms: FakeWms, client: httpx.Client) -> None:
    post(client, "k1", order("A"))
    response = post(client, "k1", order("B"))
    assert response.status_code == 409
    assert wms.accepted == {"k1": order("A")}


@pytest.mark.parametrize("key", [None, ""])
def test_missing_idempotency_key_is_rejected(
    wms: FakeWms, client: httpx.Client, key: str | None
) -> None:
    response = post(client, key)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]
    assert wms.accepted_count == 0


def test_non_object_body_is_rejected(client: httpx.Client) -> None:
    assert post(client, "k1", ["not", "an", "object"]).status_code == 400
    bad = client.post("/fulfilment-orders", content=b"{nope", headers={"Idempotency-Key": "k2"})
    assert bad.status_code == 400


def test_unknown_paths_and_methods(client: httpx.Client) -> None:
    assert client.get("/nope").status_code == 404
    assert client.get("/fulfilment-orders").status_code == 405
    assert client.delete("/healthz").status_code == 405


def test_fail_next_then_recover(wms: FakeWms, client: httpx.Client) -> None:
    wms.fail_next(2, status=503, retry_after=0.01)
    first, second = post(client, "k1"), post(client, "k1")
    assert [first.status_code, second.status_code] == [503, 503]
    assert first.headers["Retry-After"] == "0.01"
    assert wms.accepted_count == 0
    third = post(client, "k1")
    assert third.status_code == 201
    assert wms.accepted_count == 1
    assert [r.path for r in wms.requests] == ["/fulfilment-orders"] * 3


def test_fail_next_defaults_to_500_without_retry_after(wms: FakeWms, client: httpx.Client) -> None:
    wms.fail_next(1)
    response = client.get("/healthz")
    assert response.status_code == 500
    assert "Retry-After" not in response.headers
    assert client.get("/healthz").status_code == 200


def test_whole_seconds_retry_after_is_an_integer(wms: FakeWms, client: httpx.Client) -> None:
    wms.fail_next(1, status=429, retry_after=3)
    assert client.get("/healthz").headers["Retry-After"] == "3"


def test_set_down_answers_503_to_everything(wms: FakeWms, client: httpx.Client) -> None:
    wms.set_down(True)
    assert client.get("/healthz").status_code == 503
    assert post(client, "k1").status_code == 503
    assert wms.accepted_count == 0
    wms.set_down(False)
    assert client.get("/healthz").status_code == 200
    assert post(client, "k1").status_code == 201


def test_answer_late_takes_the_order_but_answers_after_the_delay(wms: FakeWms) -> None:
    wms.answer_late(0.3)
    with (
        httpx.Client(base_url=wms.base_url, timeout=0.05) as impatient,
        pytest.raises(httpx.ReadTimeout),
    ):
        post(impatient, "k1")
    assert wms.accepted_count == 1  # taken at once; only the answer is late
    assert len(wms.requests) == 1
    with httpx.Client(base_url=wms.base_url, timeout=5.0) as patient:
        replay = post(patient, "k1")
        assert (replay.status_code, replay.headers["Idempotent-Replayed"]) == (201, "true")
        wms.answer_late(None)
        assert patient.get("/healthz").status_code == 200


def test_reject_skus(wms: FakeWms, client: httpx.Client) -> None:
    wms.reject_skus({"BAD"})
    rejected = post(client, "k1", order("A", "BAD"))
    assert rejected.status_code == 422
    assert rejected.json()["error"] == "unknown sku"
    assert wms.accepted_count == 0
    assert post(client, "k2", order("A")).status_code == 201
    wms.reject_skus(set())
    assert post(client, "k1", order("A", "BAD")).status_code == 201  # errors are not replayed


def test_requests_log_records_everything(wms: FakeWms, client: httpx.Client) -> None:
    wms.fail_next(1, status=500)
    post(client, "k1")
    post(client, None)
    client.get("/healthz?verbose=1")
    log = wms.requests
    assert [(r.method, r.path) for r in log] == [
        ("POST", "/fulfilment-orders"),
        ("POST", "/fulfilment-orders"),
        ("GET", "/healthz"),
    ]
    method, path, headers, body = log[0]
    assert isinstance(log[0], RecordedRequest)
    assert (method, path, body) == ("POST", "/fulfilment-orders", order())
    assert headers["idempotency-key"] == "k1"
    assert "idempotency-key" not in log[1].headers
    assert log[2].body is None
    log.clear()  # a copy: the server's log is unaffected
    assert len(wms.requests) == 3


def test_concurrent_orders_get_distinct_ids(wms: FakeWms, client: httpx.Client) -> None:
    ids: list[str] = []
    lock = threading.Lock()

    def send(n: int) -> None:
        answer = post(client, f"k{n}").json()["id"]
        with lock:
            ids.append(answer)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(ids) == sorted(f"WMS-{n}" for n in range(1, 21))
    assert wms.accepted_count == 20


def test_stop_closes_the_port_and_keep_alive_connections() -> None:
    wms = FakeWms()
    url = wms.start()
    assert wms.start() == url  # starting twice is harmless
    with httpx.Client(base_url=url, timeout=2.0) as c:
        assert c.get("/healthz").status_code == 200  # leaves a pooled keep-alive connection
        wms.stop()
        with pytest.raises(httpx.TransportError):
            c.get("/healthz")
    wms.stop()  # stopping twice is harmless
    with pytest.raises(RuntimeError):
        _ = wms.base_url


# --- the REST WMS connector against the real fake ---------------------------------------------


def release_request(key: str, sku: str = "SKU-1") -> ReleaseRequest:
    return ReleaseRequest(
        fulfilment_order_id=5,
        order_id=2,
        order_reference="#2002",
        warehouse_code="WH-1",
        ship_to={"country": "DE"},
        lines=(ReleaseLine(line_id=1, sku=sku, quantity=3),),
        idempotency_key=key,
    )


@pytest.fixture
def connector(wms: FakeWms) -> Iterator[RestWmsConnector]:
    runtime = ConnectorRuntime(allow_private_urls=True, retry_attempts=3, retry_max_wait=0.001)
    conn = RestWmsConnector(
        RestWmsConfig(base_url=wms.base_url, timeout_seconds=5.0),
        RestWmsSecrets(api_key=SecretStr("demo-key")),
        runtime=runtime,
    )
    yield conn
    conn.close()


def test_connector_leaves_an_error_answer_to_the_outbox_and_keeps_one_key(
    wms: FakeWms, connector: RestWmsConnector
) -> None:
    wms.fail_next(2, status=503)
    for _ in range(2):  # one request per call: the outbox's attempts are the retries
        with pytest.raises(TransientError):
            connector.release(release_request("fo-5"))
    receipt = connector.release(release_request("fo-5"))
    assert (receipt.external_ref, receipt.status_code, receipt.attempts) == ("WMS-1", 201, 1)
    assert wms.accepted_count == 1
    assert len(wms.requests) == 3
    assert {r.headers["idempotency-key"] for r in wms.requests} == {"fo-5"}
    assert {r.headers["authorization"] for r in wms.requests} == {"Bearer demo-key"}

    again = connector.release(release_request("fo-5"))  # outbox re-send after a lost ack
    assert again.external_ref == "WMS-1"
    assert wms.accepted_count == 1


def test_connector_surfaces_rejections_as_permanent(
    wms: FakeWms, connector: RestWmsConnector
) -> None:
    wms.reject_skus({"SKU-X"})
    with pytest.raises(PermanentError) as caught:
        connector.release(release_request("fo-6", sku="SKU-X"))
    assert caught.value.reason == "http_422"
    assert len(wms.requests) == 1


# --- cancel -------------------------------------------------------------------------------------


def cancel(client: httpx.Client, fo_id: int, key: str, lines: list[dict[str, Any]]) -> Any:
    return client.post(
        f"/fulfilment-orders/{fo_id}/cancel",
        json={"fulfilment_order_id": fo_id, "entire": False, "lines": lines},
        headers={"Idempotency-Key": key},
    )


def test_cancel_of_an_accepted_order_is_kept_and_replayed_once(
    wms: FakeWms, client: httpx.Client
) -> None:
    assert post(client, "k1", order("A", "B")).status_code == 201
    lines = [{"line_id": 0, "sku": "A", "quantity": 1}]
    first = cancel(client, 1, "c1", lines)
    assert first.status_code == 200 and first.json()["status"] == "cancelled"
    again = cancel(client, 1, "c1", lines)
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert wms.cancelled == {"c1": {"fulfilment_order_id": 1, "entire": False, "lines": lines}}


def test_cancel_too_late_unknown_and_without_a_key(wms: FakeWms, client: httpx.Client) -> None:
    post(client, "k1", order("A"))
    wms.pick(1)
    late = cancel(client, 1, "c1", [])
    assert (late.status_code, late.json()["status"]) == (409, "picked")
    unknown = cancel(client, 99, "c2", [])
    assert (unknown.status_code, unknown.json()["status"]) == (404, "unknown_order")
    missing = client.post("/fulfilment-orders/1/cancel", json={})
    assert missing.status_code == 400
    assert wms.cancelled == {}
