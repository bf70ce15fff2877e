"""The outbox: every message to another system is a row, and every row is created, claimed,
withdrawn and settled through this module, and only here.

A row is written in the transaction whose state change causes it, with an idempotency key
the receiver sees on every attempt. A relay claims it (a conditional UPDATE, committed on
its own before the remote call), calls out with no transaction open, then settles it:
sent, pending again after a backoff, or dead (a dead letter an exception points at, which
ops can redrive). Each row keeps the correlation id of the work that wrote it (the log
context's, ``telemetry.logs``: the inbox row's being processed, or the request's), so the
relay's logs, and the warehouse, see the id the order came in with. A WMS release can be
written already claimed by the process that will send it right after the commit
(``claimed_at``), which saves the claim's transaction; if that process dies first, the
claim goes stale and the sweeper has the row sent, as after any crash past a claim.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from sqlalchemy import ColumnElement, and_, bindparam, insert, not_, or_, select, update
from sqlalchemy.orm import Session

from omniroute.connectors.base import ConnectorError, TransientError
from omniroute.core.outbox.backoff import backoff_delay
from omniroute.core.platform.claims import claim as claim_row
from omniroute.core.platform.clock import now_of
from omniroute.core.platform.errors import Conflict
from omniroute.core.platform.models import OutboxMessage
from omniroute.core.platform.sql import table_of
from omniroute.core.platform.telemetry.logs import correlation_id

# What a row asks for, by who receives it.
WMS_RELEASE: Final = "wms.release"  # a fulfilment order to its warehouse's system
WMS_CANCEL: Final = "wms.cancel"  # cancel (some of) a released fulfilment order's units
CHANNEL_FULFILMENT: Final = "channel.fulfilment"  # a shipment (and tracking) to the channel
CHANNEL_STOCK: Final = "channel.stock"  # available-to-sell of some listings to the channel
CHANNEL_CANCEL: Final = "channel.cancel"  # an order ops cancelled, to its channel
CHANNEL_TRACKING: Final = "channel.tracking"  # a shipment's new tracking status, to the channel
WMS_RETURN: Final = "wms.return"  # a return (RMA) to expect, or its cancel, to the warehouse
CHANNEL_RETURN: Final = "channel.return"  # a return's status (authorised, received, ...)
CARRIER_BOOKING: Final = "carrier.booking"  # rate-shop and book a released fulfilment order
EDI_DOCUMENT: Final = "edi.document"  # a rendered EDI document (997, TA1, 855, ...) to a partner
ERP_SALES_ORDER: Final = "erp.sales_order"  # an order, once, when a warehouse first takes it
ERP_INVOICE: Final = "erp.invoice"  # a shipment's invoice, per order it carries lines of
ERP_PURCHASE_REQUEST: Final = "erp.purchase_request"  # ask the ERP to buy stock (connectors.erp)
ERP_KINDS: Final = frozenset({ERP_SALES_ORDER, ERP_INVOICE, ERP_PURCHASE_REQUEST})

ERROR_CHARS = 2000


class RetryPolicy(Protocol):
    """How often and how patiently a row is tried (the settings have these fields)."""

    @property
    def outbox_max_attempts(self) -> int: ...
    @property
    def outbox_backoff_base(self) -> float: ...
    @property
    def outbox_backoff_max(self) -> float: ...


_OUTBOX = table_of(OutboxMessage)
_INSERT = insert(_OUTBOX).returning(_OUTBOX.c.id)
_INSERT_RELEASES = insert(_OUTBOX).returning(_OUTBOX.c.id, _OUTBOX.c.fulfilment_order_id)
_MARK_SENT = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("outbox_id"))
    .values(status="sent", sent_at=bindparam("now"), last_error=None, claimed_at=None)
)


def add(
    session: Session,
    *,
    kind: str,
    connector_id: int | None,
    idempotency_key: str,
    payload: Mapping[str, Any],
    fulfilment_order_id: int | None = None,
) -> int:
    """Write one message, due at once; its id (nudge it once the transaction commits)."""
    now = now_of(session)
    return int(
        session.execute(
            _INSERT,
            {
                "kind": kind,
                "connector_id": connector_id,
                "fulfilment_order_id": fulfilment_order_id,
                "idempotency_key": idempotency_key,
                "payload": dict(payload),
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "correlation_id": correlation_id(),
            },
        ).scalar_one()
    )


@dataclass(frozen=True)
class Release:
    """A WMS release to write: the fulfilment order, its warehouse's WMS connector, and
    what the row says beyond the fulfilment order's id."""

    fulfilment_order_id: int
    connector_id: int | None
    extra: Mapping[str, Any] | None = None


def add_releases(
    session: Session, releases: Sequence[Release], *, claimed_at: datetime | None = None
) -> list[int]:
    """Write the WMS releases of new fulfilment orders in one statement; their ids, in the
    order given. ``claimed_at``: written claimed by the caller's process, which sends them
    itself right after the commit (see the module docs)."""
    if not releases:
        return []
    born = (
        {"status": "pending", "attempts": 0}
        if claimed_at is None
        else {"status": "processing", "attempts": 1, "claimed_at": claimed_at}
    )
    cid = correlation_id()
    rows = session.execute(
        _INSERT_RELEASES,
        [
            {
                "kind": WMS_RELEASE,
                "connector_id": r.connector_id,
                "fulfilment_order_id": r.fulfilment_order_id,
                "idempotency_key": f"fo-{r.fulfilment_order_id}-{uuid.uuid4().hex[:16]}",
                "payload": {"fulfilment_order_id": r.fulfilment_order_id} | dict(r.extra or {}),
                "correlation_id": cid,
                **born,
            }
            for r in releases
        ],
    ).all()
    by_fo = {fo_id: outbox_id for outbox_id, fo_id in rows}
    return [by_fo[r.fulfilment_order_id] for r in releases]


