"""A partner's received X12 file, cut and read for the wiring (pure).

``split`` cuts a file at each ISA (each interchange keeps its own delimiters; the key is
``InterchangeHeader.dedupe_key``; a file of one interchange is kept whole, BOM and all);
bytes that are not X12 at all are one piece keyed by their SHA-256, so they are still
stored and answered. ``read`` reads one interchange with
``inbound.read_inbound``: each transaction set (except 997s, which answer us) becomes a
``Child`` whose body is the set in a copy of its own envelope (ISA, GS, the set, GE and
IEA counting one), so it maps again alone on replay (``stream`` yields each as it is read,
holding none); each group's 997 and the TA1 become
replies; an interchange from another sender or to another receiver than the partner
agreement says is rejected whole (TA1 R 006/008).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from omniroute.connectors.edi import Child, Piece, Reading, Reply, collect
from omniroute.connectors.edi_x12.acknowledgements import (
    InterchangeAck,
    acknowledge_interchange,
    needs_ta1,
)
from omniroute.connectors.edi_x12.codes import AckCode, InterchangeNote
from omniroute.connectors.edi_x12.envelope import (
    InterchangeEnd,
    InterchangeHeader,
    TransactionSet,
    iter_envelope,
)
from omniroute.connectors.edi_x12.inbound import (
    AckReceived,
    GroupRead,
    InterchangeRead,
    OrderRead,
    SetRejected,
    read_inbound,
)
from omniroute.connectors.edi_x12.tokenizer import Segment, X12SyntaxError, iter_segments

#: Control number scopes a reply takes from the partner's sequence.
INTERCHANGE = "interchange"
GROUP = "group"
_MAX_KEY = 200


@dataclass(frozen=True, slots=True)
class Agreement:
    """What the partner agreement fixes for reading: who may send, to whom, and how."""

    their: tuple[str, str]  # (ISA05, ISA06)
    our: tuple[str, str]  # (ISA07, ISA08)
    channel: str
    default_currency: str
    identifier_order: Sequence[str]
    locations: Mapping[tuple[str, str], Mapping[str, Any]]
    send: frozenset[str]


def _raw_key(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def split(body: bytes | BinaryIO, agreement: Agreement | None = None) -> list[Piece]:
    """Each interchange of ``body`` with its dedupe key; what cannot be cut stays whole.
    One streaming pass through the tokenizer and envelope checks: with an ``agreement``,
    each piece also says whether its envelope (or its sender or receiver) rejects it."""
    start_at = body.tell() if not isinstance(body, bytes) else 0
    starts: list[tuple[int, str]] = []
    rejections: dict[int, tuple[str, ...]] = {}
    problem: str | None = None
    try:
        for event in iter_envelope(iter_segments(body)):
            if isinstance(event, InterchangeHeader):
                starts.append((event.isa.offset, _key_of(event.isa)))
            elif isinstance(event, InterchangeEnd) and agreement is not None and starts:
                verdict = _verdict(event, acknowledge_interchange(event), agreement)
                if verdict.code is AckCode.REJECTED:
                    rejections[len(starts) - 1] = verdict.problems or (f"TA1 {verdict.note}",)
    except X12SyntaxError as exc:
        problem = str(exc)
    if not starts:
        raw = _slice(body, start_at, None)
        return [Piece(_raw_key(raw), raw, problem=problem or "no ISA segment: not X12")]
    pieces = []
    for n, (offset, key) in enumerate(starts):
        last = n + 1 == len(starts)
        # a file of one interchange is kept exactly as it came (BOM and all)
        begin = start_at if len(starts) == 1 else start_at + offset
        raw = _slice(body, begin, None if last else start_at + starts[n + 1][0])
        sender, _, control = key.rpartition(":")
        pieces.append(
            Piece(key, raw, sender, control, problem if last else None, rejections.get(n, ()))
        )
    return pieces


def _slice(body: bytes | BinaryIO, begin: int, end: int | None) -> bytes:
    if isinstance(body, bytes):
        return body[begin:end]
    body.seek(begin)
    return body.read() if end is None else body.read(end - begin)


def _key_of(isa: Segment) -> str:
    key = InterchangeHeader.of(isa).dedupe_key
    return key if len(key) <= _MAX_KEY else _raw_key(key.encode())


def stream(body: bytes | Iterable[bytes], agreement: Agreement) -> Iterator[Child | Reading]:
    """Each set of one stored interchange as a ``Child`` as it is read, then the
    ``Reading`` of replies and problems. One pass: what is held meanwhile is the per-group
    997 content and the problems' text, never the sets (nor the file: ``body`` may come
    in slices, as a stored interchange is read). Whether the envelope holds is known
    at its end: a rejected interchange's children are yielded before the rejected
    ``Reading`` and the caller drops them."""
    replies: list[Reply] = []
    problems: list[str] = []
    acks: list[dict[str, Any]] = []
    groups: list[Reply] = []  # answers and scopes set once the interchange's key is read
    key = ""
    ended = False
    events = read_inbound(
        body,
        channel=agreement.channel,
        default_currency=agreement.default_currency,
        identifier_order=agreement.identifier_order,
        locations=agreement.locations,
    )
    try:
        for event in events:
            if isinstance(event, OrderRead | SetRejected):
                yield _child(event.transaction)
                if isinstance(event, SetRejected):
                    problems.extend(event.reasons)
            elif isinstance(event, AckReceived):
                acks.append(_ack_received(event))
            elif isinstance(event, GroupRead) and event.needs_997 and "997" in agreement.send:
                groups.append(Reply("997", event.ack, event.end.header.control_number, ()))
            elif isinstance(event, InterchangeRead):
                ended = True
                key = event.end.header.dedupe_key
                acks.extend(
                    {"interchange_control": t.control_number, "code": t.code, "note": t.note}
                    for t in event.received_ta1s
                )
                verdict = _verdict(event.end, event.ack, agreement)
                problems.extend(verdict.problems)
                replies.extend(_ta1(event, verdict, agreement))
                if verdict.code is AckCode.REJECTED:
                    yield Reading(replies=tuple(replies), problems=tuple(problems), rejected=True)
                    return
    except X12SyntaxError as exc:
        yield Reading(problems=(f"not readable as X12: {exc}",), rejected=True)
        return
    if not ended:
        problems.append("no interchange found (no ISA)")
        yield Reading(problems=tuple(problems), rejected=True)
        return
    acks_997 = [Reply("997", g.content, f"{key}:{g.answers}", (INTERCHANGE, GROUP)) for g in groups]
    yield Reading((), tuple(replies + acks_997), tuple(problems), False, tuple(acks))


def read(body: bytes, agreement: Agreement) -> Reading:
    """Children, replies and problems of one stored interchange, read whole."""
    return collect(stream(body, agreement))


def _ack_received(event: AckReceived) -> dict[str, Any]:
    ack = event.ack
    return {
        "functional_id": ack.functional_id,
        "group_control": ack.group_control_number,
        "code": ack.code,
    }


def _ta1(event: InterchangeRead, verdict: InterchangeAck, agreement: Agreement) -> list[Reply]:
    header = event.end.header
    if "TA1" not in agreement.send or not needs_ta1(verdict, requested=header.ack_requested):
        return []
    return [Reply("TA1", verdict, header.dedupe_key, (INTERCHANGE,))]


def _verdict(end: InterchangeEnd, ack: InterchangeAck, agreement: Agreement) -> InterchangeAck:
    header = end.header
    sender = (header.sender_qualifier, header.sender_id)
    receiver = (header.receiver_qualifier, header.receiver_id)
    wrong: list[tuple[InterchangeNote, str]] = []
    if sender != agreement.their:
        wrong.append(
            (
                InterchangeNote.INVALID_SENDER_ID,
                f"ISA05/06 {':'.join(sender)} is not this partner ({':'.join(agreement.their)})",
            )
        )
    if receiver != agreement.our:
        wrong.append(
            (
                InterchangeNote.INVALID_RECEIVER_ID,
                f"ISA07/08 {':'.join(receiver)} is not us ({':'.join(agreement.our)})",
            )
        )
    if not wrong or ack.code is AckCode.REJECTED:
        return ack
    return dataclasses.replace(
        ack,
        code=AckCode.REJECTED,
        note=wrong[0][0],
        problems=(*(text for _, text in wrong), *ack.problems),
    )


def _child(ts: TransactionSet) -> Child:
    d = ts.interchange.delimiters
    isa, gs = ts.interchange.isa, ts.group.gs
    parts = [_render(isa), _render(gs), *(_render(s) for s in ts.segments)]
    parts.append(f"GE{d.element}1{d.element}{ts.group.control_number}{d.segment}")
    parts.append(f"IEA{d.element}1{d.element}{ts.interchange.control_number}{d.segment}")
    key = f"{ts.interchange.dedupe_key}:{ts.group.control_number}:{ts.control_number}"
    reference = ts.st.get(3).strip() or None
    if ts.set_id == "850":
        beg = next((s for s in ts.segments if s.tag == "BEG"), None)
        reference = beg.get(3).strip() if beg is not None else reference
    return Child(
        key if len(key) <= _MAX_KEY else _raw_key(key.encode()),
        "".join(parts).encode("utf-8"),
        ts.set_id,
        ts.control_number,
        reference,
    )


def _render(segment: Segment) -> str:
    d = segment.delimiters
    return d.element.join((segment.tag, *segment.elements)) + d.segment


def duplicate_ta1(piece: Piece) -> InterchangeAck | None:
    """TA1 R 025 for an interchange whose control number was taken before."""
    try:
        isa = next(iter_segments(piece.body))
    except (X12SyntaxError, StopIteration):
        return None
    header = InterchangeHeader.of(isa)
    return InterchangeAck(
        header.control_number,
        header.date,
        header.time,
        AckCode.REJECTED,
        InterchangeNote.DUPLICATE_CONTROL_NUMBER,
        (f"interchange control number {header.control_number} seen before",),
    )
