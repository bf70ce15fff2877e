"""A reply or document to a partner: numbered, rendered and written to the outbox in the
caller's transaction; the relay only transmits it (``channels.push``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from omniroute.connectors.edi import EdiPartner, Reply
from omniroute.connectors.edi_delivery import to_payload
from omniroute.core.edi import numbers
from omniroute.core.outbox import messages as outbox
from omniroute.core.platform.clock import now_of


def queue_document(
    session: Session,
    connector_id: int,
    partner: EdiPartner,
    reply: Reply,
    *,
    key: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> int:
    """The outbox row of ``reply``, its control numbers taken now; its id (nudge it after
    the commit). ``key``: the row's idempotency key when the caller names the document
    (an order's answer); else the document type and its control number. ``extra``: more
    payload keys, for the caller to read back (an answer's line state)."""
    taken = numbers.take_all(session, connector_id, reply.scopes)
    rendered = partner.render(reply, taken, now_of(session))
    payload = {**to_payload(rendered), "answers": reply.answers, "numbers": taken, **(extra or {})}
    return outbox.add(
        session,
        kind=outbox.EDI_DOCUMENT,
        connector_id=connector_id,
        idempotency_key=key or f"edi:{connector_id}:{rendered.doc_type}:{rendered.control_number}",
        payload=payload,
    )
