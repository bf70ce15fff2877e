"""Readiness: can this process reach its database and its broker?"""

from __future__ import annotations

from typing import Any, Protocol

from kombu.connection import Connection
from sqlalchemy import text

from omniroute.core.platform.ports import HasEngine, HasSettings


class Deps(HasEngine, HasSettings, Protocol):
    """What the readiness check looks at: the database, and the broker in the settings."""


def readiness(deps: Deps) -> dict[str, dict[str, Any]]:
    checks: dict[str, dict[str, Any]] = {"database": _check_db(deps)}
    if deps.settings.broker_url:
        checks["broker"] = _check_broker(deps.settings.broker_url)
    else:
        checks["broker"] = {"ok": True, "mode": "embedded"}
    return checks


def _check_db(deps: Deps) -> dict[str, Any]:
    try:
        with deps.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"ok": True, "dialect": deps.engine.dialect.name}
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}


def _check_broker(url: str) -> dict[str, Any]:
    try:
        with Connection(url, connect_timeout=2) as conn:  # type: ignore[no-untyped-call]
            conn.ensure_connection(max_retries=1, timeout=2)
        return {"ok": True, "mode": "celery"}
    except Exception as exc:
        return {"ok": False, "mode": "celery", "error": type(exc).__name__}
