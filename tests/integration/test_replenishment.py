"""Replenishment on a generated year of orders, checked against a hand calculation; stock
alerts raised once per crossing; thresholds by API and CSV; the CLI's suggestions as CSV."""

from __future__ import annotations

import csv
import io
import math
import random
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from omniroute.api.app import create_app
from omniroute.connectors.erp_rest.demo_server import FakeErp
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context, bootstrap
from omniroute.core.channels import connector_admin
from omniroute.core.platform.clock import utcnow
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.errors import Invalid, NotFound
from omniroute.core.platform.models import StockAlert, StockThreshold
from omniroute.core.platform.security import Role
from omniroute.core.platform.telemetry.gauges import read
from omniroute.core.replenishment import alerts, suggestions, thresholds
from omniroute.core.replenishment.thresholds import ThresholdSpec
from omniroute.core.stock import inventory, warehouses
from omniroute.core.stock import levels as stock
from omniroute.worker.handlers import drain
from tests.clocks import MovableClock
from tests.conftest import make_settings
from tests.integration.replenishment_history import Allocation, write_history

HALF_LIFE = 28.0  # forecast.HALF_LIFE_DAYS, restated for the hand calculation


def last_monday() -> datetime:
    today = utcnow().date()
    return datetime.combine(today - timedelta(days=today.weekday()), time(6, 0))


@pytest.fixture
def shop(db_url: str) -> Iterator[tuple[Context, MovableClock, dict[str, int]]]:
    clock = MovableClock(last_monday())
    ctx = bootstrap(make_settings(db_url), clock=clock)
    ids = {}
    for code in ("EAST", "WEST"):
        wh = warehouses.create_warehouse(
            ctx,
            {"code": code, "name": code, "country": "US", "postal_code": "10001"},
            actor="test",
        )
        ids[code] = wh.id
    with unit_of_work(ctx.sessions) as session:
        for sku in ("STEADY", "MONDAYS", "NEW", "SILENT"):
            stock.ensure_sku(session, sku)
    yield ctx, clock, ids
    ctx.close()


def generated_year(today: date, east: int, west: int) -> tuple[list[Allocation], list[float]]:
    """A year of orders, seeded; and MONDAYS' daily units at EAST (oldest first)."""
    rng = random.Random(15)
    out: list[Allocation] = []
    mondays: list[float] = []
    for back in range(364, 0, -1):
        day = today - timedelta(days=back)

        def at(day: date = day) -> datetime:
            return datetime.combine(day, time(rng.randrange(24), rng.randrange(60)))

        # STEADY: 6 units a day at EAST in one to three orders, 1 a day at WEST.
        split = sorted(rng.sample(range(1, 6), rng.randrange(3)))
        for a, b in zip([0, *split], [*split, 6], strict=True):
            out.append(Allocation(at(), east, "STEADY", b - a))
        out.append(Allocation(at(), west, "STEADY", 1))
        # Not demand: a fulfilment order rejected (re-routed) and units cancelled.
        if back % 30 == 0:
            out.append(Allocation(at(), east, "STEADY", 9, status="rejected"))
            out.append(Allocation(at(), east, "STEADY", 5, cancelled=5))
        # MONDAYS: from week 3 on, 5 to 15 units on Mondays only.
        units = rng.randint(5, 15) if day.weekday() == 0 and back < 350 else 0
        if units:
            out.append(Allocation(at(), east, "MONDAYS", units))
        mondays.append(float(units))
    return out, mondays


def hand_forecast(days: list[float], last: date) -> tuple[float, list[float]]:
    """The documented method written out: EW rate from the first sale (at least 14 days),
    weekday means over the last 182 days of that history (8 weeks or more), Monday first."""
    first = next(i for i, v in enumerate(days) if v > 0)
    history = max(len(days) - first, 14)
    num = den = 0.0
    for age in range(history):
        w = 0.5 ** (age / HALF_LIFE)
        num += w * days[-1 - age]
        den += w
    sums = [0.0] * 7
    counts = [0] * 7
    for age in range(min(history, 182)):
        weekday = (last - timedelta(days=age)).weekday()
        sums[weekday] += days[-1 - age]
        counts[weekday] += 1
    means = [s / c for s, c in zip(sums, counts, strict=True)]
    overall = sum(means) / 7
    return num / den, [m / overall for m in means]


