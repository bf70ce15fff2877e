"""Console users and sessions as services and through ``omniroute user``: hashes not
passwords, throttling that lifts when the window passes, expiry, sessions ended by a
password change; and migration 0013 up and down."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, select
from typer.testing import CliRunner

from omniroute.cli.main import app
from omniroute.core.access import sessions
from omniroute.core.access.sessions import LoginRefused, LoginThrottled
from omniroute.core.access.users import NewUser, create_user, set_password
from omniroute.core.bootstrap import Context
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.errors import Conflict, Invalid
from omniroute.core.platform.migrate import alembic_config, upgrade
from omniroute.core.platform.models import ConsoleSession, ConsoleUser
from omniroute.core.platform.security import Role
from tests.conftest import SECRET_KEY
from tests.integration.test_tokens_and_scopes import SteppedClock

PASSWORD = "a long enough secret"


def test_the_hash_is_argon2_and_the_cookie_is_not_stored(ctx: Context) -> None:
    create_user(ctx, NewUser("ann", Role.SUPPORT), PASSWORD, actor="test")
    cookie, who = sessions.log_in(ctx, "ann", PASSWORD, client_ip="10.0.0.1")
    assert (who.actor, who.role, who.connector_ids) == ("user:ann", Role.SUPPORT, None)
    with unit_of_work(ctx.sessions) as s:
        user = s.scalars(select(ConsoleUser)).one()
        stored = s.scalars(select(ConsoleSession)).one()
        assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
        assert cookie not in (stored.token_hash, stored.csrf_token)
    assert sessions.current(ctx, cookie) == who
    assert sessions.current(ctx, cookie + "x") is None


def test_bad_usernames_short_passwords_and_duplicates_are_refused(ctx: Context) -> None:
    with pytest.raises(Invalid, match="username"):
        create_user(ctx, NewUser("has space", Role.VIEWER), PASSWORD, actor="test")
    with pytest.raises(Invalid, match="shorter than 10"):
        create_user(ctx, NewUser("bo", Role.VIEWER), "short", actor="test")
    create_user(ctx, NewUser("bo", Role.VIEWER), PASSWORD, actor="test")
    with pytest.raises(Conflict):
        create_user(ctx, NewUser("bo", Role.OPS), PASSWORD, actor="test")
    with pytest.raises(Invalid, match="no such id"):
        create_user(ctx, NewUser("cy", Role.VIEWER, connector_ids=[424242]), PASSWORD, actor="t")


def test_throttling_lifts_when_the_failures_leave_the_window(ctx: Context) -> None:
    clock = SteppedClock(ctx.clock.now())
    timed = dataclasses.replace(ctx, clock=clock)
    create_user(timed, NewUser("dee", Role.VIEWER), PASSWORD, actor="test")
    limit = ctx.settings.console_login_max_failures
    for _ in range(limit):
        with pytest.raises(LoginRefused):
            sessions.log_in(timed, "dee", "not the password", client_ip="10.0.0.2")
        clock.advance(timedelta(seconds=1))
    with pytest.raises(LoginThrottled) as throttled:
        sessions.log_in(timed, "dee", PASSWORD, client_ip="10.0.0.3")
    window = timedelta(seconds=ctx.settings.console_login_window)
    assert throttled.value.retry_at == clock.now() - timedelta(seconds=limit) + window
    clock.advance(window - timedelta(seconds=limit - 1))
    sessions.log_in(timed, "dee", PASSWORD, client_ip="10.0.0.3")


def test_one_address_is_throttled_across_usernames(ctx: Context) -> None:
    tries = ctx.settings.console_login_max_failures * sessions.PER_ADDRESS_FACTOR
    for i in range(tries):
        with pytest.raises(LoginRefused):
            sessions.log_in(ctx, f"guess{i}", "whatever", client_ip="10.9.9.9")
    with pytest.raises(LoginThrottled):
        sessions.log_in(ctx, "someone-new", "whatever", client_ip="10.9.9.9")
    with pytest.raises(LoginRefused):  # from elsewhere, only the wrong password
        sessions.log_in(ctx, "someone-new", "whatever", client_ip="10.1.1.1")


def test_sessions_expire_and_end_with_a_new_password(ctx: Context) -> None:
    clock = SteppedClock(ctx.clock.now())
    timed = dataclasses.replace(ctx, clock=clock)
    create_user(timed, NewUser("eve", Role.OPS), PASSWORD, actor="test")
    first, _ = sessions.log_in(timed, "eve", PASSWORD, client_ip=None)
    clock.advance(timedelta(hours=ctx.settings.console_session_hours))
    assert sessions.current(timed, first) is None
    second, _ = sessions.log_in(timed, "eve", PASSWORD, client_ip=None)
    set_password(timed, "eve", "another long secret", actor="test")
    assert sessions.current(timed, second) is None
    with pytest.raises(LoginRefused):
        sessions.log_in(timed, "eve", PASSWORD, client_ip=None)
    sessions.log_in(timed, "eve", "another long secret", client_ip=None)


def test_the_user_cli(ctx: Context, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIROUTE_DATABASE_URL", db_url)
    monkeypatch.setenv("OMNIROUTE_SECRET_KEY", SECRET_KEY)
    cli = CliRunner()
    made = cli.invoke(
        app, ["user", "create", "fay", "--role", "support", "--password-stdin"], input=PASSWORD
    )
    assert made.exit_code == 0, made.output
    assert PASSWORD not in made.output
    prompted = cli.invoke(
        app, ["user", "create", "gus", "--role", "viewer"], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert prompted.exit_code == 0 and PASSWORD not in prompted.output
    weak = cli.invoke(
        app, ["user", "create", "hal", "--role", "viewer", "--password-stdin"], input="x"
    )
    assert weak.exit_code == 2 and "shorter than" in weak.output
    listed = [json.loads(line) for line in cli.invoke(app, ["user", "list"]).output.splitlines()]
    assert [(u["username"], u["role"], u["disabled"]) for u in listed] == [
        ("fay", "support", False),
        ("gus", "viewer", False),
    ]
    assert all("password_hash" not in u for u in listed)
    changed = cli.invoke(
        app, ["user", "set-password", "fay", "--password-stdin"], input="a brand new secret"
    )
    assert changed.exit_code == 0, changed.output
    sessions.log_in(ctx, "fay", "a brand new secret", client_ip=None)
    assert cli.invoke(app, ["user", "disable", "fay"]).exit_code == 0
    with pytest.raises(LoginRefused):
        sessions.log_in(ctx, "fay", "a brand new secret", client_ip=None)
    assert cli.invoke(app, ["user", "disable", "nobody"]).exit_code == 1


def test_migration_0013_up_and_down(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    engine = create_engine(url)
    tables = set(inspect(engine).get_table_names())
    assert {"console_user", "console_session", "console_login_failure"} <= tables
    config = alembic_config(url)
    command.downgrade(config, "0012")
    inspector = inspect(engine)
    assert "console_user" not in inspector.get_table_names()
    assert "closed_by" not in {c["name"] for c in inspector.get_columns("order_exception")}
    command.upgrade(config, "head")
    assert "close_note" in {c["name"] for c in inspect(engine).get_columns("order_exception")}
    engine.dispose()
