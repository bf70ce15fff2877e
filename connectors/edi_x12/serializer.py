"""Writing X12: segments with a partner's delimiters, inside ISA/GS/ST envelopes.

Control numbers come in as arguments; the envelope's trailers (SE, GE, IEA) are counted
here, so a written interchange always passes ``envelope`` validation. A value holding one
of the interchange's delimiters is refused with the segment and element it is in (it would
silently change the document's structure).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from omniroute.connectors.edi_x12.control_numbers import ControlKind, format_control
from omniroute.connectors.edi_x12.tokenizer import Delimiters

#: GS01 functional identifier of each transaction set this package writes or reads.
FUNCTIONAL_IDS = {
    "810": "IN",
    "846": "IB",
    "850": "PO",
    "855": "PR",
    "856": "SH",
    "997": "FA",
}
_REPETITION_FROM = "00402"

Element = str | tuple[str, ...]


class SerializeError(ValueError):
    """A value cannot be written as it is (a delimiter inside it, a field too wide)."""


@dataclass(frozen=True, slots=True)
class OutSegment:
    """A segment to write: its tag and elements (a tuple of strings is a composite)."""

    tag: str
    elements: tuple[Element, ...]


def seg(tag: str, *elements: Element | None) -> OutSegment:
    """``seg("PO1", "1", "6", "EA")``; ``None`` is an empty element."""
    return OutSegment(tag, tuple("" if value is None else value for value in elements))


@dataclass(frozen=True, slots=True)
class Party:
    """An interchange sender or receiver: ISA05/ISA07 qualifier and ISA06/ISA08 id."""

    qualifier: str
    id: str


@dataclass(frozen=True, slots=True)
class TransactionOut:
    """A transaction set's body (no ST/SE: they are added) and its ST02 control number.
    ``body`` may be any re-iterable collection (a 997's is made as it is written)."""

    set_id: str
    control_number: int
    body: Iterable[OutSegment]
    implementation_ref: str | None = None


@dataclass(frozen=True, slots=True)
class GroupOut:
    """A functional group: GS02/GS03 application codes, GS06 control number, GS08 version."""

    sender_code: str
    receiver_code: str
    control_number: int
    transactions: Sequence[TransactionOut]
    version: str = "004010"
    functional_id: str | None = None  # default: from the first transaction set's id


@dataclass(frozen=True, slots=True)
class InterchangeOut:
    """An interchange: parties, ISA13 control number, when it was made, its delimiters."""

    sender: Party
    receiver: Party
    control_number: int
    created_at: dt.datetime
    groups: Sequence[GroupOut] = field(default_factory=tuple)
    version: str = "00401"
    usage: str = "P"
    ack_requested: bool = False
    delimiters: Delimiters = field(default_factory=Delimiters)
    line_break: bool = False  # a line break after each terminator, for partners who want one
    # Segments written between ISA and the first GS: a TA1 answering an interchange.
    leading: Sequence[OutSegment] = field(default_factory=tuple)


def _check(value: str, delimiters: Delimiters, where: str) -> str:
    for char in (delimiters.element, delimiters.component, delimiters.segment):
        if char in value:
            raise SerializeError(f"{where}: value {value!r} holds the delimiter {char!r}")
    if delimiters.repetition is not None and delimiters.repetition in value:
        raise SerializeError(
            f"{where}: value {value!r} holds the repetition separator {delimiters.repetition!r}"
        )
    return value


def render(segment: OutSegment, delimiters: Delimiters) -> str:
    """One segment as text, terminator included; trailing empty elements are dropped."""
    parts = [segment.tag]
    for position, element in enumerate(segment.elements, start=1):
        where = f"{segment.tag}{position:02d}"
        if isinstance(element, tuple):
            components = [_check(value, delimiters, where) for value in element]
            while components and not components[-1]:
                components.pop()
            parts.append(delimiters.component.join(components))
        else:
            parts.append(_check(element, delimiters, where))
    while len(parts) > 1 and not parts[-1]:
        parts.pop()
    return delimiters.element.join(parts) + delimiters.segment


def _fixed(value: str, width: int, name: str) -> str:
    if len(value) > width:
        raise SerializeError(f"{name} {value!r} is longer than its {width} characters")
    return value.ljust(width)


def isa_segment(out: InterchangeOut) -> str:
    """The ISA, every element at its fixed width (106 characters with its terminator)."""
    d = out.delimiters
    if out.version >= _REPETITION_FROM:
        if d.repetition is None:
            raise SerializeError(f"ISA12 {out.version} needs a repetition separator (ISA11)")
        isa11 = d.repetition
    else:
        isa11 = "U"
    elements = [
        "00",
        " " * 10,
        "00",
        " " * 10,
        _fixed(out.sender.qualifier, 2, "ISA05"),
        _fixed(out.sender.id, 15, "ISA06"),
        _fixed(out.receiver.qualifier, 2, "ISA07"),
        _fixed(out.receiver.id, 15, "ISA08"),
        out.created_at.strftime("%y%m%d"),
        out.created_at.strftime("%H%M"),
        isa11,
        _fixed(out.version, 5, "ISA12"),
        format_control(out.control_number, ControlKind.INTERCHANGE),
        "1" if out.ack_requested else "0",
        _fixed(out.usage, 1, "ISA15"),
        d.component,
    ]
    for position, value in enumerate(elements[:-1], start=1):
        if position != 11:
            _check(value, d, f"ISA{position:02d}")
    return d.element.join(["ISA", *elements]) + d.segment


def write_interchange(out: InterchangeOut) -> bytes:
    """The whole interchange, UTF-8 encoded."""
    d = out.delimiters
    brk = "\n" if out.line_break and d.segment != "\n" else ""
    text = io.StringIO()
    text.write(isa_segment(out) + brk)
    for segment in out.leading:
        text.write(render(segment, d) + brk)
    for group in out.groups:
        _write_group(text, group, out, brk)
    control = format_control(out.control_number, ControlKind.INTERCHANGE)
    text.write(render(seg("IEA", str(len(out.groups)), control), d) + brk)
    return text.getvalue().encode("utf-8")


def _write_group(text: io.StringIO, group: GroupOut, out: InterchangeOut, brk: str) -> None:
    d = out.delimiters
    if not group.transactions and group.functional_id is None:
        raise SerializeError("a functional group needs a transaction set or a functional id")
    functional_id = group.functional_id or FUNCTIONAL_IDS.get(group.transactions[0].set_id)
    if functional_id is None:
        raise SerializeError(
            f"no functional id known for transaction set {group.transactions[0].set_id}"
        )
    controls = [ts.control_number for ts in group.transactions]
    if len(set(controls)) != len(controls):
        raise SerializeError(f"ST02 control numbers repeat within group {group.control_number}")
    control = format_control(group.control_number, ControlKind.GROUP)
    gs = seg(
        "GS",
        functional_id,
        group.sender_code,
        group.receiver_code,
        out.created_at.strftime("%Y%m%d"),
        out.created_at.strftime("%H%M"),
        control,
        "X",
        group.version,
    )
    text.write(render(gs, d) + brk)
    for ts in group.transactions:
        for line in transaction_lines(ts, d):
            text.write(line + brk)
    text.write(render(seg("GE", str(len(group.transactions)), control), d) + brk)


def transaction_lines(ts: TransactionOut, d: Delimiters) -> Iterator[str]:
    """ST, the body and SE (its count includes ST and SE), one rendered segment at a time."""
    control = format_control(ts.control_number, ControlKind.TRANSACTION_SET)
    yield render(seg("ST", ts.set_id, control, ts.implementation_ref), d)
    count = 2
    for segment in ts.body:
        count += 1
        yield render(segment, d)
    yield render(seg("SE", str(count), control), d)
