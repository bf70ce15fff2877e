"""``omniroute rules`` on a real database: the backtest read by people (summary table,
JSON, CSV, per-order changes), and versions listed, withdrawn, rolled back and compared."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from omniroute.cli.main import app
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context
from omniroute.core.order_routing import rule_sets
from omniroute.core.platform.security import Role
from omniroute.worker.handlers import drain
from tests.conftest import SECRET_KEY
from tests.integration.builders import order_body, signed_headers
from tests.integration.test_routing_rules_api import WEST_FIRST, world


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("OMNIROUTE_DATABASE_URL", db_url)
    monkeypatch.setenv("OMNIROUTE_SECRET_KEY", SECRET_KEY)
    return CliRunner()


def three_orders_from_nyc(client: TestClient, ctx: Context, wms_url: str) -> None:
    ids = world(client, ctx, wms_url)
    admin = {"Authorization": f"Bearer {create_token(ctx, role=Role.ADMIN, name='a')}"}
    for code, base in (("NYC", 5.0), ("LAX", 9.0)):
        band = {"max_km": 20_000, "base": base, "per_kg": 1.0}
        changed = client.patch(
            f"/api/v1/warehouses/{ids[code]}", headers=admin, json={"rate_table": [band]}
        )
        assert changed.status_code == 200, changed.text
    for n in range(3):
        body = order_body(900 + n, [("A", 3)])
        client.post(f"/webhooks/{ids['shop']}", content=body, headers=signed_headers(body))
    drain(ctx)


def test_backtest_prints_a_summary_table_then_changes_on_request(
    client: TestClient, ctx: Context, wms: FakeWms, cli: CliRunner, tmp_path: Path
) -> None:
    three_orders_from_nyc(client, ctx, wms.base_url)
    rules = tmp_path / "west.json"
    rules.write_text(json.dumps(WEST_FIRST))

    table = cli.invoke(app, ["rules", "backtest", str(rules), "--last", "10"])
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[0] == "Backtest of west-first (backtest)"
    assert lines[1].split() == ["before", "after", "change"]
    figures = {line[:20].strip(): line[20:].split() for line in lines[2:9]}
    assert figures["orders replayed"] == ["3"]
    assert figures["decisions changed"] == ["3"]
    assert figures["fill rate"] == ["100.0%", "100.0%", "+0.0", "pt"]
    assert figures["split rate"] == ["0.0%", "0.0%", "+0.0", "pt"]
    assert figures["shipping cost"] == ["15.00", "27.00", "+12.00"]  # 3 x 5 -> 3 x 9
    assert "Shipping cost over 3 orders: estimated shipping cost" in table.output
    assert "--show-changes" in table.output and "\norder " not in table.output
    assert len(table.output) < 2000  # the headline, not 76 KB of JSON

    shown = cli.invoke(app, ["rules", "backtest", str(rules), "--show-changes"])
    assert shown.exit_code == 0, shown.output
    changed = [line for line in shown.output.splitlines() if line.startswith("order ")]
    assert len(changed) == 3
    assert all(line.endswith("NYC (single) -> LAX (single)") for line in changed)

    as_json = cli.invoke(app, ["rules", "backtest", str(rules), "--format", "json"])
    report = json.loads(as_json.output)
    assert next(iter(report)) == "summary"
    assert report["summary"]["figures"]["shipping_cost"] == {
        "label": "shipping cost",
        "before": 15.0,
        "after": 27.0,
        "delta": 12.0,
        "means": report["summary"]["figures"]["shipping_cost"]["means"],
        "orders_priced": 3,
    }

    as_csv = cli.invoke(app, ["rules", "backtest", str(rules), "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(as_csv.output)))
    assert len(rows) == 3
    assert {(r["before_warehouses"], r["after_warehouses"]) for r in rows} == {("NYC", "LAX")}
    assert {(r["before_shipping_cost"], r["after_shipping_cost"]) for r in rows} == {("5.0", "9.0")}

    out = tmp_path / "changes.jsonl"
    written = cli.invoke(app, ["rules", "backtest", str(rules), "--changes", str(out)])
    assert written.exit_code == 0 and f"3 changed orders written to {out}" in written.output
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    assert [c["after"]["warehouses"] for c in kept] == [["LAX"]] * 3
    spreadsheet = tmp_path / "changes.csv"
    cli.invoke(app, ["rules", "backtest", str(rules), "--changes", str(spreadsheet)])
    assert spreadsheet.read_text().startswith("order_id,external_id,decided_at,")

    api = client.post(
        "/api/v1/routing/backtest",
        headers={"Authorization": f"Bearer {create_token(ctx, role=Role.SUPPORT, name='s')}"},
        json={"document": WEST_FIRST},
    ).json()
    assert next(iter(api)) == "summary" and api["summary"]["decisions_changed"] == 3


def test_versions_listed_withdrawn_rolled_back_and_compared(
    client: TestClient, ctx: Context, wms: FakeWms, cli: CliRunner
) -> None:
    world(client, ctx, wms.base_url)
    first = rule_sets.create_draft(ctx, WEST_FIRST, notes=None, actor="t")
    rule_sets.publish(ctx, first.id, effective_from=None, actor="t")
    east = {**WEST_FIRST, "name": "east", "rules": []}
    second = rule_sets.create_draft(ctx, east, notes=None, actor="t")
    rule_sets.publish(ctx, second.id, effective_from=None, actor="t")
    later = rule_sets.create_draft(ctx, {**east, "name": "later"}, notes=None, actor="t")
    rule_sets.publish(ctx, later.id, effective_from=ctx.clock.now() + timedelta(days=2), actor="t")

    listed = cli.invoke(app, ["rules", "list"])
    assert listed.exit_code == 0, listed.output
    states = {line.split()[2]: line.split()[3] for line in listed.output.splitlines()[1:]}
    assert states == {"west-first": "superseded", "east": "active", "later": "scheduled"}

    diff = cli.invoke(app, ["rules", "diff", str(first.id), "--against", str(second.id)])
    assert diff.exit_code == 0, diff.output
    assert diff.output.splitlines()[0] == "east v2 -> west-first v1"
    assert "+ rule west added at position 1: when country eq US" in diff.output

    rolled = cli.invoke(app, ["rules", "activate", str(first.id)])
    assert rolled.exit_code == 0, rolled.output
    assert rolled.output.splitlines() == [
        "version 1 is active again as version 4",
        "scheduled version 3 withdrawn",
    ]
    again = cli.invoke(app, ["rules", "withdraw", str(later.id)])
    assert again.exit_code == 1 and "withdrawn" in again.output
    listed = cli.invoke(app, ["rules", "list"])
    after = [line.split()[3] for line in listed.output.splitlines()[1:]]
    assert after == ["superseded", "superseded", "withdrawn", "active"]
    gone = cli.invoke(app, ["rules", "withdraw", "4", "--reason", "bad idea"])
    assert gone.exit_code == 0 and gone.output.strip() == "version 4 withdrawn"
    assert "bad idea" in cli.invoke(app, ["rules", "list"]).output


def test_validate_with_references_names_unknown_ones(
    ctx: Context, cli: CliRunner, tmp_path: Path
) -> None:
    typo = {"id": "west", "when": {"field": "country", "op": "eq", "value": "US"}}
    doc = {**WEST_FIRST, "rules": [{**typo, "then": {"warehouses": {"include": ["NYCC"]}}}]}
    path = tmp_path / "typo.json"
    path.write_text(json.dumps(doc))
    assert cli.invoke(app, ["rules", "validate", str(path)]).exit_code == 0  # the form is fine
    checked = cli.invoke(app, ["rules", "validate", str(path), "--references"])
    assert checked.exit_code == 1
    assert "rules[0].then.warehouses.include[0]: unknown warehouse code 'NYCC'" in checked.output
