"""Claiming a unit of work (an inbox or outbox row) so only one worker runs it at a time.

A claim is a conditional UPDATE: a row is taken when it is pending and due, or when another
worker's claim has gone stale (that worker died). An outbox claim is committed on its own,
before the remote call, so a crash after it only delays the row until the sweeper finds the
stale claim; a release that the routing worker sends itself is claimed by the routing
transaction instead (``core.order_routing.route.create_fulfilment``). An inbox claim is taken
in the transaction that does the work: its row lock keeps a second worker out until the
work commits, and a crash rolls the claim back with the work, leaving the row pending for
the sweeper.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Update, and_, bindparam, or_, text, update
from sqlalchemy.orm import Session

from omniroute.core.platform.models import Connector, InboundMessage, WorkItem

W = TypeVar("W", bound=WorkItem)


def claim(
    session: Session, model: type[WorkItem], row_id: int, *, now: datetime, claim_timeout: float
) -> bool:
    result = session.execute(_claim_statement(model), _claim_params(row_id, now, claim_timeout))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def claim_row(
    session: Session, model: type[W], row_id: int, *, now: datetime, claim_timeout: float
) -> W | None:
    """Claim the row as ``claim`` does and load it in the same statement; None if not taken.

    Within the caller's transaction the claim's row lock keeps other workers out until commit.
    """
    stmt = _claim_statement(model).returning(model)
    return session.scalars(stmt, _claim_params(row_id, now, claim_timeout)).first()


def claim_inbound(
    session: Session, row_id: int, *, now: datetime, claim_timeout: float
) -> tuple[InboundMessage, Connector] | None:
    """Claim an inbox row as ``claim_row`` does, and load its connector with it.

    One statement on PostgreSQL (UPDATE ... FROM connector ... RETURNING both); SQLite's
    RETURNING cannot name a FROM table, so there the connector is read after the claim.
    """
    params = _claim_params(row_id, now, claim_timeout)
    if session.get_bind().dialect.name == "postgresql":
        row = session.execute(_CLAIM_INBOUND_WITH_CONNECTOR, params).first()
        return None if row is None else (row[0], row[1])
    msg = claim_row(session, InboundMessage, row_id, now=now, claim_timeout=claim_timeout)
    return None if msg is None else (msg, session.get_one(Connector, msg.connector_id))


def _claim_params(row_id: int, now: datetime, claim_timeout: float) -> dict[str, Any]:
    return {
        "row_id": row_id,
        "now": now,
        "stale_before": now - timedelta(seconds=claim_timeout),
    }


def _claimable(model: type[WorkItem]) -> Any:
    """Pending and due, or claimed by a worker whose claim went stale."""
    return and_(
        model.id == bindparam("row_id"),
        or_(
            and_(model.status == "pending", model.next_attempt_at <= bindparam("now")),
            and_(model.status == "processing", model.claimed_at < bindparam("stale_before")),
        ),
    )


_CLAIMS: dict[str, Update] = {}


def _claim_statement(model: type[WorkItem]) -> Update:
    """The conditional claim UPDATE for ``model``, built once."""
    stmt = _CLAIMS.get(model.__name__)
    if stmt is None:
        stmt = _CLAIMS[model.__name__] = _build_claim(model)
    return stmt


def _build_claim(model: type[WorkItem]) -> Update:
    return (
        update(model)
        .where(_claimable(model))
        .values(
            status="processing",
            claimed_at=bindparam("now"),
            nudged_at=None,
            attempts=model.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )


def relax_durability(session: Session) -> None:
    """Let this transaction's commit return before its WAL reaches the disk (PostgreSQL).

    Only for a transaction whose loss in a database crash costs time, never data: a claim
    (and the reads that go with it), or the record that a system accepted an outbox message
    sent with the row's idempotency key. If it is lost, the row is claimable again and is
    done again (the claims and the idempotency key make that harmless: the receiver
    recognises the key), and any later durable commit flushes the WAL up to and including
    it. Never for a transaction whose effects are sent out after it commits without such a
    key (the routing that creates fulfilment orders and their keys), nor for one that
    acknowledges a webhook.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))


_CLAIM_INBOUND_WITH_CONNECTOR = (
    _claim_statement(InboundMessage)
    .where(Connector.id == InboundMessage.connector_id)
    .returning(InboundMessage, Connector)
)
