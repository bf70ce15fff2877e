"""The ops view of one partner: interchanges in (each with its sets, their orders, and the
acknowledgements written for it) and documents out, newest first. Flagged overdue, once
the partner's ``overdue_minutes`` (default ``OVERDUE_AFTER``) have passed: an interchange
whose 997 / CONTRL the agreement asks for but that is not sent; an order set (850 /
ORDERS) whose 997 / CONTRL or 855 / ORDRSP is not sent (``overdue_reasons`` says which;
a set refused is answered by the acknowledgement alone); a document of ours the partner
has not acknowledged (its 997, or for EDIFACT its CONTRL on our interchange)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from omniroute.connectors.edi import CHILD_TOPIC, INTERCHANGE_TOPIC
from omniroute.core.edi.interchanges import ACKS_HEADER
from omniroute.core.outbox.messages import EDI_DOCUMENT
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.errors import NotFound
from omniroute.core.platform.models import Connector, InboundMessage, OutboxMessage, SalesOrder
from omniroute.core.platform.ports import Store

OVERDUE_AFTER = timedelta(minutes=30)
KINDS = ("edi_x12", "edi_edifact")
ACKS = {"edi_x12": "997", "edi_edifact": "CONTRL"}
ANSWERS = {"edi_x12": "855", "edi_edifact": "ORDRSP"}
ORDER_SETS = frozenset({"850", "ORDERS"})
MAX_ROWS = 200
#: What we send that the partner answers with a 997 (X12) or CONTRL (EDIFACT) of its own.
ACKED_BY_PARTNER = frozenset({"855", "856", "810", "846", "ORDRSP", "DESADV", "INVOIC"})


def partner_interchanges(
    deps: Store, connector_id: int, *, limit: int = 50, now: datetime | None = None
) -> dict[str, Any]:
    now = now or deps.clock.now()
    with unit_of_work(deps.sessions) as session:
        connector = session.get(Connector, connector_id)
        if connector is None or connector.kind not in KINDS:
            raise NotFound(f"EDI partner {connector_id} does not exist")
        config = connector.config or {}
        sends = set(config.get("send") or ())
        after = timedelta(minutes=int(config.get("overdue_minutes") or 0)) or OVERDUE_AFTER
        rows = session.scalars(
            select(InboundMessage)
            .where(
                InboundMessage.connector_id == connector_id,
                InboundMessage.topic.in_((INTERCHANGE_TOPIC, CHILD_TOPIC)),
            )
            .order_by(InboundMessage.id.desc())
            .limit(MAX_ROWS)
        ).all()
        out = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.connector_id == connector_id, OutboxMessage.kind == EDI_DOCUMENT)
            .order_by(OutboxMessage.id.desc())
            .limit(MAX_ROWS)
        ).all()
        order_ids = [r.order_id for r in rows if r.order_id is not None]
        orders = {
            o.id: o for o in session.scalars(select(SalesOrder).where(SalesOrder.id.in_(order_ids)))
        }
        received = _received_acks(rows)
        documents = [_document(m, received, now, after) for m in out]
        by_answer: dict[str, list[dict[str, Any]]] = {}
        for doc in documents:
            by_answer.setdefault(str(doc["answers"]), []).append(doc)
        wanted = _Wanted(
            ack=ACKS[connector.kind] if ACKS[connector.kind] in sends else None,
            answer=ANSWERS[connector.kind] if ANSWERS[connector.kind] in sends else None,
            now=now,
            after=after,
        )
        children = [r for r in rows if r.topic == CHILD_TOPIC]
        incoming = [
            _interchange(r, children, orders, by_answer, wanted)
            for r in rows
            if r.topic == INTERCHANGE_TOPIC
        ][:limit]
    return {
        "connector_id": connector_id,
        "kind": connector.kind,
        "interchanges": incoming,
        "documents": documents[:limit],
        "overdue": sum(1 for i in incoming if i["overdue"])
        + sum(1 for i in incoming for s in i["sets"] if s["overdue"])
        + sum(1 for d in documents[:limit] if d["overdue"]),
    }


def _older(at: datetime | None, now: datetime, after: timedelta) -> bool:
    """``at`` (stored naive UTC, or aware) lies more than ``after`` before ``now``."""
    if at is None:
        return False
    moment = now if now.tzinfo else now.replace(tzinfo=UTC)
    return moment - (at if at.tzinfo else at.replace(tzinfo=UTC)) > after


class _Wanted:
    def __init__(
        self, *, ack: str | None, answer: str | None, now: datetime, after: timedelta
    ) -> None:
        self.ack, self.answer, self.now, self.after = ack, answer, now, after

    def late(
        self, received_at: datetime | None, docs: list[dict[str, Any]], doc: str | None
    ) -> bool:
        if doc is None:
            return False
        if any(d["doc_type"] == doc and d["status"] == "sent" for d in docs):
            return False
        return _older(received_at, self.now, self.after)


def _received_acks(rows: Sequence[InboundMessage]) -> dict[tuple[str, str], str]:
    """The partner's verdicts on what we sent: its 997s by our group's control number
    (``("group", n)``), its TA1s by our interchange's (``("interchange", n)``)."""
    found: dict[tuple[str, str], str] = {}
    for row in rows:
        text = (row.headers or {}).get(ACKS_HEADER)
        if not text:
            continue
        for ack in json.loads(text):
            for scope in ("group", "interchange"):
                number = ack.get(f"{scope}_control")
                if number is not None and str(number).isdigit():
                    found.setdefault((scope, str(int(number))), str(ack["code"]))
    return found


