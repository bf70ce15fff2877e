"""The inbox INSERT of webhook intake, committed when it returns.

On PostgreSQL it runs on the pooled psycopg connection directly, in autocommit: one
statement is a transaction of its own, so BEGIN and COMMIT would only add two round trips,
and SQLAlchemy's execution layer costs about twice the driver's own CPU for this one
statement (measured: ~210 µs against ~70 µs). The SQL text, the type conversions and the
column defaults all come from the SQLAlchemy table, once; a column default this cannot
evaluate by itself sends the insert through SQLAlchemy instead. SQLite keeps SQLAlchemy
and the engine's BEGIN IMMEDIATE (core/platform/db.py), which orders writers.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Engine, Table
from sqlalchemy.sql.schema import CallableColumnDefault, ScalarElementColumnDefault

from omniroute.core.platform.models import InboundMessage
from omniroute.core.platform.sql import insert_ignoring_conflict_stmt, table_of

CONFLICT_KEY = ("connector_id", "dedupe_key")


@dataclass(frozen=True)
class DriverInsert:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id as the driver's SQL and parameters."""

    sql: str
    converters: dict[str, Callable[[Any], Any]]
    defaults: dict[str, Callable[[], Any]]

    def params(self, values: dict[str, Any]) -> dict[str, Any]:
        params = dict(values)
        for name, make in self.defaults.items():
            params[name] = make()
        for name, convert in self.converters.items():
            if params.get(name) is not None:
                params[name] = convert(params[name])
        return params


def driver_insert(engine: Engine, table: Table, keys: tuple[str, ...]) -> DriverInsert | None:
    """The statement for rows given ``keys``, or None when a column default needs SQLAlchemy
    (a SQL expression, a sequence, or a function of the execution context)."""
    defaults: dict[str, Callable[[], Any]] = {}
    for column in table.c:
        default = column.default
        if column.name in keys or default is None:
            continue
        make = _plain_default(default)
        if make is None:
            return None
        defaults[column.name] = make
    columns = [*keys, *defaults]
    stmt = insert_ignoring_conflict_stmt(engine.dialect.name, table, CONFLICT_KEY)
    compiled = stmt.compile(dialect=engine.dialect, column_keys=columns)
    if set(compiled.params) != set(columns):
        return None  # the statement wants something this does not provide
    converters: dict[str, Callable[[Any], Any]] = {}
    for name in columns:
        convert = table.c[name].type.dialect_impl(engine.dialect).bind_processor(engine.dialect)
        if convert is not None:
            converters[name] = convert
    return DriverInsert(sql=compiled.string, converters=converters, defaults=defaults)


def _plain_default(default: Any) -> Callable[[], Any] | None:
    """A column default as a function of nothing, or None if it needs SQLAlchemy."""
    if isinstance(default, ScalarElementColumnDefault):
        value = default.arg
        return lambda: value
    if not isinstance(default, CallableColumnDefault):
        return None  # a SQL expression or a sequence: evaluated by the database
    # SQLAlchemy wraps a function that takes no context as ``lambda ctx: fn()`` and keeps
    # ``fn`` as __wrapped__; a function that takes the context is not wrapped.
    fn: Callable[[], Any] | None = getattr(default.arg, "__wrapped__", None)
    if not callable(fn):
        return None
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return fn  # a builtin such as dict, which SQLAlchemy also calls without arguments
    required = [p for p in parameters if p.default is p.empty and p.kind in _POSITIONAL]
    return None if required else fn


_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


_STATEMENTS: weakref.WeakKeyDictionary[Engine, dict[tuple[str, ...], DriverInsert | None]] = (
    weakref.WeakKeyDictionary()
)


def insert_committed(engine: Engine, values: dict[str, Any]) -> int | None:
    """Insert an inbox row and commit; the new id, or None when (connector, dedupe key) was
    stored before."""
    statement = _statement(engine, tuple(values)) if engine.dialect.name == "postgresql" else None
    if statement is None:
        return _through_sqlalchemy(engine, values)
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        assert isinstance(conn, psycopg.Connection)  # noqa: S101 - core/platform/db.py uses psycopg 3
        conn.autocommit = True
        try:
            row = conn.execute(statement.sql, statement.params(values)).fetchone()
        finally:
            conn.autocommit = False
    except psycopg.OperationalError:
        raw.invalidate()  # a broken connection must not go back to the pool
        raise
    finally:
        raw.close()
    return None if row is None else int(row[0])


def _statement(engine: Engine, keys: tuple[str, ...]) -> DriverInsert | None:
    by_keys = _STATEMENTS.setdefault(engine, {})
    if keys not in by_keys:
        by_keys[keys] = driver_insert(engine, table_of(InboundMessage), keys)
    return by_keys[keys]


def _through_sqlalchemy(engine: Engine, values: dict[str, Any]) -> int | None:
    stmt = insert_ignoring_conflict_stmt(
        engine.dialect.name, table_of(InboundMessage), CONFLICT_KEY
    )
    with engine.begin() as conn:
        inbound_id = conn.execute(stmt, values).scalar()
    return None if inbound_id is None else int(inbound_id)