def test_suggestions_on_a_generated_year_match_the_hand_calculation(
    shop: tuple[Context, MovableClock, dict[str, int]],
) -> None:
    ctx, clock, wh = shop
    today = clock.at.date()  # a Monday
    history, mondays = generated_year(today, wh["EAST"], wh["WEST"])
    write_history(ctx, history)
    inventory.set_stock(ctx, wh["EAST"], "STEADY", on_hand=50, safety=10, actor="t")
    inventory.set_stock(ctx, wh["WEST"], "STEADY", on_hand=60, safety=0, actor="t")
    inventory.set_stock(ctx, wh["EAST"], "MONDAYS", on_hand=8, safety=0, actor="t")
    inventory.set_stock(ctx, wh["EAST"], "SILENT", on_hand=5, safety=0, actor="t")
    for spec in (
        ThresholdSpec(wh["EAST"], "STEADY", min_days=7, max_days=21, lead_time_days=5,
                      review_period_days=2, pack_size=12),
        ThresholdSpec(wh["WEST"], "STEADY", min_units=5, max_units=20, lead_time_days=7),
        ThresholdSpec(wh["EAST"], "MONDAYS", min_units=10, max_days=14, lead_time_days=3, moq=30),
        ThresholdSpec(wh["WEST"], "NEW", min_units=4, max_units=10, pack_size=6),
        ThresholdSpec(wh["EAST"], "SILENT", min_units=2, max_units=2),
    ):  # fmt: skip
        thresholds.set_threshold(ctx, spec, actor="t")

    result = suggestions.run(ctx, actor="t")

    # By hand. STEADY at EAST: rate 6 (the rejected and cancelled units are not demand),
    # min 7 days = 42, max 21 days = 126, 7 days of lead + review = 42 units, available
    # 50 - 10 = 40: projected -2, need 128. WEST: rate 1, max 20, 7 days = 7 units,
    # available 60: projected 53, surplus 33, all sent to EAST; EAST buys 95 -> 8 packs
    # of 12 = 96.
    # MONDAYS at EAST: today is a Monday, 3 days of lead time are Mon, Tue, Wed: only
    # Monday's share of the week.
    rate, profile = hand_forecast(mondays, today - timedelta(days=1))
    lead = rate * profile[0]
    high = max(math.ceil(14 * rate - 1e-9), 10)
    projected = 8 - lead
    monday_need = math.ceil(high - projected - 1e-9)
    assert projected < 10
    # NEW at WEST: no history, no stock: need 10 -> 12 (packs of 6).
    # SILENT at EAST: 5 available over a max of 2, no taker: nothing.
    got = [(x.kind, x.sku, x.warehouse, x.from_warehouse, x.quantity, x.need) for x in result.lines]
    assert got == [
        ("transfer", "STEADY", "EAST", "WEST", 33, 128),
        ("purchase", "MONDAYS", "EAST", "", max(monday_need, 30), monday_need),
        ("purchase", "NEW", "WEST", "", 12, 10),
        ("purchase", "STEADY", "EAST", "", 96, 95),
    ]
    by_key = {(x.sku, x.warehouse, x.kind): x for x in result.lines}
    assert by_key["MONDAYS", "EAST", "purchase"].forecast_daily == pytest.approx(rate, abs=1e-4)
    assert by_key["MONDAYS", "EAST", "purchase"].horizon_demand == pytest.approx(lead, abs=0.01)
    assert by_key["STEADY", "EAST", "purchase"].forecast_daily == pytest.approx(6.0)
    assert result.series == 5

    with unit_of_work(ctx.sessions) as session:
        rates = {
            (t.sku, t.warehouse_id): t.forecast_daily
            for t in session.scalars(select(StockThreshold))
        }
        open_alerts = sorted(
            (a.sku, a.kind, a.available, a.threshold)
            for a in session.scalars(select(StockAlert).where(StockAlert.status == "open"))
        )
    assert rates["STEADY", wh["EAST"]] == pytest.approx(6.0)
    assert rates["NEW", wh["WEST"]] == 0.0
    # MONDAYS (8 < 10) and NEW (0 < 4) when their thresholds were set; SILENT over its max;
    # STEADY at EAST once the run gave its days of cover a rate (40 < 42); WEST above 20.
    assert open_alerts == [
        ("MONDAYS", "below_min", 8, 10),
        ("NEW", "below_min", 0, 4),
        ("SILENT", "above_max", 5, 2),
        ("STEADY", "above_max", 60, 20),
        ("STEADY", "below_min", 40, 42),
    ]

    again = suggestions.run(ctx, actor="t")
    listed = suggestions.list_suggestions(ctx)
    assert {s.run_id for s in listed} == {again.run_id}
    assert len(suggestions.list_suggestions(ctx, status="superseded")) == 4