def claim(session: Session, outbox_id: int, *, now: datetime, claim_timeout: float) -> bool:
    """Take a row for this worker: pending and due, or claimed by one whose claim went
    stale. Commit it before calling out."""
    return claim_row(session, OutboxMessage, outbox_id, now=now, claim_timeout=claim_timeout)


def withdraw_releases(
    session: Session,
    fulfilment_order_ids: Sequence[int],
    *,
    rejected_by_warehouse: bool = False,
    own: int | None = None,
    untried_only: bool = False,
) -> None:
    """Withdraw the WMS releases of these fulfilment orders: those not yet sent (pending, or
    dead letters) are cancelled.

    Refused (409 ``release_in_flight``), the caller's transaction to be rolled back:
    - when one is being sent right now, other than ``own`` (the relay's own row, when the
      warehouse it was sending to refused it): the warehouse may be taking it; with
      ``untried_only``, also when one was tried before and waits for its retry (a timeout or
      a lost answer may have left it with the warehouse);
    - when one was sent already, unless the warehouse itself rejected the fulfilment order
      (``rejected_by_warehouse``): the warehouse has it, and cancelling it there comes first.

    The withdrawal is written before the check, so a relay claiming a row at the same moment
    is either seen here (refused) or finds the row cancelled (it sends nothing).
    """
    ids = list(fulfilment_order_ids)
    if not ids:
        return
    of_these = (OutboxMessage.fulfilment_order_id.in_(ids), OutboxMessage.kind == WMS_RELEASE)
    withdrawable: ColumnElement[bool] = OutboxMessage.status.in_(("pending", "dead"))
    busy: ColumnElement[bool] = OutboxMessage.status.in_(("processing",))
    if not rejected_by_warehouse:
        busy = OutboxMessage.status.in_(("processing", "sent"))
    if untried_only:
        # A release tried before and due again may have reached the warehouse (a timeout
        # or a lost answer): it counts as in flight until its retry settles it.
        tried = and_(OutboxMessage.status == "pending", OutboxMessage.attempts > 0)
        withdrawable = and_(withdrawable, not_(tried))
        busy = or_(busy, tried)
    session.execute(
        update(OutboxMessage)
        .where(*of_these, withdrawable)
        .values(status="cancelled", claimed_at=None)
        .execution_options(synchronize_session=False)
    )
    in_flight = select(OutboxMessage.id).where(*of_these, busy)
    if own is not None:
        in_flight = in_flight.where(OutboxMessage.id != own)
    if session.scalar(in_flight.limit(1)) is not None:
        raise Conflict(
            f"fulfilment order(s) {ids} are being handed to a warehouse right now, or were; "
            "try again shortly",
            code="release_in_flight",
        )


def mark_rejected(session: Session, outbox_id: int, detail: str | None) -> None:
    """The warehouse refused this row's release for good; kept with its answer."""
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == outbox_id)
        .values(status="rejected", claimed_at=None, last_error=(detail or "")[:ERROR_CHARS])
        .execution_options(synchronize_session=False)
    )


def mark_sent(session: Session, outbox_id: int, *, now: datetime) -> None:
    """The receiver took the message."""
    session.execute(_MARK_SENT, {"outbox_id": outbox_id, "now": now})


def retry_later(msg: OutboxMessage, error: ConnectorError, *, delay: float, now: datetime) -> None:
    """A transient failure: pending again, due after ``delay`` seconds."""
    msg.status = "pending"
    msg.claimed_at = msg.nudged_at = None
    msg.next_attempt_at = now + timedelta(seconds=delay)
    msg.last_error = describe(error)


def retry_with_backoff(
    msg: OutboxMessage, error: TransientError, policy: RetryPolicy, *, now: datetime
) -> float | None:
    """A transient failure of an attempt: the row pending again after its backoff (never
    sooner than the remote's Retry-After), the delay returned; None when the row has had
    all its attempts, for the caller to dead-letter it."""
    if msg.attempts >= policy.outbox_max_attempts:
        return None
    delay = backoff_delay(
        msg.attempts, policy.outbox_backoff_base, policy.outbox_backoff_max, error.retry_after
    )
    retry_later(msg, error, delay=delay, now=now)
    return delay


def mark_dead(msg: OutboxMessage, error: ConnectorError) -> None:
    """Failed for good (or too often): a dead letter; the caller opens its exception."""
    msg.status = "dead"
    msg.claimed_at = None
    msg.last_error = describe(error)


def redrive(msg: OutboxMessage, *, now: datetime) -> None:
    """A dead letter ops retry once the cause is fixed: pending and due, attempts afresh."""
    msg.status, msg.attempts, msg.claimed_at, msg.nudged_at = "pending", 0, None, None
    msg.next_attempt_at = now


def describe(error: ConnectorError) -> str:
    """How a failure is kept on the row: the connector's reason code and its message."""
    return f"{error.reason}: {error}"[:ERROR_CHARS]
