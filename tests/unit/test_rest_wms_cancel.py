"""The generic REST WMS connector's cancel, against respx (no real network)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pydantic
import pytest
import respx

from omniroute.connectors.base import (
    CancelLine,
    CancelOutcome,
    CancelReceipt,
    CancelRequest,
    Capability,
    ConnectorRuntime,
    PermanentError,
    TransientError,
    WarehouseCanceller,
)
from omniroute.connectors.http import UnsafeUrlError
from omniroute.connectors.wms.rest import RestWmsConfig, RestWmsConnector
from tests.unit.test_rest_wms import BASE, RUNTIME, fake_dns, make_connector  # noqa: F401

CANCEL = f"{BASE}/fulfilment-orders/7/cancel"


def make_cancel(key: str = "cancel-fo-7-1", **overrides: Any) -> CancelRequest:
    values: dict[str, Any] = {
        "fulfilment_order_id": 7,
        "order_id": 3,
        "order_reference": "#1001",
        "warehouse_code": "AMS-1",
        "external_ref": "WMS-9",
        "lines": (CancelLine(line_id=11, sku="SKU-RED", quantity=2),),
        "entire": False,
        "reason": "customer changed their mind",
        "idempotency_key": key,
    }
    values.update(overrides)
    return CancelRequest(**values)


def test_declares_the_cancel_capability() -> None:
    assert Capability.FULFILMENT_CANCEL in RestWmsConnector.capabilities
    assert isinstance(make_connector(), WarehouseCanceller)


def test_cancel_path_default_and_checks() -> None:
    assert (
        RestWmsConfig(base_url=BASE).cancel_path
        == "/fulfilment-orders/{fulfilment_order_id}/cancel"
    )
    assert (
        RestWmsConfig(base_url=BASE, cancel_path="/cancellations").cancel_path == "/cancellations"
    )
    for bad in ("cancel", "//evil.example/x", "/x/{order_id}", "/x/{fulfilment_order_id", "/x?y=1"):
        with pytest.raises(pydantic.ValidationError):
            RestWmsConfig(base_url=BASE, cancel_path=bad)


@respx.mock
def test_cancel_posts_the_lines_with_auth_and_idempotency_key() -> None:
    route = respx.post(CANCEL).respond(200, json={"status": "cancelled"})

    receipt = make_connector().cancel(make_cancel())

    assert receipt == CancelReceipt(CancelOutcome.CANCELLED, 200, 1, lines=None, detail="cancelled")
    sent = route.calls.last.request
    assert sent.headers["Authorization"] == "Bearer wms-s3cr3t"
    assert sent.headers["Idempotency-Key"] == "cancel-fo-7-1"
    assert json.loads(sent.content) == {
        "fulfilment_order_id": 7,
        "order_id": 3,
        "order_reference": "#1001",
        "warehouse_code": "AMS-1",
        "external_ref": "WMS-9",
        "entire": False,
        "reason": "customer changed their mind",
        "lines": [{"line_id": 11, "sku": "SKU-RED", "quantity": 2}],
    }


@respx.mock
def test_a_custom_cancel_path_without_the_id() -> None:
    route = respx.post(f"{BASE}/cancellations").respond(202)
    receipt = make_connector(cancel_path="/cancellations").cancel(make_cancel())
    assert route.called and receipt.outcome == CancelOutcome.CANCELLED


@respx.mock
def test_the_wms_may_cancel_fewer_units_than_asked() -> None:
    respx.post(CANCEL).respond(
        200, json={"status": "cancelled", "lines": [{"line_id": 11, "quantity": 1}]}
    )
    receipt = make_connector().cancel(make_cancel())
    assert receipt.outcome == CancelOutcome.CANCELLED and receipt.lines == {11: 1}


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (409, {"status": "picked"}),
        (409, {"status": "shipped", "detail": "left the dock at 10:02"}),
        (422, {"status": "too_late"}),
        (200, {"status": "packed"}),
    ],
)
@respx.mock
def test_too_late_is_an_outcome_not_an_error(status: int, body: dict[str, Any]) -> None:
    respx.post(CANCEL).respond(status, json=body)
    receipt = make_connector().cancel(make_cancel())
    assert receipt.outcome == CancelOutcome.TOO_LATE
    assert receipt.detail == body["status"] and receipt.status_code == status


@respx.mock
def test_an_unknown_order_is_an_outcome_but_a_bare_404_is_a_wrong_path() -> None:
    respx.post(CANCEL).respond(404, json={"status": "unknown_order"})
    assert make_connector().cancel(make_cancel()).outcome == CancelOutcome.UNKNOWN_ORDER
    respx.post(CANCEL).respond(404, text="<html>Not Found</html>")
    with pytest.raises(PermanentError) as caught:
        make_connector().cancel(make_cancel())
    assert caught.value.reason == "http_404"


@pytest.mark.parametrize("status", [500, 503, 429])
@respx.mock
def test_an_error_answer_is_sent_once_for_the_outbox_to_retry(status: int) -> None:
    route = respx.post(CANCEL).respond(status)
    with pytest.raises(TransientError):
        make_connector().cancel(make_cancel())
    assert route.call_count == 1


@respx.mock
def test_a_connection_never_made_is_tried_again_with_the_same_key() -> None:
    route = respx.post(CANCEL)
    route.side_effect = [httpx.ConnectError("refused"), httpx.Response(200, json={})]
    receipt = make_connector().cancel(make_cancel())
    assert receipt.attempts == 2 and receipt.outcome == CancelOutcome.CANCELLED
    keys = {call.request.headers["Idempotency-Key"] for call in route.calls}
    assert keys == {"cancel-fo-7-1"}


@pytest.mark.parametrize(
    ("status", "body"), [(409, {"error": "key reused"}), (422, {"error": "bad line"}), (401, {})]
)
@respx.mock
def test_other_refusals_are_permanent(status: int, body: dict[str, Any]) -> None:
    respx.post(CANCEL).respond(status, json=body)
    with pytest.raises(PermanentError) as caught:
        make_connector().cancel(make_cancel())
    assert caught.value.reason == f"http_{status}"


def test_a_private_target_is_refused_before_any_request() -> None:
    connector = make_connector(base_url="http://wms.internal/api")
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(url__regex=".*").respond(200)
        with pytest.raises(UnsafeUrlError):
            connector.cancel(make_cancel())
        assert not route.called


def test_private_targets_are_allowed_in_dev_mode() -> None:
    runtime = ConnectorRuntime(allow_private_urls=True, retry_max_wait=RUNTIME.retry_max_wait)
    connector = make_connector(base_url="http://wms.internal/api", runtime=runtime)
    with respx.mock:
        respx.post("http://wms.internal/api/fulfilment-orders/7/cancel").respond(200)
        assert connector.cancel(make_cancel()).outcome == CancelOutcome.CANCELLED