def test_no_thresholds_no_suggestions(shop: tuple[Context, MovableClock, dict[str, int]]) -> None:
    ctx, _, _ = shop
    result = suggestions.run(ctx, actor="t")
    assert (result.series, result.lines) == (0, [])


def test_an_alert_is_raised_once_per_crossing_and_cleared(
    shop: tuple[Context, MovableClock, dict[str, int]],
) -> None:
    ctx, clock, wh = shop
    east = wh["EAST"]
    inventory.set_stock(ctx, east, "STEADY", on_hand=20, safety=0, actor="t")
    thresholds.set_threshold(ctx, ThresholdSpec(east, "STEADY", min_units=10), actor="t")
    assert alerts.check_alerts(ctx) == 0

    def adjust(delta: int) -> int:
        clock.at += timedelta(minutes=1)
        inventory.adjust_stock(ctx, east, "STEADY", delta=delta, actor="t", reason="count")
        return alerts.check_alerts(ctx)

    assert adjust(-15) == 1  # 5 < 10: raised
    assert adjust(-1) == 0  # still below: the same alert
    assert adjust(+2) == 0
    [alert] = alerts.list_alerts(ctx)
    assert (alert.kind, alert.available, alert.threshold) == ("below_min", 5, 10)
    assert adjust(+4) == 1  # 10: back, cleared
    assert alerts.list_alerts(ctx) == []
    assert adjust(-7) == 1  # 3: a second crossing, a second alert
    # Reserved units count: available is on hand - reserved - safety.
    assert [a.available for a in alerts.list_alerts(ctx)] == [3]
    cleared = alerts.list_alerts(ctx, status="cleared")
    assert [(a.cleared_available, a.cleared_at is not None) for a in cleared] == [(10, True)]
    with ctx.engine.connect() as conn:
        reading = read(conn, clock.now(), stock_cursor="stock_ledger")
    assert dict(reading.stock_alerts_open) == {("below_min",): 1.0, ("above_max",): 0.0}


def test_thresholds_are_checked(shop: tuple[Context, MovableClock, dict[str, int]]) -> None:
    ctx, _, wh = shop
    with pytest.raises(Invalid, match="min_units must not exceed max_units"):
        thresholds.set_threshold(
            ctx, ThresholdSpec(wh["EAST"], "STEADY", min_units=9, max_units=3), actor="t"
        )
    with pytest.raises(Invalid, match="at least one"):
        thresholds.set_threshold(ctx, ThresholdSpec(wh["EAST"], "STEADY"), actor="t")
    with pytest.raises(NotFound, match="SKU"):
        thresholds.set_threshold(ctx, ThresholdSpec(wh["EAST"], "NOPE", min_units=1), actor="t")


