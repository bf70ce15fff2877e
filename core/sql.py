"""Small dialect-aware statements both SQLite and PostgreSQL understand."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_ignoring_conflict(
    session: Session, table: Table, values: dict[str, Any], conflict_on: list[str]
) -> int | None:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id: the new id, or None for a duplicate."""
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = (
        module.insert(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=conflict_on)
        .returning(table.c.id)
    )
    row = session.execute(stmt).first()
    return None if row is None else int(row[0])
