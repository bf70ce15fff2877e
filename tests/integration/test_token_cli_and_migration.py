"""``omniroute token create|list|revoke`` on a real database, and migration 0012 over tokens
and audit rows written before it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from omniroute.cli.main import app
from omniroute.core.access import audit
from omniroute.core.access.tokens import TokenRefused, authenticate
from omniroute.core.bootstrap import Context, bootstrap
from omniroute.core.platform.migrate import alembic_config, upgrade
from omniroute.core.platform.security import Role, hash_token
from tests.conftest import SECRET_KEY, make_settings


def test_the_cli_creates_lists_and_revokes_tokens(
    ctx: Context, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMNIROUTE_DATABASE_URL", db_url)
    monkeypatch.setenv("OMNIROUTE_SECRET_KEY", SECRET_KEY)
    cli = CliRunner()
    made = cli.invoke(
        app,
        [
            "token",
            "create",
            "--role",
            "integrator",
            "--name",
            "shop",
            "--owner",
            "web team",
            "--expires-in-days",
            "30",
        ],
    )
    assert made.exit_code == 0, made.output
    value = made.output.strip()
    principal = authenticate(ctx, value)
    assert (principal.role, principal.connector_ids) == (Role.INTEGRATOR, None)

    listed = cli.invoke(app, ["token", "list"])
    assert listed.exit_code == 0 and value not in listed.output
    (row,) = [json.loads(line) for line in listed.output.splitlines()]
    assert (row["name"], row["owner"], row["created_by"]) == ("shop", "web team", "cli")
    assert row["expires_at"] is not None

    unknown_scope = cli.invoke(app, ["token", "create", "--role", "viewer", "--connector", "4242"])
    assert unknown_scope.exit_code == 2 and "4242" in unknown_scope.output

    revoked = cli.invoke(app, ["token", "revoke", str(row["id"])])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    with pytest.raises(TokenRefused, match="revoked"):
        authenticate(ctx, value)
    assert cli.invoke(app, ["token", "list"]).output == ""
    assert len(cli.invoke(app, ["token", "list", "--include-revoked"]).output.splitlines()) == 1
    assert cli.invoke(app, ["token", "revoke", "999"]).exit_code == 1


def test_migration_0012_keeps_older_tokens_and_audit_rows_working(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0011")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO api_token (name, role, token_hash, created_at) "
                "VALUES ('old', 'integration', :h, '2025-01-01 00:00:00')"
            ),
            {"h": hash_token("omr_old")},
        )
        conn.execute(
            text(
                "INSERT INTO audit_log (actor, action, entity, entity_id, detail, created_at) "
                "VALUES ('token:1:old', 'stock.set', 'stock_level', '3', '{}', "
                "'2025-01-01 00:00:00')"
            )
        )
    engine.dispose()
    upgrade(url)
    ctx = bootstrap(make_settings(url))
    try:
        principal = authenticate(ctx, "omr_old")
        assert (principal.role, principal.connector_ids, principal.warehouse_ids) == (
            Role.INTEGRATION,
            None,
            None,
        )
        (entry,) = audit.list_entries(ctx, audit.AuditFilter(entity=audit.Entity.STOCK_LEVEL))
        assert (entry["token_id"], entry["client_ip"], entry["before"]) == (None, None, None)
    finally:
        ctx.close()
    command.downgrade(alembic_config(url), "0011")
    upgrade(url)