def test_csv_import_is_all_or_nothing(shop: tuple[Context, MovableClock, dict[str, int]]) -> None:
    ctx, _, wh = shop
    bad = "warehouse,sku,min_units,max_units\nEAST,STEADY,5,50\nMARS,STEADY,1,2\nWEST,NEW,9,1\n"
    with pytest.raises(Invalid) as caught:
        thresholds.import_csv(ctx, bad, actor="t")
    assert "line 3: unknown warehouse 'MARS'" in str(caught.value)
    assert "line 4: min_units must not exceed max_units" in str(caught.value)
    assert thresholds.list_thresholds(ctx) == []
    good = (
        "warehouse,sku,min_days,max_days,lead_time_days,pack_size,moq\nEAST,STEADY,7,21.5,5,12,24\n"
    )
    assert thresholds.import_csv(ctx, good, actor="t") == 1
    [row] = thresholds.list_thresholds(ctx)
    assert (row.warehouse_id, row.min_days, row.max_days, row.pack_size, row.moq) == (
        wh["EAST"], 7, 21.5, 12, 24,
    )  # fmt: skip


def test_api_sets_lists_and_runs(shop: tuple[Context, MovableClock, dict[str, int]]) -> None:
    ctx, _, wh = shop
    ops = {"Authorization": f"Bearer {create_token(ctx, role=Role.OPS, name='ops')}"}
    viewer = {"Authorization": f"Bearer {create_token(ctx, role=Role.VIEWER, name='v')}"}
    body = {
        "warehouse_id": wh["WEST"],
        "sku": "NEW",
        "min_units": 4,
        "max_units": 10,
        "pack_size": 6,
    }
    with TestClient(create_app(ctx)) as client:
        assert client.put("/api/v1/stock/thresholds", json=body, headers=viewer).status_code == 403
        put = client.put("/api/v1/stock/thresholds", json=body, headers=ops)
        assert put.status_code == 200, put.text
        assert put.json()["pack_size"] == 6
        bad = client.put("/api/v1/stock/thresholds", json=body | {"min_units": 11}, headers=ops)
        assert bad.status_code == 422
        assert bad.headers["content-type"].startswith("application/problem+json")
        unknown = client.put("/api/v1/stock/thresholds", json=body | {"sku": "X"}, headers=ops)
        assert unknown.status_code == 404
        listed = client.get("/api/v1/stock/thresholds", headers=viewer).json()
        assert [(t["sku"], t["min_units"]) for t in listed] == [("NEW", 4)]
        alerts_now = client.get("/api/v1/stock/alerts", headers=viewer).json()
        assert [(a["sku"], a["kind"]) for a in alerts_now] == [("NEW", "below_min")]
        assert client.post("/api/v1/replenishment/runs", headers=viewer).status_code == 403
        run = client.post("/api/v1/replenishment/runs", headers=ops)
        assert run.status_code == 201
        assert run.json() | {"run_id": ""} == {
            "run_id": "",
            "series": 1,
            "purchases": 1,
            "transfers": 0,
        }
        rows = client.get("/api/v1/replenishment/suggestions", headers=viewer).json()
        assert [(r["kind"], r["sku"], r["quantity"], r["status"]) for r in rows] == [
            ("purchase", "NEW", 12, "proposed")
        ]


def test_cli_imports_and_suggests_csv(
    shop: tuple[Context, MovableClock, dict[str, int]],
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from omniroute.cli.main import app

    settings = make_settings(db_url)
    monkeypatch.setenv("OMNIROUTE_DATABASE_URL", db_url)
    monkeypatch.setenv("OMNIROUTE_SECRET_KEY", str(settings.secret_key))
    folder = tmp_path
    (folder / "t.csv").write_text("warehouse,sku,min_units,max_units,pack_size\nWEST,NEW,4,10,6\n")
    runner = CliRunner()
    imported = runner.invoke(app, ["replenishment", "import-thresholds", str(folder / "t.csv")])
    assert imported.exit_code == 0, imported.output
    out = folder / "s.csv"
    done = runner.invoke(app, ["replenishment", "suggest", "--out", str(out)])
    assert done.exit_code == 0, done.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(r["kind"], r["sku"], r["warehouse"], r["quantity"]) for r in rows] == [
        ("purchase", "NEW", "WEST", "12")
    ]


