"""Per-partner control numbers: taken in the caller's transaction, never reused.

One ``UPDATE ... SET last_value = last_value + 1 ... RETURNING`` per scope: the row lock it
takes orders concurrent senders (PostgreSQL), and SQLite's BEGIN IMMEDIATE orders writers
anyway. A scope's first number inserts its row (``ON CONFLICT DO NOTHING``, so two first
senders do not collide) and updates it like any other time.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from omniroute.core.platform.models import EdiControlNumber
from omniroute.core.platform.sql import table_of

_TABLE = table_of(EdiControlNumber)
_TAKE = (
    update(_TABLE)
    .where(
        _TABLE.c.connector_id == bindparam("b_connector"), _TABLE.c.scope == bindparam("b_scope")
    )
    .values(last_value=_TABLE.c.last_value + 1)
    .returning(_TABLE.c.last_value)
)


def _first_row(dialect: str) -> object:
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(_TABLE).on_conflict_do_nothing(index_elements=["connector_id", "scope"])


def take(session: Session, connector_id: int, scope: str) -> int:
    """The next control number of ``scope`` for a partner (1 first)."""
    params = {"b_connector": connector_id, "b_scope": scope}
    value = session.execute(_TAKE, params).scalar()
    if value is None:
        insert = _first_row(session.get_bind().dialect.name)
        first = {"connector_id": connector_id, "scope": scope, "last_value": 0}
        session.execute(insert, first)  # type: ignore[call-overload]
        value = session.execute(_TAKE, params).scalar_one()
    return int(value)


def take_all(session: Session, connector_id: int, scopes: Iterable[str]) -> dict[str, int]:
    """One number per scope, taken in a fixed order (no deadlock between two senders)."""
    return {scope: take(session, connector_id, scope) for scope in sorted(set(scopes))}
