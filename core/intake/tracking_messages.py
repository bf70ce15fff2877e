"""Inbox rows of carriers: a tracking delivery goes to ``core.tracking`` instead of becoming
an order.

A connector that implements ``connectors.tracking.TrackingSource`` is asked for the
tracking in a stored delivery (``parse_tracking``). A carrier always answers; a source that
also sends orders (the generic webhook) answers None for an order event, which then takes
the order path.

A worker that takes a tracking row takes up to ``tracking_batch_size`` due rows of the same
connector with it (``take_tracking_batch``): claimed in one statement (rows another worker
holds are skipped), recorded with ``core.tracking.batch`` and settled in one transaction. A
row that cannot be read fails alone; a row of the batch that holds an order, or whose
reading raised something unexpected, is handed back to be processed on its own.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from datetime import datetime
from typing import cast

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from omniroute.connectors.base import PayloadError
from omniroute.connectors.tracking import TrackingDelivery, TrackingPoller, TrackingSource
from omniroute.core.platform.models import InboundMessage
from omniroute.core.platform.ports import HasConnectors
from omniroute.core.platform.sql import table_of
from omniroute.core.tracking import events as tracking_events
from omniroute.core.tracking.batch import Incoming, record_updates
from omniroute.core.tracking.events import Recorded

log = logging.getLogger("omniroute.tracking")

# How a row that cannot be read is failed (``processing._fail``: an exception row).
Fail = Callable[[Session, InboundMessage, Exception, datetime], None]

_IS_SOURCE: dict[type, bool] = {}


def is_tracking_source(source: object) -> bool:
    """Whether a connector instance takes tracking webhooks; once per class, because a
    runtime protocol check inspects every member on each call."""
    kind = type(source)
    known = _IS_SOURCE.get(kind)
    if known is None:
        known = _IS_SOURCE[kind] = issubclass(kind, TrackingSource | TrackingPoller)
    return known


def tracking_of(source: object, msg: InboundMessage) -> TrackingDelivery | None:
    """The tracking a stored delivery carries, or None when it is not a tracking delivery.
    Raises ``PayloadError`` for a tracking delivery that cannot be read."""
    if not is_tracking_source(source):
        return None
    parsed = cast(TrackingSource, source).parse_tracking(msg.headers, msg.body)  # or a poller
    if parsed is not None and not isinstance(parsed, TrackingDelivery):
        raise PayloadError(f"parse_tracking returned {type(parsed).__name__}")
    return parsed


def take_tracking_batch(
    deps: HasConnectors,
    session: Session,
    msg: InboundMessage,
    delivery: TrackingDelivery,
    *,
    source: object,
    batch_size: int,
    now: datetime,
    fail: Fail,
) -> None:
    """Take a claimed tracking row with up to ``batch_size - 1`` more due rows of its
    connector, claimed here, in the caller's transaction. The rows handed back are left in
    the session for ``take_handed_back``."""
    taken: list[tuple[InboundMessage, TrackingDelivery]] = [(msg, delivery)]
    handed_back: list[int] = []
    more = _claim_more(session, msg, batch_size - 1, now) if batch_size > 1 else []
    for other in more:
        try:
            parsed = tracking_of(source, other)
        except PayloadError as exc:
            fail(session, other, exc, now)
            continue
        except Exception:  # retried alone, where its error is recorded
            parsed = None
        if parsed is None:
            handed_back.append(other.id)
        else:
            taken.append((other, parsed))
    if handed_back:
        _hand_back(session, handed_back)
    settled = [other.id for other in more if other.id not in handed_back]
    if len(taken) == 1:
        _record_and_settle(deps, session, taken, now)
        _note_settled(session, settled)
        return
    mark = tracking_events.nudge_mark(session)
    try:
        with session.begin_nested():
            _record_and_settle(deps, session, taken, now)
    except Exception:
        # One row the database refuses (a value too long for its column...) must not fail
        # the rows batched with it: they are handed back, and this one is taken alone.
        log.warning("a batch of %d tracking rows failed; each is taken alone", len(taken))
        tracking_events.drop_nudges_after(session, mark)
        back = {m.id for m, _ in taken[1:]}
        _hand_back(session, sorted(back))
        _record_and_settle(deps, session, taken[:1], now)
        settled = [row_id for row_id in settled if row_id not in back]
    _note_settled(session, settled)


def _record_and_settle(
    deps: HasConnectors,
    session: Session,
    taken: list[tuple[InboundMessage, TrackingDelivery]],
    now: datetime,
) -> None:
    with_update = [(m, d) for m, d in taken if d.update is not None]
    recorded = record_updates(
        deps,
        session,
        [
            Incoming(d.update, m.connector_id, m.id, m.correlation_id)
            for m, d in with_update
            if d.update
        ],
    )
    by_row = {m.id: r for (m, _), r in zip(with_update, recorded, strict=True)}
    _settle(session, [(m, by_row.get(m.id)) for m, _ in taken], now)


def _hand_back(session: Session, row_ids: list[int]) -> None:
    """Rows claimed with a batch and not taken by it: as they were, each queued on its own
    after the commit."""
    session.execute(_HAND_BACK, [{"row_id": row_id} for row_id in row_ids])
    session.info.setdefault(_HANDED_BACK, []).extend(row_ids)


def take_handed_back(session: Session) -> list[int]:
    """The inbox rows a batch claimed and handed back: enqueue them after the commit."""
    return list(session.info.pop(_HANDED_BACK, ()))


def _note_settled(session: Session, row_ids: list[int]) -> None:
    session.info.setdefault(_SETTLED, []).extend(row_ids)


def take_settled(session: Session) -> list[int]:
    """The inbox rows besides the caller's own that a batch settled in this transaction:
    give them to ``settled_by_batch(...).add`` once it has committed."""
    return list(session.info.pop(_SETTLED, ()))


class SettledByBatch:
    """Inbox rows a batch of this process settled (committed) whose own task has not run
    here yet: that task ends at once, without a read (``process_inbound``).

    A batch cannot un-queue the tasks of the rows it took, and each would otherwise open a
    session to read that its row is settled. A mark is used once (``take``), so a replay of
    the row, which queues a task of its own, still gets it processed: of the row's original
    task and the replay's, the first to run takes the mark and the other reads the row. A
    mark left behind (the row's task ran elsewhere, in another process, or found the row
    taken just before the mark was set) can make a later replay's task end once; the row
    then stays pending and due, and the sweeper nudges it again. Bounded: the oldest marks
    are dropped first, and a task without its mark reads the row as before."""

    def __init__(self, limit: int = 100_000) -> None:
        self._limit = limit
        self._rows: dict[int, None] = {}
        self._lock = threading.Lock()

    def add(self, row_ids: list[int]) -> None:
        if not row_ids:
            return
        with self._lock:
            for row_id in row_ids:
                self._rows[row_id] = None
            while len(self._rows) > self._limit:
                del self._rows[next(iter(self._rows))]

    def take(self, row_id: int) -> bool:
        """Whether a batch settled the row (and the mark is now used)."""
        if not self._rows:
            return False
        with self._lock:
            return self._rows.pop(row_id, False) is None

    def forget(self, row_id: int) -> None:
        """The row's task ran and found the row taken: a mark is no longer wanted."""
        if self._rows:
            with self._lock:
                self._rows.pop(row_id, None)