def test_the_sweeper_checks_alerts(shop: tuple[Context, MovableClock, dict[str, int]]) -> None:
    from omniroute.core.housekeeping.sweeper import sweep

    ctx, _, wh = shop
    inventory.set_stock(ctx, wh["WEST"], "SILENT", on_hand=3, safety=0, actor="t")
    sweep(ctx)  # no threshold yet: the cursor moves on, nothing opens
    assert alerts.list_alerts(ctx) == []
    thresholds.set_threshold(ctx, ThresholdSpec(wh["WEST"], "SILENT", min_units=5), actor="t")
    [opened] = alerts.list_alerts(ctx)  # at once, when set
    inventory.adjust_stock(ctx, wh["WEST"], "SILENT", delta=10, actor="t", reason="receipt")
    sweep(ctx)
    assert alerts.list_alerts(ctx) == []
    assert [a.id for a in alerts.list_alerts(ctx, status="cleared")] == [opened.id]


def test_proposed_purchases_go_to_the_erp_once_and_can_be_dismissed(
    shop: tuple[Context, MovableClock, dict[str, int]],
) -> None:
    ctx, clock, wh = shop
    ops = {"Authorization": f"Bearer {create_token(ctx, role=Role.OPS, name='ops')}"}
    for sku, lead in (("NEW", 5), ("STEADY", 0)):
        spec = {"warehouse_id": wh["WEST"], "sku": sku, "min_units": 4, "max_units": 10}
        thresholds.set_threshold(ctx, ThresholdSpec(**spec, lead_time_days=lead), actor="t")
    with FakeErp() as erp, TestClient(create_app(ctx)) as client:
        refused = client.post("/api/v1/replenishment/suggestions/send", json={}, headers=ops)
        assert (refused.status_code, refused.json()["code"]) == (409, "no_erp")
        connector_admin.create_connector(
            ctx,
            kind="erp_rest",
            name="erp",
            config={"base_url": erp.base_url},
            secrets={"auth_header_value": "token k:s"},
            enabled=True,
            actor="test",
        )
        assert client.post("/api/v1/replenishment/runs", headers=ops).status_code == 201
        rows = client.get("/api/v1/replenishment/suggestions", headers=ops).json()
        ids = {r["sku"]: r["id"] for r in rows}
        assert set(ids) == {"NEW", "STEADY"}
        dismissed = client.post(
            "/api/v1/replenishment/suggestions/dismiss",
            json={"suggestion_ids": [ids["STEADY"]]},
            headers=ops,
        )
        assert dismissed.json() == [ids["STEADY"]]
        sent = client.post("/api/v1/replenishment/suggestions/send", json={}, headers=ops)
        assert sent.status_code == 200, sent.text
        assert sent.json()["suggestion_ids"] == [ids["NEW"]]
        drain(ctx)
        (request,) = erp.bodies("/purchase-requests")
        needed_by = (clock.now() + timedelta(days=5)).date().isoformat()
        assert (request["sku"], request["warehouse"], request["needed_by"]) == (
            "NEW",
            "WEST",
            needed_by,
        )
        again = client.post(
            "/api/v1/replenishment/suggestions/send",
            json={"suggestion_ids": [ids["NEW"]]},
            headers=ops,
        )
        assert (again.status_code, again.json()["code"]) == (409, "not_proposed")
        drain(ctx)
        assert len(erp.bodies("/purchase-requests")) == 1
        statuses = {
            r["sku"]: r["status"]
            for r in client.get("/api/v1/replenishment/suggestions?status=all", headers=ops).json()
        }
        assert statuses == {"NEW": "sent", "STEADY": "dismissed"}
