"""The generic REST WMS connector's return notice, against respx (no real network)."""

from __future__ import annotations

import json

import pydantic
import pytest
import respx

from omniroute.connectors.base import (
    Capability,
    PermanentError,
    ReleaseReceipt,
    ReturnExpecter,
    ReturnLine,
    ReturnRequest,
    TransientError,
)
from omniroute.connectors.wms.rest import RestWmsConfig, RestWmsConnector
from tests.unit.test_rest_wms import BASE, fake_dns, make_connector  # noqa: F401

RETURNS = f"{BASE}/returns"


def request(*, cancelled: bool = False) -> ReturnRequest:
    return ReturnRequest(
        return_id=5,
        rma_number="RMA-000005-1001",
        order_id=3,
        order_reference="#1001",
        warehouse_code="AMS-1",
        lines=(ReturnLine(11, "SKU-RED", 2, "li-1"),),
        reason="damaged",
        idempotency_key="return-5-expect",
        note="box crushed",
        cancelled=cancelled,
    )


def test_declares_the_return_capability_and_path() -> None:
    assert Capability.RETURN_NOTICE in RestWmsConnector.capabilities
    assert isinstance(make_connector(), ReturnExpecter)
    assert RestWmsConfig(base_url=BASE).return_path == "/returns"
    with pytest.raises(pydantic.ValidationError):
        RestWmsConfig(base_url=BASE, return_path="//evil.example/x")


@respx.mock
def test_posts_the_return_with_its_key() -> None:
    route = respx.post(RETURNS).respond(201, json={"id": "RET-9"})
    receipt = make_connector().expect_return(request())
    assert receipt == ReleaseReceipt(external_ref="RET-9", status_code=201, attempts=1)
    sent = route.calls.last.request
    assert sent.headers["Idempotency-Key"] == "return-5-expect"
    assert json.loads(sent.content) == {
        "return_id": 5,
        "rma_number": "RMA-000005-1001",
        "order_id": 3,
        "order_reference": "#1001",
        "warehouse_code": "AMS-1",
        "reason": "damaged",
        "note": "box crushed",
        "cancelled": False,
        "lines": [{"line_id": 11, "sku": "SKU-RED", "quantity": 2}],
    }


@respx.mock
def test_a_duplicate_is_a_success_a_5xx_transient_a_4xx_permanent() -> None:
    respx.post(RETURNS).respond(409, json={"duplicate": True})
    assert make_connector().expect_return(request(cancelled=True)).status_code == 409
    respx.post(RETURNS).respond(503)
    with pytest.raises(TransientError):
        make_connector().expect_return(request())
    respx.post(RETURNS).respond(422, json={"error": "unknown sku"})
    with pytest.raises(PermanentError):
        make_connector().expect_return(request())
