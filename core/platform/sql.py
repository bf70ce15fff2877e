"""Small dialect-aware statements both SQLite and PostgreSQL understand."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

_IGNORING_CONFLICT: dict[tuple[str, Any, tuple[str, ...]], Any] = {}


def table_of(model: type[Any]) -> Table:
    """The table a mapped class maps, typed for Core statements on the hot path."""
    table = model.__table__
    assert isinstance(table, Table)  # noqa: S101 - every model here maps one table
    return table


def insert_ignoring_conflict_stmt(dialect: str, target: Any, conflict_on: Sequence[str]) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING, built once per dialect, target and key.

    ``target`` is a table (returns its ``id``) or a mapped class (returns the ORM object).
    The values come as execution parameters, so the compiled form is cached and reused.
    """
    key = (dialect, target, tuple(conflict_on))
    stmt = _IGNORING_CONFLICT.get(key)
    if stmt is None:
        module: Any = postgresql if dialect == "postgresql" else sqlite
        returning = target.c.id if isinstance(target, Table) else target
        stmt = (
            module.insert(target)
            .on_conflict_do_nothing(index_elements=list(conflict_on))
            .returning(returning)
        )
        _IGNORING_CONFLICT[key] = stmt
    return stmt


def insert_ignoring_conflict(
    session: Session, table: Table, values: dict[str, Any], conflict_on: list[str]
) -> int | None:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id: the new id, or None for a duplicate."""
    stmt = insert_ignoring_conflict_stmt(session.get_bind().dialect.name, table, conflict_on)
    row = session.execute(stmt, values).first()
    return None if row is None else int(row[0])


def serialize_writers(session: Session, name: str) -> None:
    """Make this transaction the only writer of ``name`` until it ends: on PostgreSQL a
    transaction-scoped advisory lock keyed by the name; SQLite's BEGIN IMMEDIATE
    (core/platform/db.py) already lets one writing transaction run at a time. Take it before
    reading what the write depends on, so the reads see the previous writer's commit."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": name})
