"""In a real browser: support fixes the address of an order parked for a bad postal code,
from the exception's page, and sees the order routed (chromium, live uvicorn, embedded
worker; see test_console_browser.py for the set-up it shares)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.bootstrap import bootstrap
from omniroute.core.platform.security import Role
from omniroute.core.stock import warehouses
from omniroute.worker.handlers import drain
from tests.browser.test_console_browser import (
    CHROMIUM,
    Live,
    _nav,
    _page,
    _shot,
    _sign_in,
    _until,
    browser,
    serve,
)
from tests.conftest import make_settings
from tests.integration.builders import build_world, post, sample_order, stock
from tests.integration.console_kit import make_user

__all__ = ["browser"]  # the fixture, shared

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing: install Debian's chromium"
)
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def live(tmp_path: Path, sqlite_template: Path) -> Iterator[Live]:
    """One order to the US with a four-digit ZIP, parked with a bad_address exception."""
    path = tmp_path / "console.db"
    shutil.copy(sqlite_template, path)
    ctx = bootstrap(make_settings(f"sqlite:///{path}", console_cookie_secure=False))
    with FakeWms() as wms:
        world = build_world(ctx, wms.base_url)
        warehouses.upsert_sku(ctx, "MUG-BLUE", "Blue mug", actor="test")
        stock(ctx, world.warehouse_ids["EAST"], "MUG-BLUE", 20)
        order = sample_order()
        template = order["line_items"][0]
        order.update(id=7101, name="#7101")
        order["line_items"] = [{**template, "id": 710100, "sku": "MUG-BLUE", "quantity": 1}]
        order["shipping_address"] = {**order["shipping_address"], "zip": "4020"}
        post(ctx, world, json.dumps(order).encode())
        drain(ctx)
        make_user(ctx, "sam", Role.SUPPORT)
        try:
            with serve(ctx) as base_url:
                yield Live(base_url, ctx)
        finally:
            ctx.close()


def test_support_fixes_an_address_on_the_exception_and_sees_the_order_routed(
    live: Live, browser: Any
) -> None:
    page = _page(browser)
    _sign_in(page, live, "sam")
    sync_api.expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    sync_api.expect(
        page.get_by_role("img", name="Orders per hour, last 24 hours (UTC)")
    ).to_be_visible()
    _shot(page, "dashboard-charts")
    _nav(page, "Exceptions").click()
    page.get_by_label("Code", exact=True).select_option("bad_address")
    rows = page.locator("table.queue tbody tr")
    sync_api.expect(rows).to_have_count(1)
    rows.first.get_by_role("link").first.click()
    sync_api.expect(page.locator("#exception-status")).to_have_text("open")

    postal = page.get_by_label("Postal code")
    sync_api.expect(postal).to_have_value("4020")
    postal.fill("ABCDE")
    page.get_by_role("button", name="Save the address and route the order").click()
    sync_api.expect(page.get_by_role("alert")).to_contain_text("not a valid postal code for US")

    page.get_by_label("Postal code").fill("40202")
    page.get_by_label("Why (kept in the audit trail)").fill("customer confirmed the ZIP")
    _shot(page, "exception-address")
    page.get_by_role("button", name="Save the address and route the order").click()
    sync_api.expect(page.get_by_role("status")).to_contain_text("Shipping address saved")

    def routed() -> bool:
        page.reload()
        return page.locator("#order-status").inner_text() == "released"

    _until(routed, "the order was not routed after its address was fixed")
    sync_api.expect(page.locator("#exception-status")).to_have_text("resolved")
    page.get_by_role("link", name="#7101").click()
    sync_api.expect(page.locator("#order-status")).to_have_text("released")
