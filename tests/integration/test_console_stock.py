"""Warehouses and stock in the console: levels per warehouse and SKU with low stock marked
(no sellable units above safety, or below a replenishment min), search by SKU, keyset pages,
an adjustment with a reason through the inventory service (ledger row, audited, a refusal
shown), and the ledger newest first; roles, warehouse scopes and CSRF."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from omniroute.api.app import create_app
from omniroute.api.console import stock_routes
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.audit import AuditFilter, list_entries
from omniroute.core.access.users import NewUser, create_user
from omniroute.core.bootstrap import Context
from omniroute.core.platform.security import Role
from omniroute.core.replenishment.thresholds import ThresholdSpec, set_threshold
from omniroute.core.stock import inventory, warehouses
from tests.integration.builders import World, build_world, stock
from tests.integration.console_kit import PASSWORD, make_user, session_csrf, sign_in


@pytest.fixture
def world(cctx: Context, wms: FakeWms) -> World:
    built = build_world(cctx, wms.base_url)
    for sku in ("MUG", "CUP", "BOWL"):
        warehouses.upsert_sku(cctx, sku, sku.title(), actor="test")
    east, west = built.warehouse_ids["EAST"], built.warehouse_ids["WEST"]
    stock(cctx, east, "MUG", 20, safety=2)
    stock(cctx, west, "MUG", 2, safety=2)  # nothing sellable above safety: low
    stock(cctx, east, "CUP", 8)  # under its replenishment min below: low
    stock(cctx, east, "BOWL", 50)
    set_threshold(cctx, ThresholdSpec(east, "CUP", min_units=10, max_units=40), actor="test")
    return built


@pytest.fixture
def client(cctx: Context, world: World) -> Iterator[TestClient]:
    with TestClient(create_app(cctx)) as c:
        yield c


def as_user(cctx: Context, client: TestClient, name: str, role: Role, **kw: object) -> str:
    make_user(cctx, name, role, **kw)  # type: ignore[arg-type]
    assert sign_in(client, name) == 303
    return session_csrf(client)


def rows(html: str) -> list[tuple[str, str, bool]]:
    """(warehouse label, SKU, low) of each row of the stock table."""
    found = re.findall(r'<tr( class="low")?>\s*<td>([^<]+)</td>\s*<td><a [^>]+>([^<]+)</a>', html)
    return [(label.split(" ·")[0], sku, bool(low)) for low, label, sku in found]


def test_levels_with_low_stock_marked_and_search_by_sku(
    cctx: Context, world: World, client: TestClient
) -> None:
    as_user(cctx, client, "vic", Role.VIEWER)
    page = client.get("/console/stock")
    assert page.status_code == 200
    assert rows(page.text) == [
        ("EAST", "MUG", False),
        ("WEST", "MUG", True),
        ("EAST", "CUP", True),
        ("EAST", "BOWL", False),
    ]
    assert 'href="/console/stock"' in page.text  # the nav link, for stock:read
    mugs = client.get("/console/stock", params={"sku": "MUG"}).text
    assert [r[:2] for r in rows(mugs)] == [("EAST", "MUG"), ("WEST", "MUG")]
    west = client.get("/console/stock", params={"warehouse_id": world.warehouse_ids["WEST"]})
    assert [r[:2] for r in rows(west.text)] == [("WEST", "MUG")]
    assert (
        "Adjust on hand"
        not in client.get(
            "/console/stock/ledger",
            params={"warehouse_id": world.warehouse_ids["EAST"], "sku": "MUG"},
        ).text
    )  # a viewer reads, does not change


def test_keyset_pages(
    cctx: Context, world: World, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stock_routes, "PAGE", 3)
    as_user(cctx, client, "vic", Role.VIEWER)
    first = client.get("/console/stock").text
    assert len(rows(first)) == 3
    following = re.search(r'rel="next" href="([^"]+)"', first)
    assert following
    second = client.get(following.group(1).replace("&amp;", "&")).text
    assert [r[1] for r in rows(second)] == ["BOWL"] and 'rel="next"' not in second


def test_ops_adjusts_with_a_reason_and_sees_the_ledger_newest_first(
    cctx: Context, world: World, client: TestClient
) -> None:
    csrf = as_user(cctx, client, "olga", Role.OPS)
    east = world.warehouse_ids["EAST"]
    done = client.post(
        "/console/stock/adjust",
        data={
            "csrf_token": csrf,
            "warehouse_id": east,
            "sku": "MUG",
            "delta": "-3",
            "reason": "damage",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    page = client.get(done.headers["location"])
    assert 'id="done"' in page.text and re.search(r'id="on-hand">17<', page.text)
    ledger = page.text.split('id="ledger"', 1)[1]
    reasons = re.findall(r"<td>(damage|set)</td>", ledger)
    assert reasons == ["damage", "set"]  # newest first
    assert "user:olga" in ledger and "-3" in ledger
    done_by_olga = list_entries(cctx, AuditFilter(actor="user:olga"), limit=10)
    assert [e["action"] for e in done_by_olga if e["action"].startswith("stock.")] == [
        "stock.adjust"
    ]

    too_many = client.post(
        "/console/stock/adjust",
        data={
            "csrf_token": csrf,
            "warehouse_id": east,
            "sku": "MUG",
            "delta": "-50",
            "reason": "count",
        },
    )
    assert too_many.status_code == 409 and "below zero" in too_many.text
    for delta, reason, says in (
        ("abc", "count", "whole number"),
        ("0", "count", "changes nothing"),
        ("5", " ", "Say why"),
    ):
        bad = client.post(
            "/console/stock/adjust",
            data={
                "csrf_token": csrf,
                "warehouse_id": east,
                "sku": "MUG",
                "delta": delta,
                "reason": reason,
            },
        )
        assert bad.status_code == 422 and says in bad.text, (delta, bad.text)
    assert inventory.list_stock(cctx, warehouse_id=east, sku="MUG")[0].on_hand == 17


def test_ledger_pages_older_entries(
    cctx: Context, world: World, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stock_routes, "LEDGER_PAGE", 2)
    east = world.warehouse_ids["EAST"]
    for n in (1, 2, 3):
        inventory.adjust_stock(cctx, east, "BOWL", delta=n, actor="test", reason=f"r{n}")
    as_user(cctx, client, "vic", Role.VIEWER)
    url = "/console/stock/ledger"
    first = client.get(url, params={"warehouse_id": east, "sku": "BOWL"}).text
    assert re.findall(r"<td>(r\d|set)</td>", first) == ["r3", "r2"]
    older = re.search(r'rel="next" href="([^"]+)"', first)
    assert older
    second = client.get(older.group(1).replace("&amp;", "&")).text
    assert re.findall(r"<td>(r\d|set)</td>", second) == ["r1", "set"]


def test_roles_scopes_and_csrf(cctx: Context, world: World, client: TestClient) -> None:
    east, west = world.warehouse_ids["EAST"], world.warehouse_ids["WEST"]
    form = {"warehouse_id": east, "sku": "MUG", "delta": "1", "reason": "count"}
    csrf = as_user(cctx, client, "sam", Role.SUPPORT)
    refused = client.post("/console/stock/adjust", data={"csrf_token": csrf, **form})
    assert refused.status_code == 403 and "stock:write" in refused.text
    client.post("/console/logout", data={"csrf_token": csrf})

    csrf = as_user(cctx, client, "olga", Role.OPS)
    assert client.post("/console/stock/adjust", data=form).status_code == 403  # no CSRF
    client.post("/console/logout", data={"csrf_token": csrf})
    assert inventory.list_stock(cctx, warehouse_id=east, sku="MUG")[0].on_hand == 20

    make_user(cctx, "wes", Role.WAREHOUSE)
    sign_in(client, "wes")
    assert client.get("/console/stock").status_code == 403
    client.post("/console/logout", data={"csrf_token": session_csrf(client)})

    create_user(cctx, NewUser("ivy", Role.OPS, warehouse_ids=[west]), PASSWORD, actor="test")
    sign_in(client, "ivy")
    csrf = session_csrf(client)
    mine = client.get("/console/stock").text  # no warehouse asked for: the first of hers
    assert [r[:2] for r in rows(mine)] == [("WEST", "MUG")] and "EAST" not in mine
    assert client.get("/console/stock", params={"warehouse_id": east}).status_code == 404
    ledger = client.get("/console/stock/ledger", params={"warehouse_id": east, "sku": "MUG"})
    assert ledger.status_code == 404
    outside = client.post("/console/stock/adjust", data={"csrf_token": csrf, **form})
    assert outside.status_code == 404
    assert inventory.list_stock(cctx, warehouse_id=east, sku="MUG")[0].on_hand == 20
