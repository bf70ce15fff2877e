"""Shared fixtures: a migrated database per test (SQLite always, PostgreSQL when configured)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text

from omniroute.core.bootstrap import Context, bootstrap
from omniroute.core.platform.db import normalise_url
from omniroute.core.platform.migrate import upgrade
from omniroute.core.platform.models import Base
from omniroute.core.platform.settings import Settings

PG_URL = os.environ.get("OMNIROUTE_TEST_PG_URL", "")
# Run the suite on another date: every clock in this process (the wall clock, and with it
# each SystemClock) moved this many days ahead. CI runs the SQLite suite once like this, so
# a test that only passes near the day it was written fails at once.
SHIFT_DAYS = os.environ.get("OMNIROUTE_TEST_SHIFT_DAYS", "")
TRAVEL = pytest.StashKey[time_machine.travel]()
FIXTURES = Path(__file__).parent / "fixtures"
SECRET_KEY = Fernet.generate_key().decode()


def pytest_configure(config: pytest.Config) -> None:
    if SHIFT_DAYS:
        traveller = time_machine.travel(
            datetime.now(UTC) + timedelta(days=int(SHIFT_DAYS)), tick=True
        )
        traveller.start()
        config.stash[TRAVEL] = traveller


def pytest_unconfigure(config: pytest.Config) -> None:
    traveller = config.stash.get(TRAVEL, None)
    if traveller is not None:
        traveller.stop()


def pytest_report_header() -> str | None:
    if not SHIFT_DAYS:
        return None
    return f"clock moved {SHIFT_DAYS} days ahead: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_pg = pytest.mark.skip(reason="set OMNIROUTE_TEST_PG_URL to run PostgreSQL tests")
    for item in items:
        if "postgres" in item.keywords and not PG_URL:
            item.add_marker(skip_pg)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_migrated() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated once, dropped after."""
    admin = create_engine(normalise_url(PG_URL), isolation_level="AUTOCOMMIT")
    name = f"omniroute_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = PG_URL.rsplit("/", 1)[0] + "/" + name
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _truncate_pg(url: str) -> None:
    engine = create_engine(normalise_url(url))
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "secret_key": SECRET_KEY,
        "allow_private_urls": True,
        "http_retry_max_wait": 0.05,
        "outbox_backoff_base": 0.01,
        "outbox_backoff_max": 0.05,
        "sweep_grace": 0.0,
        "claim_timeout": 30.0,
        "broker_url": None,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "omniroute.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_migrated")
    _truncate_pg(url)
    return url


@pytest.fixture
def ctx(db_url: str) -> Iterator[Context]:
    context = bootstrap(make_settings(db_url))
    yield context
    context.close()