def _document(
    msg: OutboxMessage, received: dict[tuple[str, str], str], now: datetime, after: timedelta
) -> dict[str, Any]:
    payload = msg.payload or {}
    numbers = payload.get("numbers") or {}
    group, interchange = numbers.get("group"), numbers.get("interchange")
    envelope = received.get(("interchange", str(interchange))) if interchange else None
    if group is not None:
        verdict = received.get(("group", str(group)))
    else:  # EDIFACT: the partner's CONTRL answers our interchange
        verdict, envelope = envelope, None
    waiting = payload.get("doc_type") in ACKED_BY_PARTNER and verdict is None
    return {
        "partner_ack": verdict,
        "partner_ta1": envelope,
        "overdue": waiting and _older(msg.sent_at, now, after),
        "outbox_id": msg.id,
        "doc_type": payload.get("doc_type"),
        "control_number": payload.get("control_number"),
        "filename": payload.get("filename"),
        "answers": payload.get("answers"),
        "status": msg.status,
        "attempts": msg.attempts,
        "created_at": msg.created_at,
        "sent_at": msg.sent_at,
        "last_error": msg.last_error,
    }


def _interchange(
    row: InboundMessage,
    children: list[InboundMessage],
    orders: dict[int, SalesOrder],
    by_answer: dict[str, list[dict[str, Any]]],
    wanted: _Wanted,
) -> dict[str, Any]:
    key = row.dedupe_key
    acks = by_answer.get(key, []) + [
        doc for answers, docs in by_answer.items() if answers.startswith(key + ":") for doc in docs
    ]
    sets = []
    for child in children:
        if not child.dedupe_key.startswith(key + ":"):
            continue
        order = orders.get(child.order_id) if child.order_id is not None else None
        answered = by_answer.get(f"order:{order.external_id}", []) if order else []
        reasons = _set_overdue(child, acks, answered, wanted)
        sets.append(
            {
                "inbound_id": child.id,
                "set": (child.headers or {}).get("x-edi-set"),
                "reference": (child.headers or {}).get("x-edi-reference"),
                "status": child.status,
                "error": child.last_error,
                "order_id": child.order_id,
                "order_status": order.status if order else None,
                "answers": answered,
                "overdue": bool(reasons),
                "overdue_reasons": reasons,
            }
        )
    rejected = row.status == "failed"
    return {
        "inbound_id": row.id,
        "interchange": key,
        "status": row.status,
        "received_at": row.received_at,
        "problems": row.last_error,
        "acknowledgements": acks,
        "overdue": not rejected and wanted.late(row.received_at, acks, wanted.ack),
        "sets": sets,
    }


def _set_overdue(
    child: InboundMessage,
    acks: list[dict[str, Any]],
    answered: list[dict[str, Any]],
    wanted: _Wanted,
) -> list[str]:
    """Why an order set is overdue: its interchange's acknowledgement, or its answer (855 /
    ORDRSP: due unless the set was refused), not sent in time."""
    set_id = str((child.headers or {}).get("x-edi-set") or "").split(" ")[0]
    if set_id not in ORDER_SETS:
        return []
    reasons = []
    if wanted.late(child.received_at, acks, wanted.ack):
        reasons.append(f"{wanted.ack} not sent")
    if child.status != "failed" and wanted.late(child.received_at, answered, wanted.answer):
        reasons.append(f"{wanted.answer} not sent")
    return reasons
