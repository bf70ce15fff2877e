"""End to end with a fake TMS on 127.0.0.1 (a real HTTP server) and the fake WMS: an order
comes in through the webhook API, is released to the WMS, rate-shopped across the REST TMS
and a rate table, booked with the TMS (the first booking answered 503, the retry carries the
same Idempotency-Key and service, not shopped again), the warehouse confirms the shipment
through the API without a tracking number and it takes the TMS's, the order shows the
booking, and the freight report shows the cost.

SQLite by default, PostgreSQL too when OMNIROUTE_TEST_PG_URL is set; no broker: the work the
API queues runs in this process (``drain``), as the embedded deployment runs it."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from omniroute.api.app import create_app
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.channels import connector_admin
from omniroute.core.fulfilment.shipments import ShipmentInput, confirm_shipment
from omniroute.core.housekeeping.sweeper import sweep
from omniroute.core.intake.polling import poll_connector
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import (
    CarrierBooking,
    FulfilmentOrder,
    OrderException,
    OutboxMessage,
    SalesOrder,
    Shipment,
)
from omniroute.core.platform.security import Role
from omniroute.worker.handlers import drain
from tests.e2e.fake_http import FakeHttp, Reply, Request
from tests.integration.builders import order_body, signed_headers
from tests.integration.test_carrier_booking import UPS, Shop, open_shop


@pytest.fixture
def shop(db_url: str, wms: FakeWms) -> Iterator[Shop]:
    yield from open_shop(db_url, wms)


class FakeTms:
    """Quotes one express and one standard service; books with tracking numbers TMS0001..."""

    def __init__(self) -> None:
        self.http = FakeHttp()
        self.numbers = itertools.count(1)
        self.booked: dict[str, dict[str, Any]] = {}
        self.http.route("POST", r"/api/rates", self._rates)
        self.http.route("POST", r"/api/shipments", self._book)
        self.http.route("GET", r"/api/tracking/[^/]+", self._track)
        # A carrier without webhooks: its scans per tracking number, in its own codes.
        self.scans: dict[str, list[dict[str, str]]] = {}

    def _track(self, request: Request) -> Reply:
        number = request.path.rsplit("/", 1)[1]
        if number not in self.scans:
            return Reply(404, {"error": "unknown tracking number"})
        events = self.scans[number]
        return Reply(200, {"tracking_number": number, "carrier": "Acme", "events": events})

    def _rates(self, request: Request) -> Reply:
        weight = sum(p["weight_kg"] for p in request.json["parcels"])
        return Reply(
            200,
            {
                "quotes": [
                    {"carrier": "Acme", "service": "eco", "service_level": "standard",
                     "transit_days": 3, "amount": f"{4.0 + weight:.2f}", "currency": "USD"},
                    {"carrier": "Acme", "service": "jet", "service_level": "express",
                     "transit_days": 1, "amount": "30.00", "currency": "USD"},
                ]
            },
        )  # fmt: skip

    def _book(self, request: Request) -> Reply:
        key = request.headers["idempotency-key"]
        if key in self.booked:
            return Reply(409, {"duplicate": True, **self.booked[key]})
        answer = {
            "tracking_number": f"TMS{next(self.numbers):04d}",
            "label_ref": f"https://labels.example/{key}.pdf",
            "amount": request.json["quoted_amount"],
            "currency": "USD",
        }
        self.booked[key] = answer
        return Reply(201, answer)


def test_order_rated_booked_with_the_tms_and_shipped_with_its_tracking(shop: Shop) -> None:
    tms = FakeTms()
    with tms.http:
        connector_admin.create_connector(
            shop.ctx,
            kind="carrier_rest",
            name="acme-tms",
            config={"base_url": f"{tms.http.base_url}/api", "warehouses": ["EAST"]},
            secrets={"api_key": "tms-secret"},
            enabled=True,
            actor="test",
        )
        connector_admin.create_connector(
            shop.ctx, kind="carrier_rates", name="ups-table", config=UPS, secrets={},
            enabled=True, actor="test",
        )  # fmt: skip
        tms.http.fail("POST", r"/api/shipments", Reply(503, {"error": "busy"}))
        shipper = create_token(shop.ctx, role=Role.WAREHOUSE, name="wms")
        viewer = create_token(shop.ctx, role=Role.VIEWER, name="viewer")
        with TestClient(create_app(shop.ctx)) as client:
            body = order_body(6001, [("IPOD2008GREEN", 1), ("IPOD2008RED", 2)])
            posted = client.post(
                f"/webhooks/{shop.world.shopify_id}",
                content=body,
                headers=signed_headers(body),
            )
            assert posted.status_code == 200, posted.text
            drain(shop.ctx)  # intake, routing, release to the WMS, first booking (503)
            with unit_of_work(shop.ctx.sessions) as s:
                row = s.scalars(
                    select(OutboxMessage).where(OutboxMessage.kind == "carrier.booking")
                ).one()
                assert (row.status, row.attempts) == ("pending", 1)
                assert row.last_error is not None and "503" in row.last_error
            shop.clock.at += timedelta(minutes=1)  # past the backoff: the sweeper's turn
            sweep(shop.ctx, now=shop.clock.at)
            drain(shop.ctx)

            bookings = [r for r in tms.http.requests if r.path == "/api/shipments"]
            assert len(bookings) == 2  # the 503, then the retry
            assert len({r.headers["idempotency-key"] for r in bookings}) == 1
            assert all(r.headers["authorization"] == "Bearer tms-secret" for r in bookings)
            with unit_of_work(shop.ctx.sessions) as s:
                booking = s.scalars(select(CarrierBooking)).one()
                fo_id = s.scalars(select(FulfilmentOrder.id)).one()
                order = s.scalars(select(SalesOrder)).one()
                # 1.0 kg: Acme eco 5.00 beats UPS ground 9.90 and Acme jet 30.00.
                assert (booking.carrier, booking.service, booking.amount) == ("Acme", "eco", "5.00")
                assert booking.tracking_number == "TMS0001"
                assert booking.label_ref is not None and booking.label_ref.endswith(".pdf")
                assert order.promised_deliver_by == shop.clock.at.date() + timedelta(days=3)

            confirmed = client.post(
                f"/api/v1/fulfilment-orders/{fo_id}/shipments",
                json={"external_ref": "PKG-1"},
                headers={"Authorization": f"Bearer {shipper}"},
            )
            assert confirmed.status_code == 201, confirmed.text
            with unit_of_work(shop.ctx.sessions) as s:
                shipment = s.scalars(select(Shipment)).one()
                assert (shipment.carrier, shipment.tracking_number) == ("Acme", "TMS0001")

            detail = client.get(
                f"/api/v1/orders/{order.id}", headers={"Authorization": f"Bearer {viewer}"}
            )
            assert detail.status_code == 200, detail.text
            (booked,) = detail.json()["carrier_bookings"]
            assert (booked["tracking_number"], booked["amount"]) == ("TMS0001", "5.00")
            assert detail.json()["promised_deliver_by"] == booked["deliver_by"]

            day = shop.clock.at.date()
            report = client.get(
                "/api/v1/reports/freight",
                params={"since": day.isoformat(), "until": (day + timedelta(days=1)).isoformat()},
                headers={"Authorization": f"Bearer {viewer}"},
            )
            assert report.status_code == 200, report.text
            assert [(r["carrier"], r["total"]) for r in report.json()] == [("Acme", "5.00")]
    rates = [r for r in tms.http.requests if r.path == "/api/rates"]
    # Quoted once: the retry books the service the first attempt sent, without shopping again.
    assert len(rates) == 1
    assert rates[0].json["destination"]["postal_code"] == "40202"


def test_a_refused_booking_opens_an_exception_with_the_carriers_reason(shop: Shop) -> None:
    tms = FakeTms()
    with tms.http:
        connector_admin.create_connector(
            shop.ctx,
            kind="carrier_rest",
            name="acme-tms",
            config={"base_url": f"{tms.http.base_url}/api"},
            secrets={},
            enabled=True,
            actor="test",
        )
        tms.http.fail("POST", r"/api/shipments", Reply(422, {"error": "address not serviceable"}))
        with TestClient(create_app(shop.ctx)) as client:
            body = order_body(6002, [("IPOD2008GREEN", 1)])
            posted = client.post(
                f"/webhooks/{shop.world.shopify_id}", content=body, headers=signed_headers(body)
            )
            assert posted.status_code == 200, posted.text
            drain(shop.ctx)
    with unit_of_work(shop.ctx.sessions) as s:
        order = s.scalars(select(SalesOrder)).one()
        assert order.status == "released"  # the order is not lost: still at its warehouse
        row = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "carrier.booking")).one()
        assert row.status == "dead"
        (problem,) = s.scalars(
            select(OrderException).where(OrderException.reason == "carrier_booking_failed")
        ).all()
        assert problem.order_id == order.id
        assert problem.detail["carrier_reason"] == "http_422"
        assert "address not serviceable" in problem.detail["message"]
        assert problem.detail["choice"]["chosen"]["service"] == "eco"
        assert s.scalars(select(CarrierBooking)).first() is None


def test_a_carrier_without_webhooks_is_polled_for_its_parcels(shop: Shop) -> None:
    tms = FakeTms()
    with tms.http:
        carrier = connector_admin.create_connector(
            shop.ctx,
            kind="carrier_rest",
            name="acme-tms",
            config={
                "base_url": f"{tms.http.base_url}/api",
                "tracking_path": "/tracking/{tracking_number}",
                "status_map": {"PU": "in_transit", "OD": "out_for_delivery", "DL": "delivered"},
            },
            secrets={},
            enabled=True,
            actor="test",
        )
        body = order_body(6003, [("IPOD2008GREEN", 1)])
        with TestClient(create_app(shop.ctx)) as client:
            posted = client.post(
                f"/webhooks/{shop.world.shopify_id}", content=body, headers=signed_headers(body)
            )
            assert posted.status_code == 200, posted.text
        drain(shop.ctx)
        with unit_of_work(shop.ctx.sessions) as s:
            fo_id = s.scalars(select(FulfilmentOrder.id)).one()
        confirm_shipment(shop.ctx, fo_id, ShipmentInput("PKG-1", None), actor="wms")
        with unit_of_work(shop.ctx.sessions) as s:
            shipment = s.scalars(select(Shipment)).one()
            assert shipment.tracking_number == "TMS0001"
        day = shop.clock.at.date().isoformat()
        tms.scans["TMS0001"] = [{"status": "PU", "occurred_at": f"{day}T15:00:00Z"}]

        def turn() -> int:
            shop.clock.at += timedelta(hours=1)  # past the poll interval
            result = poll_connector(shop.ctx, carrier.id, now=shop.clock.at)
            assert result.error is None, result.error
            drain(shop.ctx)
            return result.new_messages

        def status() -> str:
            with unit_of_work(shop.ctx.sessions) as s:
                return str(s.scalars(select(Shipment.status)).one())

        assert turn() == 1
        assert status() == "in_transit"
        assert turn() == 0  # the same history again: nothing stored twice
        tms.scans["TMS0001"] += [
            {"status": "OD", "occurred_at": f"{day}T20:00:00Z"},
            {"status": "DL", "occurred_at": f"{day}T22:00:00Z", "location": "Louisville"},
        ]
        assert turn() == 1
        assert status() == "delivered"
        with unit_of_work(shop.ctx.sessions) as s:
            assert s.scalars(select(SalesOrder.status)).one() == "delivered"
        asked = len(tms.http.requests_to("GET", r"/api/tracking/"))
        assert turn() == 0
        assert len(tms.http.requests_to("GET", r"/api/tracking/")) == asked  # delivered: not asked
