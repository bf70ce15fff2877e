"""Processing a stored interchange: fan it out, in the inbox row's transaction.

Each transaction set / message becomes its own inbox row (``CHILD_TOPIC``, keyed by the
interchange's key + group + set control number, so a replay adds none twice), processed
like any channel order by ``intake.processing`` with the partner's ``parse_webhook`` and
``map_order``; a set the partner's reader refuses fails there with its reason (kept,
an exception, replayable after a fix). The acknowledgements (997/TA1, CONTRL) are numbered,
rendered and written to the outbox here, in the same transaction. The sets are inserted as
the partner reads them, in batches, never all held at once. An interchange whose envelope
does not hold leaves no set: the row fails with an exception naming the segment.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from omniroute.connectors.base import PayloadError
from omniroute.connectors.edi import CHILD_TOPIC, INTERCHANGE_TOPIC, Child, EdiPartner, Reading
from omniroute.core.edi.documents import queue_document
from omniroute.core.exceptions.opening import Reason, open_exception
from omniroute.core.platform.inbox_body import body_of
from omniroute.core.platform.inbox_insert import CONFLICT_KEY
from omniroute.core.platform.models import InboundMessage
from omniroute.core.platform.sql import insert_ignoring_conflict_stmt, table_of

#: The stored interchange's header listing the 997s it carried, as JSON.
ACKS_HEADER = "x-edi-acks"
_INBOUND_NUDGES = "omniroute.edi.inbound_nudges"
_OUTBOX_NUDGES = "omniroute.edi.outbox_nudges"
#: Child rows a statement: enough to make the round trips few, little held meanwhile.
CHILD_BATCH = 500


def is_interchange(msg: InboundMessage) -> bool:
    return msg.topic == INTERCHANGE_TOPIC


def take_interchange(
    session: Session,
    msg: InboundMessage,
    source: Any,
    now: datetime,
) -> None:
    """Fan out one stored interchange and settle its row.

    The children are inserted as the partner reads them, ``CHILD_BATCH`` rows a statement,
    inside a savepoint: an X12 envelope is known to hold only at its end, so a rejected
    interchange rolls the savepoint back and leaves no child. (The intake's verdict is not
    stored with the row, and the partner's agreement may have changed since: the verdict
    read here is the one that counts.) The replies are numbered and queued after, from
    the ``Reading``."""
    if not isinstance(source, EdiPartner):
        raise PayloadError(f"connector {msg.connector_id} is not an EDI partner")
    reading, inbound_ids = _fan_out(session, msg, source, now)
    outbox_ids = [queue_document(session, msg.connector_id, source, r) for r in reading.replies]
    msg.processed_at = now
    if reading.acks_received:  # the partner's verdicts on our groups, for the ops view
        msg.headers = {**(msg.headers or {}), ACKS_HEADER: json.dumps(reading.acks_received)}
    if reading.rejected:
        msg.status = "failed"
        msg.last_error = "; ".join(reading.problems)[:2000] or "interchange rejected"
        open_exception(
            session,
            Reason.INVALID_PAYLOAD,
            detail={
                "message": f"interchange rejected: {msg.last_error}",
                "problems": list(reading.problems),
                "connector_id": msg.connector_id,
            },
            inbound_message_id=msg.id,
        )
    else:
        msg.status = "done"
        msg.last_error = "; ".join(reading.problems)[:2000] or None
    session.info.setdefault(_INBOUND_NUDGES, []).extend(inbound_ids)
    session.info.setdefault(_OUTBOX_NUDGES, []).extend(outbox_ids)


def _fan_out(
    session: Session, msg: InboundMessage, source: EdiPartner, now: datetime
) -> tuple[Reading, list[int]]:
    """The partner's reading of ``msg`` and the ids of the children it added (none when the
    interchange is rejected: the savepoint around them rolled back)."""
    stmt = insert_ignoring_conflict_stmt(
        session.get_bind().dialect.name, table_of(InboundMessage), CONFLICT_KEY
    )
    inbound_ids: list[int] = []
    rows: list[dict[str, Any]] = []
    savepoint = session.begin_nested()
    try:
        for item in source.stream_interchange(body_of(session, msg)):
            if isinstance(item, Reading):
                if item.rejected:
                    savepoint.rollback()
                    return item, []
                inbound_ids += _insert(session, stmt, rows)
                savepoint.commit()
                return item, inbound_ids
            rows.append(_child_row(msg.connector_id, item, now))
            if len(rows) >= CHILD_BATCH:
                inbound_ids += _insert(session, stmt, rows)
                rows = []
        raise PayloadError("the interchange's reading ended without its verdict")
    except BaseException:
        if savepoint.is_active:
            savepoint.rollback()
        raise


def _child_row(connector_id: int, child: Child, now: datetime) -> dict[str, Any]:
    headers = {"x-edi-set": f"{child.set_id} {child.control_number}"}
    if child.reference:
        headers["x-edi-reference"] = child.reference[:200]
    return {
        "connector_id": connector_id,
        "dedupe_key": child.dedupe_key,
        "topic": CHILD_TOPIC,
        "headers": headers,
        "body": child.body,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
    }


def _insert(session: Session, stmt: Any, rows: list[dict[str, Any]]) -> list[int]:
    """The new ids of ``rows`` (one statement; a child stored before returns none)."""
    if not rows:
        return []
    return [int(i) for i in session.execute(stmt, rows).scalars()]


def note_outbox(session: Session, outbox_id: int) -> None:
    """An outbox row this session wrote for a partner: nudged after the commit."""
    session.info.setdefault(_OUTBOX_NUDGES, []).append(outbox_id)


def take_nudges(session: Session) -> tuple[list[int], list[int]]:
    """(inbox ids, outbox ids) this session wrote: nudge them after the commit."""
    return (
        list(session.info.pop(_INBOUND_NUDGES, ())),
        list(session.info.pop(_OUTBOX_NUDGES, ())),
    )
