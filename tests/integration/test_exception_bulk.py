"""Acting on every exception a filter matches, and dead letters listed and redriven at once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import unquote_plus

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from omniroute.api.app import create_app
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.audit import AuditFilter, list_entries
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context, bootstrap
from omniroute.core.exceptions import queue as exception_queue
from omniroute.core.housekeeping.sweeper import sweep
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import OutboxMessage
from omniroute.core.platform.security import Role
from omniroute.worker.handlers import drain
from tests.conftest import make_settings
from tests.integration.builders import World, build_world, order_body, post, stock
from tests.integration.console_kit import make_user, session_csrf, sign_in


@pytest.fixture
def bctx(db_url: str) -> Iterator[Context]:
    context = bootstrap(make_settings(db_url, outbox_max_attempts=1))
    yield context
    context.close()


@pytest.fixture
def api(bctx: Context) -> Iterator[TestClient]:
    with TestClient(create_app(bctx)) as c:
        yield c


def bearer(ctx: Context, role: Role, connector_ids: list[int] | None = None) -> dict[str, str]:
    token = create_token(ctx, role=role, name=role.value, connector_ids=connector_ids)
    return {"Authorization": f"Bearer {token}"}


def unknown_sku_orders(ctx: Context, world: World, n: int) -> None:
    for i in range(n):
        post(ctx, world, order_body(9_300 + i, [(f"NOT-A-SKU-{i}", 1)]))
    drain(ctx)


def open_count(ctx: Context) -> int:
    return len(exception_queue.list_exceptions(ctx, status="open"))


def test_assign_then_dismiss_everything_the_filter_matches(
    bctx: Context, api: TestClient, wms: FakeWms
) -> None:
    world = build_world(bctx, wms.base_url)
    unknown_sku_orders(bctx, world, 7)
    support = bearer(bctx, Role.SUPPORT)
    where = {"reason": "unknown_sku"}

    assigned = api.post(
        "/api/v1/exceptions/bulk/assign",
        headers=support,
        json={"filter": where, "assignee": "team-a"},
    )
    assert assigned.status_code == 200, assigned.text
    assert assigned.json() | {"refusals": []} == {
        "action": "assign",
        "matched": 7,
        "done": 7,
        "refused": 0,
        "refusals": [],
        "more": False,
    }
    mine = api.get("/api/v1/exceptions?assignee=team-a", headers=support).json()
    assert len(mine) == 7

    stale = api.post(
        "/api/v1/exceptions/bulk/dismiss",
        headers=support,
        json={"filter": where, "note": "test orders", "expected": 6},
    )
    assert stale.status_code == 409 and stale.json()["code"] == "count_changed"
    assert open_count(bctx) == 7  # nothing was done

    no_note = api.post(
        "/api/v1/exceptions/bulk/dismiss", headers=support, json={"filter": where, "note": ""}
    )
    assert no_note.status_code == 422
    viewer = bearer(bctx, Role.VIEWER)
    denied = api.post("/api/v1/exceptions/bulk/retry", headers=viewer, json={"filter": where})
    assert denied.status_code == 403
    scoped = bearer(bctx, Role.SUPPORT, connector_ids=[world.wms_id])
    elsewhere = api.post("/api/v1/exceptions/bulk/retry", headers=scoped, json={"filter": where})
    assert elsewhere.json()["matched"] == 0  # another channel's exceptions are not its own

    dismissed = api.post(
        "/api/v1/exceptions/bulk/dismiss",
        headers=support,
        json={"filter": {**where, "assignee": "team-a"}, "note": "test orders", "expected": 7},
    )
    assert dismissed.status_code == 200, dismissed.text
    assert (dismissed.json()["done"], dismissed.json()["refused"]) == (7, 0)
    assert open_count(bctx) == 0
    audited = list_entries(bctx, AuditFilter(action="exception.dismiss"), limit=50)
    assert len(audited) == 7 and {a["detail"]["note"] for a in audited} == {"test orders"}

    again = api.post(
        "/api/v1/exceptions/bulk/resolve",
        headers=support,
        json={"filter": {**where, "status": "all"}, "note": "again"},
    )
    body = again.json()
    assert (body["matched"], body["done"], body["refused"]) == (7, 0, 7)
    assert {r["code"] for r in body["refusals"]} == {"closed"}


def _outbox(ctx: Context, status: str) -> int:
    with unit_of_work(ctx.sessions) as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == status)
            )
            or 0
        )


def _until(ctx: Context, status: str, count: int) -> None:
    deadline = time.monotonic() + 60
    while _outbox(ctx, status) != count:
        assert time.monotonic() < deadline, f"never {count} {status} outbox rows"
        sweep(ctx)
        drain(ctx)
        time.sleep(0.02)


def test_dead_letters_are_listed_masked_and_redriven_all_at_once(
    bctx: Context, api: TestClient, wms: FakeWms
) -> None:
    world = build_world(bctx, wms.base_url)
    stock(bctx, world.warehouse_ids["EAST"], "A", 100)
    wms.set_down(True)
    for n in range(3):
        post(bctx, world, order_body(9_400 + n, [("A", 1)]))
    drain(bctx)
    _until(bctx, "dead", 3)

    support, ops = bearer(bctx, Role.SUPPORT), bearer(bctx, Role.OPS)
    listed = api.get("/api/v1/dead-letters", headers=support)
    assert listed.status_code == 200, listed.text
    rows = listed.json()
    assert [r["kind"] for r in rows] == ["wms.release"] * 3
    assert all(r["exception_id"] and r["exception_status"] == "open" for r in rows)
    assert all(r["last_error"] for r in rows)
    # A release's row names its fulfilment order; what is sent is read when it is sent.
    assert all(set(r["payload"]) == {"fulfilment_order_id"} for r in rows)
    assert rows[0]["fulfilment_order_id"] == rows[0]["payload"]["fulfilment_order_id"]
    assert api.get("/api/v1/dead-letters?kind=channel.stock", headers=ops).json() == []

    elsewhere = api.post(
        "/api/v1/exceptions/bulk/retry",
        headers=support,
        json={"filter": {"warehouse_id": world.warehouse_ids["WEST"]}},
    )
    assert elsewhere.json()["matched"] == 0  # every release went to EAST
    wms.set_down(False)
    redriven = api.post(
        "/api/v1/exceptions/bulk/retry",
        headers=support,
        json={
            "filter": {
                "dead_letters_only": True,
                "outbox_kind": "wms.release",
                "warehouse_id": world.warehouse_ids["EAST"],
            },
            "expected": 3,
        },
    )
    assert redriven.status_code == 200, redriven.text
    assert (redriven.json()["done"], redriven.json()["refused"]) == (3, 0)
    _until(bctx, "sent", 3)
    assert api.get("/api/v1/dead-letters", headers=ops).json() == []
    assert wms.accepted_count == 3


@pytest.fixture
def console(bctx: Context) -> Iterator[TestClient]:
    ctx = bootstrap(make_settings(bctx.settings.database_url, console_cookie_secure=False))
    try:
        with TestClient(create_app(ctx)) as c:
            yield c
    finally:
        ctx.close()


def test_the_console_acts_on_all_matching_and_redrives_dead_letters(
    bctx: Context, console: TestClient, wms: FakeWms
) -> None:
    world = build_world(bctx, wms.base_url)
    unknown_sku_orders(bctx, world, 4)
    stock(bctx, world.warehouse_ids["EAST"], "A", 100)
    wms.set_down(True)
    for n in range(2):
        post(bctx, world, order_body(9_500 + n, [("A", 1)]))
    drain(bctx)
    _until(bctx, "dead", 2)

    make_user(bctx, "sam", Role.SUPPORT)
    sign_in(console, "sam")
    csrf = session_csrf(console)
    queue = console.get("/console/exceptions?reason=unknown_sku")
    assert "All 4 matching" in queue.text
    east = world.warehouse_ids["EAST"]
    by_house = console.get(f"/console/exceptions?warehouse_id={east}")
    assert "All 2 matching" in by_house.text  # the two dead releases, not the unknown SKUs
    where = "status=open&reason=unknown_sku"
    stale = console.post(
        f"/console/exceptions/bulk/dismiss?{where}",
        data={"csrf_token": csrf, "expected": "3", "note": "test"},
        follow_redirects=False,
    )
    assert "not done: the filter matches 4" in unquote_plus(stale.headers["location"])
    assigned = console.post(
        f"/console/exceptions/bulk/assign?{where}",
        data={"csrf_token": csrf, "expected": "4", "to": "me"},
    )
    assert "assign: 4 of 4 done" in assigned.text
    assert len(exception_queue.list_exceptions(bctx, assignee="sam")) == 4

    page = console.get("/console/dead-letters")
    assert page.status_code == 200
    assert page.text.count("<td>wms.release</td>") == 2 and "Redrive all 2" in page.text
    wms.set_down(False)
    redriven = console.post(
        "/console/exceptions/bulk/retry?status=open&dead_letters=1&snoozed=1&kind=wms.release",
        data={"csrf_token": csrf, "expected": "2"},
    )
    assert redriven.url.path == "/console/dead-letters"
    assert "retry: 2 of 2 done" in redriven.text
    _until(bctx, "sent", 2)
    assert "None: every message was delivered" in console.get("/console/dead-letters").text
