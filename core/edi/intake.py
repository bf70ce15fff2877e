"""A partner's file in: each interchange stored raw and committed before the answer.

The file is cut into interchanges (``EdiPartner.split``); each is inserted into the inbox
(``UNIQUE(connector_id, dedupe_key)``, the key being sender + interchange control number),
committed, then nudged. An interchange whose key was stored before is not stored again: it
is answered with the partner's duplicate reply (TA1 025 / CONTRL), numbered and written to
the outbox. The answer lists each interchange: accepted, duplicate, or rejected with its
reasons. The file is read once here, by ``split`` (cut and envelope verdict in one pass;
no set is mapped: the worker does that), and may be a spooled file rather than bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from omniroute.connectors.base import SignatureError
from omniroute.connectors.edi import INTERCHANGE_TOPIC, EdiPartner, Piece
from omniroute.core.edi.documents import queue_document
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.errors import Conflict, Invalid, NotFound, Unauthorized
from omniroute.core.platform.inbox_insert import insert_committed
from omniroute.core.platform.ports import HasConnectors, HasDispatcher, HasEngine, Store


class Deps(Store, HasDispatcher, HasConnectors, HasEngine, Protocol):
    """What taking a partner's file uses."""


@dataclass(frozen=True)
class Entry:
    """What became of one interchange of a file."""

    interchange: str  # its dedupe key: sender and control number
    status: str  # accepted, duplicate or rejected
    inbound_id: int | None = None
    reasons: tuple[str, ...] = ()
    reply_outbox_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "interchange": self.interchange,
            "status": self.status,
            "inbound_id": self.inbound_id,
            "reasons": list(self.reasons),
        }


def partner_of(deps: Deps, connector_id: int) -> EdiPartner:
    target = deps.connectors.webhook_target(connector_id)
    if target is None:
        raise NotFound(f"connector {connector_id} does not exist")
    if not isinstance(target.source, EdiPartner):
        raise NotFound(f"connector {connector_id} is not an EDI trading partner")
    if not target.enabled:
        raise Conflict(f"connector {connector_id} is disabled", code="connector_disabled")
    return target.source


def authorize(deps: Deps, connector_id: int, authorization: str | None) -> EdiPartner:
    """The partner, its token checked (constant time): before its file is read."""
    partner = partner_of(deps, connector_id)
    try:
        partner.check_token(authorization)
    except SignatureError as exc:
        raise Unauthorized(str(exc), code="bad_token") from None
    return partner


def receive_file(
    deps: Deps, connector_id: int, authorization: str | None, body: bytes | BinaryIO
) -> list[Entry]:
    """``POST /edi/{id}``: the partner's token checked, then ``store_file``."""
    partner = authorize(deps, connector_id, authorization)
    return store_file(deps, connector_id, partner, body, source="http")


def import_file(deps: Deps, connector_id: int, body: bytes, *, source: str) -> list[Entry]:
    """A file from the CLI or the partner's inbox folder (no token: the operator's)."""
    return store_file(deps, connector_id, partner_of(deps, connector_id), body, source=source)


def store_file(
    deps: Deps, connector_id: int, partner: EdiPartner, body: bytes | BinaryIO, *, source: str
) -> list[Entry]:
    if _blank(body):
        raise Invalid("the file is empty", code="empty_file")
    return [_store(deps, connector_id, partner, piece, source) for piece in partner.split(body)]


def _blank(body: bytes | BinaryIO, chunk: int = 65_536) -> bool:
    """Nothing but white space (a file is left where it stood)."""
    if isinstance(body, bytes):
        return not body.strip()
    start = body.tell()
    try:
        while block := body.read(chunk):
            if block.strip():
                return False
        return True
    finally:
        body.seek(start)


def _store(deps: Deps, connector_id: int, partner: EdiPartner, piece: Piece, source: str) -> Entry:
    values = {
        "connector_id": connector_id,
        "dedupe_key": piece.dedupe_key,
        "topic": INTERCHANGE_TOPIC,
        "headers": {"x-edi-source": source},
        "body": piece.body,
        "status": "pending",
        "attempts": 0,
    }
    inbound_id = insert_committed(deps.engine, values)
    if inbound_id is None:
        return _duplicate(deps, connector_id, partner, piece)
    deps.dispatcher.enqueue(Task.PROCESS_INBOUND, inbound_id)
    reasons = piece.reasons
    return Entry(piece.dedupe_key, "rejected" if reasons else "accepted", inbound_id, reasons)


def _duplicate(deps: Deps, connector_id: int, partner: EdiPartner, piece: Piece) -> Entry:
    reply = partner.duplicate_reply(piece)
    outbox_id = None
    if reply is not None:
        with unit_of_work(deps.sessions) as session:
            outbox_id = queue_document(session, connector_id, partner, reply)
        deps.dispatcher.enqueue(Task.DELIVER_OUTBOX, outbox_id)
    reason = f"interchange {piece.dedupe_key} was received before; not processed again"
    return Entry(piece.dedupe_key, "duplicate", None, (reason,), outbox_id)
