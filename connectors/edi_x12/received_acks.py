"""Reading a partner's acknowledgements of what we sent: a 997 and a TA1.

``read_997`` gives, for the group it answers (AK1), each transaction set's verdict
(AK2/AK5, with AK3/AK4 notes) and the group's (AK9); ``read_ta1`` the verdict on one of our
interchanges. The wiring matches them to what it sent by control numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from omniroute.connectors.edi_x12.envelope import TransactionSet
from omniroute.connectors.edi_x12.tokenizer import Segment


class AckReadError(ValueError):
    """A 997 or TA1 we cannot read, naming the segment."""


@dataclass(frozen=True, slots=True)
class ReceivedSetAck:
    """AK2 … AK5: the verdict on one of our transaction sets."""

    set_id: str
    control_number: str
    code: str  # AK501: A, E, R, ...
    errors: tuple[str, ...]  # AK502-AK506
    notes: tuple[str, ...]  # each AK3/AK4 as written, e.g. "AK3*PO1*3**8"


@dataclass(frozen=True, slots=True)
class Received997:
    """A partner's 997: the group of ours it answers and its verdicts."""

    functional_id: str
    group_control_number: str
    sets: tuple[ReceivedSetAck, ...]
    code: str  # AK901: A, E, P, R
    included: int | None
    received: int | None
    accepted: int | None
    errors: tuple[str, ...]  # AK905-AK909


@dataclass(frozen=True, slots=True)
class ReceivedTa1:
    control_number: str
    date: str
    time: str
    code: str  # TA104: A, E, R
    note: str  # TA105


def _int(value: str) -> int | None:
    return int(value) if value.strip().isdigit() else None


def _fail(segment: Segment, text: str) -> AckReadError:
    return AckReadError(f"{segment.where()}: {text}")


def read_997(ts: TransactionSet) -> Received997:
    """The content of a 997; raises ``AckReadError`` where AK1/AK2/AK5/AK9 are not in place."""
    if ts.set_id != "997":
        raise AckReadError(f"transaction set {ts.control_number} is a {ts.set_id}, not a 997")
    body = ts.body
    if not body or body[0].tag != "AK1":
        raise _fail(body[0] if body else ts.st, "a 997 starts with AK1")
    ak1 = body[0]
    sets, ak9 = _set_acks(body[1:])
    if ak9 is None:
        raise _fail(body[-1], "a 997 ends with AK9")
    return Received997(
        functional_id=ak1.get(1),
        group_control_number=ak1.get(2),
        sets=tuple(sets),
        code=ak9.get(1),
        included=_int(ak9.get(2)),
        received=_int(ak9.get(3)),
        accepted=_int(ak9.get(4)),
        errors=tuple(code for code in ak9.elements[4:] if code),
    )


def _set_acks(segments: tuple[Segment, ...]) -> tuple[list[ReceivedSetAck], Segment | None]:
    sets: list[ReceivedSetAck] = []
    open_set: tuple[Segment, list[str]] | None = None
    ak9: Segment | None = None
    for segment in segments:
        if segment.tag == "AK2":
            if open_set is not None:
                raise _fail(segment, "AK2 before the previous AK2's AK5")
            open_set = (segment, [])
        elif segment.tag in {"AK3", "AK4"} and open_set is not None:
            element = segment.delimiters.element
            open_set[1].append(element.join((segment.tag, *segment.elements)))
        elif segment.tag == "AK5":
            if open_set is None:
                raise _fail(segment, "AK5 without an AK2")
            ak2, notes = open_set
            errors = tuple(code for code in segment.elements[1:] if code)
            code = segment.get(1)
            sets.append(ReceivedSetAck(ak2.get(1), ak2.get(2), code, errors, tuple(notes)))
            open_set = None
        elif segment.tag == "AK9":
            ak9 = segment
    if open_set is not None:
        raise _fail(open_set[0], "AK2 without its AK5")
    return sets, ak9


def read_ta1(segment: Segment) -> ReceivedTa1:
    """The content of a TA1 segment."""
    if segment.tag != "TA1":
        raise _fail(segment, "not a TA1")
    return ReceivedTa1(*(segment.get(n).strip() for n in range(1, 6)))
