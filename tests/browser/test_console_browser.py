"""The console in a real browser: Debian's chromium driven by Playwright against a live
uvicorn server on 127.0.0.1 (embedded SQLite, the in-process worker).

Skips with how to install it when /usr/bin/chromium is absent. With
OMNIROUTE_SCREENSHOTS=<dir> the tests save screenshots of the main pages there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import uvicorn

from omniroute.api.app import create_app
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.bootstrap import Context, bootstrap
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import Connector, SalesOrder
from omniroute.core.stock import warehouses
from omniroute.worker.embedded import EmbeddedRunner
from omniroute.worker.handlers import drain
from tests.conftest import make_settings
from tests.integration.builders import build_world, order_body, post, stock
from tests.integration.console_kit import PASSWORD, make_user

CHROMIUM = "/usr/bin/chromium"
SHOTS = os.environ.get("OMNIROUTE_SCREENSHOTS", "")

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason=f"{CHROMIUM} is missing: install Debian's chromium "
    "(apt-get update && apt-get install -y chromium) to run the browser tests",
)
sync_api = pytest.importorskip("playwright.sync_api")


@dataclass
class Live:
    base_url: str
    ctx: Context


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serve(ctx: Context) -> Iterator[str]:
    """The console app with the in-process worker, served by uvicorn in a thread on a free
    port of 127.0.0.1; its base URL."""
    runner = EmbeddedRunner(ctx)
    ctx.dispatcher = runner
    app = create_app(ctx, on_startup=runner.start, on_shutdown=runner.stop)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture
def live(tmp_path: Path, sqlite_template: Path) -> Iterator[Live]:
    """A world with two orders waiting on an unknown SKU, served by uvicorn in a thread."""
    path = tmp_path / "console.db"
    shutil.copy(sqlite_template, path)
    ctx = bootstrap(make_settings(f"sqlite:///{path}", console_cookie_secure=False))
    with FakeWms() as wms:
        world = build_world(ctx, wms.base_url)
        warehouses.upsert_sku(ctx, "MUG-BLUE", "Blue mug", actor="test")
        stock(ctx, world.warehouse_ids["EAST"], "MUG-BLUE", 20)
        for number in (7001, 7002):
            post(ctx, world, order_body(number, [("CHANNEL-MUG", 1)]))
        drain(ctx)
        make_user(ctx, "sam", _role("support"))
        make_user(ctx, "olga", _role("ops"))
        try:
            with serve(ctx) as base_url:
                yield Live(base_url, ctx)
        finally:
            ctx.close()


def _role(name: str) -> Any:
    from omniroute.core.platform.security import Role

    return Role(name)


@pytest.fixture
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-background-networking"],
        )
        try:
            yield chromium
        finally:
            chromium.close()


def _page(browser: Any) -> Any:
    page = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
    page.set_default_timeout(10_000)
    return page


def _shot(page: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def _sign_in(page: Any, live: Live, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{live.base_url}/console/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_label("Password").press("Enter")  # the keyboard, not a click


def _nav(page: Any, name: str) -> Any:
    return page.get_by_role("navigation", name="Console").get_by_role("link", name=name)


def _until(check: Callable[[], bool], what: str, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_support_maps_the_oldest_unknown_sku_and_the_order_is_released(
    live: Live, browser: Any
) -> None:
    page = _page(browser)
    _sign_in(page, live, "sam")
    sync_api.expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    _shot(page, "dashboard")

    _nav(page, "Exceptions").click()
    page.get_by_label("Code", exact=True).select_option(
        "unknown_sku"
    )  # htmx swaps the list in place
    sync_api.expect(page).to_have_url(re.compile(r"/console/exceptions\?.*reason=unknown_sku"))
    rows = page.locator("table.queue tbody tr")
    sync_api.expect(rows).to_have_count(2)
    _shot(page, "exception-queue")
    oldest = rows.first.get_by_role("link").first
    oldest_name = oldest.get_attribute("aria-label")
    oldest.click()
    assert oldest_name and page.get_by_role("heading", level=1).inner_text().startswith(
        oldest_name.split(":")[0]
    )
    sync_api.expect(page.locator("#exception-status")).to_have_text("open")
    sync_api.expect(page.locator("pre.payload")).to_contain_text("•••")  # no pii:read
    _shot(page, "exception")

    page.get_by_label("Map the channel's CHANNEL-MUG to catalogue SKU").fill("MUG-BLUE")
    page.get_by_role("button", name="Map SKU and retry waiting orders").click()
    sync_api.expect(page.get_by_role("status")).to_contain_text("SKU mapped")

    def released() -> bool:
        page.reload()
        return page.locator("#order-status").inner_text() == "released"

    _until(released, "the order was not released after the SKU was mapped")
    sync_api.expect(page.locator("#exception-status")).to_have_text("resolved")
    _nav(page, "Exceptions").click()
    sync_api.expect(page.locator("table.queue")).to_have_count(0)  # none open is left
    _nav(page, "Orders").click()
    page.locator("table.orders a").first.click()
    sync_api.expect(page.locator("#order-status")).to_have_text("released")
    _shot(page, "order")


def test_support_is_refused_an_ops_page(live: Live, browser: Any) -> None:
    page = _page(browser)
    _sign_in(page, live, "sam")
    sync_api.expect(_nav(page, "Audit")).to_have_count(0)
    answer = page.goto(f"{live.base_url}/console/audit")
    assert answer is not None and answer.status == 403
    sync_api.expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    sync_api.expect(page.get_by_role("alert")).to_contain_text("audit:read")


def test_ops_sees_the_audit_trail_with_the_user_named(live: Live, browser: Any) -> None:
    page = _page(browser)
    _sign_in(page, live, "olga")
    _nav(page, "Audit").click()
    page.get_by_label("Who").fill("user:olga")
    page.get_by_role("button", name="Filter").click()
    sync_api.expect(page.locator("table")).to_contain_text("user.login")


def test_a_wrong_password_n_times_is_throttled(live: Live, browser: Any) -> None:
    page = _page(browser)
    for _ in range(live.ctx.settings.console_login_max_failures):
        _sign_in(page, live, "sam", "not my password")
        sync_api.expect(page.get_by_role("alert")).to_have_text("wrong username or password")
    _sign_in(page, live, "sam")
    sync_api.expect(page.get_by_role("alert")).to_contain_text("too many failed sign-ins")
    sync_api.expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_ops_edits_a_rule_simulates_schedules_and_withdraws_it(live: Live, browser: Any) -> None:
    with unit_of_work(live.ctx.sessions) as s:
        shop_id = s.scalars(
            sa.select(Connector.id).where(Connector.kind == "shopify").order_by(Connector.id)
        ).first()
    page = _page(browser)
    _sign_in(page, live, "olga")
    _nav(page, "Rules").click()
    sync_api.expect(page.get_by_role("heading", name="Routing rules")).to_be_visible()
    doc = {
        "name": "east-first",
        "timezone": "UTC",
        "default": {"ranking": ["priority"]},
        "rules": [
            {
                "id": "east",
                "when": {"field": "country", "op": "eq", "value": "US"},
                "then": {"warehouses": {"include": ["EASTT"]}},
            }
        ],
    }
    page.get_by_label("Rule set (JSON; starts from the active version)").fill(json.dumps(doc))
    page.get_by_role("button", name="Save draft").click()
    sync_api.expect(page.get_by_role("status")).to_contain_text("Draft saved")
    sync_api.expect(page.locator("#rule-errors")).to_contain_text("EASTT")  # the typo, named

    editor = page.get_by_label("Rule set (JSON)", exact=True)
    editor.fill(editor.input_value().replace("EASTT", "EAST"))
    page.get_by_role("button", name="Save and check").click()
    sync_api.expect(page.locator("#rule-valid")).to_be_visible()
    _shot(page, "rule-draft")

    order = {
        "connector_id": shop_id,
        "ship_to": {"country": "US", "postal_code": "10001"},
        "lines": [{"sku": "MUG-BLUE", "quantity": 1}],
    }
    page.get_by_label("or a pasted canonical order", exact=False).fill(json.dumps(order))
    page.get_by_role("button", name="Simulate (changes nothing)").click()
    sync_api.expect(page.get_by_role("region", name="Simulation result")).to_contain_text("EAST: 1")

    tomorrow = live.ctx.clock.now() + timedelta(days=1)
    page.get_by_label("Effective from (UTC; empty: now)").fill(tomorrow.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Publish", exact=True).click()
    sync_api.expect(page.get_by_role("status")).to_contain_text("scheduled")
    sync_api.expect(page.locator("#rule-state")).to_have_text("scheduled")

    page.get_by_label("Reason").fill("not this week")
    page.get_by_role("button", name="Withdraw").click()
    sync_api.expect(page.locator("#rule-state")).to_have_text("withdrawn")
    page.get_by_role("link", name="All versions").click()
    sync_api.expect(page.locator("table.rules")).to_contain_text("withdrawn")
    _shot(page, "rules")


def test_ops_adjusts_stock_with_a_reason_and_sees_the_ledger_row(live: Live, browser: Any) -> None:
    page = _page(browser)
    _sign_in(page, live, "olga")
    _nav(page, "Stock").click()
    page.get_by_label("SKU").fill("MUG-BLUE")
    page.get_by_role("button", name="Search").click()
    page.locator("table.stock").get_by_role("link", name="MUG-BLUE").first.click()
    sync_api.expect(page.locator("#on-hand")).to_have_text("20")
    page.get_by_label("Units to add (negative to remove)").fill("-4")
    page.get_by_label("Reason").fill("damage")
    page.get_by_label("Reason").press("Enter")
    sync_api.expect(page.get_by_role("status")).to_contain_text("Stock adjusted")
    sync_api.expect(page.locator("#on-hand")).to_have_text("16")
    newest = page.locator("table[aria-labelledby=ledger] tbody tr").first
    sync_api.expect(newest).to_contain_text("damage")
    sync_api.expect(newest).to_contain_text("-4")
    sync_api.expect(newest).to_contain_text("user:olga")
    _shot(page, "stock-ledger")


def test_admin_edits_a_connector_config_and_disables_it(live: Live, browser: Any) -> None:
    make_user(live.ctx, "ada", _role("admin"))
    page = _page(browser)
    _sign_in(page, live, "ada")
    _nav(page, "Connectors").click()
    page.get_by_role("link", name="shop", exact=True).click()
    config = page.get_by_label("Settings (JSON, checked against the shopify settings)")
    config.fill('{"shop_domian": "demo.myshopify.com"}')
    page.get_by_role("button", name="Save configuration").click()
    sync_api.expect(page.locator("#problems")).to_contain_text("config.shop_domian")
    config.fill('{"shop_domain": "demo.myshopify.com"}')
    page.get_by_label("access_token").fill("shpat_browser_test_token")
    page.get_by_role("button", name="Save configuration").click()
    sync_api.expect(page.get_by_role("status")).to_contain_text("Configuration saved")
    sync_api.expect(page.locator("#secrets-set")).to_have_text("access_token, webhook_secret")
    assert "shpat_browser_test_token" not in page.content()
    page.get_by_role("button", name="Disable").click()
    sync_api.expect(page.locator("#enabled")).to_have_text("no")
    _shot(page, "connector")


def test_a_user_scoped_to_another_channel_gets_not_found(live: Live, browser: Any) -> None:
    with unit_of_work(live.ctx.sessions) as s:
        wms_id = s.scalars(sa.select(Connector.id).where(Connector.kind == "rest_wms")).one()
        order_id = s.scalars(sa.select(SalesOrder.id).order_by(SalesOrder.id)).first()
    make_user(live.ctx, "ivy", _role("ops"), connector_ids=[wms_id])
    page = _page(browser)
    _sign_in(page, live, "ivy")
    answer = page.goto(f"{live.base_url}/console/orders/{order_id}")
    assert answer is not None and answer.status == 404
    sync_api.expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    _nav(page, "Orders").click()
    sync_api.expect(page.locator("table.orders")).to_have_count(0)  # none of its channel's
