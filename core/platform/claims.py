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

from sqlalchemy import Update, and_, bindparam, case, null, or_, text, update
from sqlalchemy.orm import Session, defer
from sqlalchemy.orm.attributes import set_committed_value

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
    session: Session,
    row_id: int,
    *,
    now: datetime,
    claim_timeout: float,
    streamed_topics: frozenset[str] = frozenset(),
) -> tuple[InboundMessage, Connector] | None:
    """Claim an inbox row as ``claim_row`` does, and load its connector with it.

    One statement on PostgreSQL (UPDATE ... FROM connector ... RETURNING both); SQLite's
    RETURNING cannot name a FROM table, so there the connector is read after the claim.
    A row whose topic is in ``streamed_topics`` comes without its body (a stored EDI
    interchange, read in slices by ``inbox_body``); the statement returns the others' body
    as it always does, so no row pays a statement more.
    """
    params = _claim_params(row_id, now, claim_timeout)
    if session.get_bind().dialect.name == "postgresql":
        row = session.execute(_inbound_claim(streamed_topics, with_connector=True), params).first()
        if row is None:
            return None
        msg, connector, body = row[0], row[1], row[2]
    else:
        row = session.execute(_inbound_claim(streamed_topics, with_connector=False), params).first()
        if row is None:
            return None
        msg, body = row[0], row[1]
        connector = session.get_one(Connector, msg.connector_id)
    if msg.topic not in streamed_topics:
        set_committed_value(msg, "body", body)
    return msg, connector


_INBOUND_CLAIMS: dict[tuple[frozenset[str], bool], Any] = {}


def _inbound_claim(streamed_topics: frozenset[str], *, with_connector: bool) -> Any:
    """The inbox claim returning the row without its body column, the body (or NULL for a
    streamed topic) as a value of its own, and the connector when asked; built once."""
    key = (streamed_topics, with_connector)
    stmt = _INBOUND_CLAIMS.get(key)
    if stmt is None:
        body = (
            case(
                (InboundMessage.topic.in_(sorted(streamed_topics)), null()),
                else_=InboundMessage.body,
            )
            if streamed_topics
            else InboundMessage.body
        )
        base = _claim_statement(InboundMessage)
        if with_connector:
            stmt = base.where(Connector.id == InboundMessage.connector_id).returning(
                InboundMessage, Connector, body
            )
        else:
            stmt = base.returning(InboundMessage, body)
        stmt = _INBOUND_CLAIMS[key] = stmt.options(defer(InboundMessage.body))
    return stmt


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
