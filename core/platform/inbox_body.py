"""An inbox row's stored body read in slices, for a body too large to hold whole.

A stored EDI interchange may be tens of megabytes; loaded through the driver it costs
several copies of itself. The claim leaves such a body unloaded (``claims.claim_inbound``,
``streamed_topics``) and its reader takes it a slice a statement. Each slice is a
``substr`` of the stored value, so the whole value is never returned at once.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from omniroute.core.platform.models import InboundMessage

#: Bytes a statement: few round trips for a large file, little held at a time.
SLICE_BYTES = 4 * 1024 * 1024

_SLICE = select(func.substr(InboundMessage.body, bindparam("start"), bindparam("length"))).where(
    InboundMessage.id == bindparam("row_id")
)


def body_of(
    session: Session, msg: InboundMessage, *, slice_bytes: int | None = None
) -> bytes | Iterator[bytes]:
    """The row's body: as loaded when the claim loaded it, else its slices from the database."""
    if "body" in msg.__dict__:
        return msg.body
    return body_slices(session, msg.id, slice_bytes=slice_bytes or SLICE_BYTES)


def body_slices(
    session: Session, row_id: int, *, slice_bytes: int = SLICE_BYTES
) -> Iterator[bytes]:
    """The stored body of row ``row_id``, ``slice_bytes`` at a time, in order."""
    start = 1  # SQL's substr counts from 1
    while True:
        piece = session.execute(
            _SLICE, {"row_id": row_id, "start": start, "length": slice_bytes}
        ).scalar()
        if not piece:
            return
        yield bytes(piece)
        if len(piece) < slice_bytes:
            return
        start += slice_bytes
