"""The console over HTTP: sign-in (cookie flags, throttling), CSRF on every POST, role and
scope checks, the exception actions through the services, PII masked by role."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from omniroute.api.app import create_app
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.audit import AuditFilter, list_entries
from omniroute.core.access.users import disable_user
from omniroute.core.bootstrap import Context, bootstrap
from omniroute.core.exceptions import queue as exception_queue
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import SalesOrder
from omniroute.core.platform.security import Role
from omniroute.core.stock import warehouses
from omniroute.worker.handlers import drain
from tests.conftest import make_settings
from tests.integration.builders import World, build_world, order_body, post, stock
from tests.integration.console_kit import (
    PASSWORD,
    csrf_in,
    make_user,
    session_csrf,
    sign_in,
)


def _unknown_sku_order(ctx: Context, world: World, number: int) -> int:
    post(ctx, world, order_body(number, [("NOT-A-SKU", 1)]))
    drain(ctx)
    (exc,) = [x for x in exception_queue.list_exceptions(ctx) if x.detail["problems"][0]["alias"]][
        -1:
    ]
    return exc.id


def test_sign_in_sets_a_http_only_lax_cookie_secure_by_default(ctx: Context) -> None:
    make_user(ctx, "alice", Role.SUPPORT)
    with TestClient(create_app(ctx), base_url="https://testserver") as client:
        form = client.get("/console/login")
        answer = client.post(
            "/console/login",
            data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_in(form.text)},
            follow_redirects=False,
        )
    assert answer.status_code == 303 and answer.headers["location"] == "/console/"
    cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith("omniroute_session=")
    )
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "secure", "samesite=lax", "path=/console"} <= flags


def test_pages_need_a_session_and_sign_out_ends_it(cctx: Context, app_client: TestClient) -> None:
    make_user(cctx, "alice", Role.SUPPORT)
    page = app_client.get("/console/exceptions", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/console/login?next=%2Fconsole%2Fexceptions"
    assert sign_in(app_client, "alice") == 303
    assert app_client.get("/console/exceptions").status_code == 200
    token = session_csrf(app_client)
    assert (
        app_client.post(
            "/console/logout", data={"csrf_token": token}, follow_redirects=False
        ).status_code
        == 303
    )
    assert app_client.get("/console/exceptions", follow_redirects=False).status_code == 303
    actors = [e["action"] for e in list_entries(cctx, AuditFilter(actor="user:alice"))]
    assert actors == ["user.login", "user.logout"]


def test_a_wrong_password_n_times_is_throttled_even_with_the_right_one_after(
    db_url: str,
) -> None:
    ctx = bootstrap(
        make_settings(db_url, console_cookie_secure=False, console_login_max_failures=3)
    )
    try:
        make_user(ctx, "bob", Role.VIEWER)
        with TestClient(create_app(ctx)) as client:
            assert [sign_in(client, "bob", "wrong password!") for _ in range(3)] == [401] * 3
            assert sign_in(client, "bob") == 429
            page = client.post("/console/login", data={}, follow_redirects=False)
            assert page.status_code == 403  # no login CSRF: refused before any password check
            assert sign_in(client, "nobody-else") == 401  # another username is not throttled
    finally:
        ctx.close()


def test_unknown_users_and_disabled_users_get_the_same_refusal(
    cctx: Context, app_client: TestClient
) -> None:
    make_user(cctx, "carol", Role.OPS)
    assert sign_in(app_client, "carol") == 303
    disable_user(cctx, "carol", actor="test")
    assert app_client.get("/console/", follow_redirects=False).status_code == 303
    assert sign_in(app_client, "carol") == 401
    assert sign_in(app_client, "no-such-user") == 401


def test_every_post_needs_the_session_csrf_token(
    cctx: Context, app_client: TestClient, wms: FakeWms
) -> None:
    world = build_world(cctx, wms.base_url)
    exception_id = _unknown_sku_order(cctx, world, 501)
    make_user(cctx, "dave", Role.SUPPORT)
    assert sign_in(app_client, "dave") == 303
    url = f"/console/exceptions/{exception_id}/resolve"
    refused = app_client.post(url, data={"note": "fixed by hand"})
    assert refused.status_code == 403 and "CSRF" in refused.text
    forged = app_client.post(url, data={"note": "fixed by hand", "csrf_token": "x" * 43})
    assert forged.status_code == 403
    assert exception_queue.get_exception(cctx, exception_id).status == "open"
    token = session_csrf(app_client)
    done = app_client.post(url, data={"note": "fixed by hand", "csrf_token": token})
    assert done.status_code == 200 and "Resolved, with your note." in done.text
    closed = exception_queue.get_exception(cctx, exception_id)
    assert (closed.status, closed.closed_by, closed.close_note) == (
        "resolved",
        "user:dave",
        "fixed by hand",
    )


def test_a_note_is_required_to_close(cctx: Context, app_client: TestClient, wms: FakeWms) -> None:
    world = build_world(cctx, wms.base_url)
    exception_id = _unknown_sku_order(cctx, world, 502)
    make_user(cctx, "erin", Role.SUPPORT)
    sign_in(app_client, "erin")
    token = session_csrf(app_client)
    blank = app_client.post(
        f"/console/exceptions/{exception_id}/dismiss", data={"note": "  ", "csrf_token": token}
    )
    assert blank.status_code == 422 and "a note is required" in blank.text
    dismissed = app_client.post(
        f"/console/exceptions/{exception_id}/dismiss",
        data={"note": "test order", "csrf_token": token},
    )
    assert dismissed.status_code == 200
    assert exception_queue.get_exception(cctx, exception_id).status == "dismissed"


def test_support_maps_the_unknown_sku_and_the_order_routes(
    cctx: Context, app_client: TestClient, wms: FakeWms
) -> None:
    world = build_world(cctx, wms.base_url)
    warehouses.upsert_sku(cctx, "WIDGET-1", "Widget", actor="test")
    stock(cctx, world.warehouse_ids["EAST"], "WIDGET-1", 10)
    exception_id = _unknown_sku_order(cctx, world, 503)
    make_user(cctx, "frank", Role.SUPPORT)
    sign_in(app_client, "frank")
    page = app_client.get(f"/console/exceptions/{exception_id}")
    assert "Map the channel" in page.text
    token = csrf_in(page.text)
    wrong = app_client.post(
        f"/console/exceptions/{exception_id}/map-sku",
        data={"alias": "SOMETHING-ELSE", "sku": "WIDGET-1", "csrf_token": token},
    )
    assert wrong.status_code == 422 and "does not name the alias" in wrong.text
    mapped = app_client.post(
        f"/console/exceptions/{exception_id}/map-sku",
        data={"alias": "NOT-A-SKU", "sku": "WIDGET-1", "csrf_token": token},
    )
    assert mapped.status_code == 200 and "SKU mapped" in mapped.text
    drain(cctx)
    assert exception_queue.get_exception(cctx, exception_id).status == "resolved"
    with unit_of_work(cctx.sessions) as s:
        assert s.scalar(select(SalesOrder.status)) == "released"
    actions = {e["action"] for e in list_entries(cctx, AuditFilter(actor="user:frank"))}
    assert {"sku_alias.create", "exception.retry"} <= actions
    assert "Audit trail" not in app_client.get(f"/console/exceptions/{exception_id}").text
    make_user(cctx, "fern", Role.OPS)
    app_client.cookies.clear()
    sign_in(app_client, "fern")
    shown = app_client.get(f"/console/exceptions/{exception_id}").text
    assert "Audit trail" in shown and "user:frank" in shown and "exception.retry" in shown


def test_support_is_refused_an_ops_page_and_a_viewer_an_action(
    cctx: Context, app_client: TestClient, wms: FakeWms
) -> None:
    world = build_world(cctx, wms.base_url)
    exception_id = _unknown_sku_order(cctx, world, 504)
    make_user(cctx, "gina", Role.SUPPORT)
    make_user(cctx, "hank", Role.VIEWER)
    sign_in(app_client, "gina")
    refused = app_client.get("/console/audit")
    assert refused.status_code == 403 and "audit:read" in refused.text
    app_client.cookies.clear()
    sign_in(app_client, "hank")
    token = session_csrf(app_client)
    retry = app_client.post(f"/console/exceptions/{exception_id}/retry", data={"csrf_token": token})
    assert retry.status_code == 403
    assert "Retry</button>" not in app_client.get(f"/console/exceptions/{exception_id}").text


def test_a_scoped_user_sees_only_their_channel(
    cctx: Context, app_client: TestClient, wms: FakeWms
) -> None:
    world = build_world(cctx, wms.base_url)
    exception_id = _unknown_sku_order(cctx, world, 505)
    with unit_of_work(cctx.sessions) as s:
        order_id = s.scalar(select(SalesOrder.id))
    make_user(cctx, "ivy", Role.OPS, connector_ids=[world.wms_id])
    sign_in(app_client, "ivy")
    assert app_client.get(f"/console/exceptions/{exception_id}").status_code == 404
    assert app_client.get(f"/console/orders/{order_id}").status_code == 404
    assert (
        f'href="/console/exceptions/{exception_id}"'
        not in app_client.get("/console/exceptions").text
    )
    assert f'href="/console/orders/{order_id}"' not in app_client.get("/console/orders").text


def test_personal_data_is_masked_without_pii_read(
    cctx: Context, app_client: TestClient, wms: FakeWms
) -> None:
    world = build_world(cctx, wms.base_url)
    exception_id = _unknown_sku_order(cctx, world, 506)
    make_user(cctx, "jack", Role.SUPPORT)
    make_user(cctx, "kate", Role.OPS)
    with unit_of_work(cctx.sessions) as s:
        email = s.scalar(select(SalesOrder.customer_email))
    assert email
    sign_in(app_client, "jack")
    masked = app_client.get(f"/console/exceptions/{exception_id}").text
    assert email not in masked and "personal data masked" in masked and "•••" in masked
    app_client.cookies.clear()
    sign_in(app_client, "kate")
    assert email in app_client.get(f"/console/exceptions/{exception_id}").text
    with unit_of_work(cctx.sessions) as s:
        order_id = s.scalar(select(SalesOrder.id))
    order_page = app_client.get(f"/console/orders/{order_id}").text
    assert email in order_page and "Audit trail" in order_page


def test_queue_filters_counts_and_orders_search(
    cctx: Context, app_client: TestClient, wms: FakeWms
) -> None:
    world = build_world(cctx, wms.base_url)
    first = _unknown_sku_order(cctx, world, 507)
    second = _unknown_sku_order(cctx, world, 508)
    make_user(cctx, "lena", Role.VIEWER)
    sign_in(app_client, "lena")
    page = app_client.get("/console/exceptions?reason=unknown_sku").text
    assert page.index(f"/console/exceptions/{first}") < page.index(f"/console/exceptions/{second}")
    assert "unknown_sku</a>: 2" in page
    assert (
        "/console/exceptions/"
        not in app_client.get("/console/exceptions?reason=no_stock").text.split("Oldest first")[1]
    )
    assert "past due" not in page.split("Oldest first")[1]
    late = app_client.get("/console/exceptions?older_than_hours=1").text
    assert f"/console/exceptions/{first}" not in late
    found = app_client.get("/console/orders?number=%23508").text
    assert "#508" in found and "#507" not in found
    assert app_client.get("/console/exceptions?reason=bogus").status_code == 400
    dash = app_client.get("/console/").text
    assert "open exceptions" in dash and "exception" in dash


def test_the_queue_pages_by_keyset(
    cctx: Context, app_client: TestClient, wms: FakeWms, monkeypatch: pytest.MonkeyPatch
) -> None:
    from omniroute.api.console import exception_routes

    monkeypatch.setattr(exception_routes, "PAGE", 1)
    world = build_world(cctx, wms.base_url)
    first = _unknown_sku_order(cctx, world, 601)
    second = _unknown_sku_order(cctx, world, 602)
    make_user(cctx, "max", Role.VIEWER)
    sign_in(app_client, "max")
    page = app_client.get("/console/exceptions").text
    assert f"/console/exceptions/{first}" in page and f"/console/exceptions/{second}" not in page
    assert f"after={first}" in page
    following = app_client.get(f"/console/exceptions?after={first}").text
    assert f"/console/exceptions/{second}" in following and "Next page" not in following