_MARKS: weakref.WeakKeyDictionary[object, SettledByBatch] = weakref.WeakKeyDictionary()
_MARKS_LOCK = threading.Lock()


def settled_by_batch(sessions: object) -> SettledByBatch:
    """The marks of the database a session factory opens (row ids are its own)."""
    marks = _MARKS.get(sessions)
    if marks is None:
        with _MARKS_LOCK:
            marks = _MARKS.setdefault(sessions, SettledByBatch())
    return marks


def _claim_more(
    session: Session, msg: InboundMessage, limit: int, now: datetime
) -> list[InboundMessage]:
    """Claim up to ``limit`` more due rows of ``msg``'s connector, oldest first, in one
    statement; rows another worker holds are skipped (PostgreSQL; SQLite has one writer)."""
    params = {"of_connector": msg.connector_id, "first_id": msg.id, "at": now, "limit": limit}
    rows = session.scalars(_CLAIM_MORE, params).all()
    return sorted(rows, key=lambda row: row.id)


def _settle(
    session: Session, taken: list[tuple[InboundMessage, Recorded | None]], now: datetime
) -> None:
    """Settle the rows in one UPDATE rather than an ORM flush; each object is told it holds
    what is stored."""
    params = []
    for msg, recorded in taken:
        # A parked update is kept, not lost: applied when a shipment with this number comes.
        parked = recorded is not None and recorded.shipment_id is None
        settled = {
            "status": "ignored" if recorded is None else "done",
            "processed_at": now,
            "last_error": f"parked: {recorded.reason}" if parked and recorded else None,
        }
        params.append({"row_id": msg.id, **{f"new_{k}": v for k, v in settled.items()}})
        for name, value in settled.items():
            set_committed_value(msg, name, value)
    session.execute(_SETTLE, params)


_INBOX = table_of(InboundMessage)
_SETTLE = (
    update(_INBOX)
    .where(_INBOX.c.id == bindparam("row_id"))
    .values(
        status=bindparam("new_status"),
        processed_at=bindparam("new_processed_at"),
        last_error=bindparam("new_last_error"),
    )
)
_HANDED_BACK = "omniroute.tracking.handed_back"
_SETTLED = "omniroute.tracking.settled_by_batch"
_DUE = (
    select(_INBOX.c.id)
    .where(
        _INBOX.c.connector_id == bindparam("of_connector"),
        _INBOX.c.status == "pending",
        _INBOX.c.next_attempt_at <= bindparam("at"),
        _INBOX.c.id != bindparam("first_id"),
    )
    .order_by(_INBOX.c.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_CLAIM_MORE = (
    update(InboundMessage)
    .where(InboundMessage.id.in_(_DUE.scalar_subquery()))
    .values(
        status="processing",
        claimed_at=bindparam("at"),
        nudged_at=None,
        attempts=InboundMessage.attempts + 1,
    )
    .returning(InboundMessage)
    .execution_options(synchronize_session=False)
)
# A row claimed with a batch that is not for it: as it was before the claim.
_HAND_BACK = (
    update(_INBOX)
    .where(_INBOX.c.id == bindparam("row_id"))
    .values(status="pending", claimed_at=None, attempts=_INBOX.c.attempts - 1)
)
