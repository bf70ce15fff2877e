"""X12 envelope validation: ISA/IEA, GS/GE and ST/SE, streamed.

``iter_envelope`` turns the tokenizer's segments into a stream of events (an interchange
header, a group header, each complete transaction set, the end of a group, the end of an
interchange), each carrying the problems found with the code the acknowledgements need
(TA105 for the interchange, AK905 for a group, AK502 for a transaction set) and the
segment's position. A transaction set holds its own segments; a group's end holds only a
summary of its sets, so a stream of any size keeps one transaction set in memory.
``parse_interchanges`` gathers the events into interchange → groups → transaction sets.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO, NamedTuple, overload

from omniroute.connectors.edi_x12.codes import (
    ElementError,
    GroupError,
    InterchangeNote,
    SegmentError,
    TransactionSetError,
)
from omniroute.connectors.edi_x12.tokenizer import (
    Delimiters,
    Segment,
    X12SyntaxError,
    iter_segments,
)

Code = InterchangeNote | GroupError | TransactionSetError | SegmentError | ElementError


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong: its standard code, the segment it is about, and what to fix."""

    code: Code
    index: int
    offset: int
    tag: str
    text: str
    element: int | None = None

    def __str__(self) -> str:
        where = f"segment {self.index} ({self.tag}) at byte {self.offset}"
        element = f", element {self.element:02d}" if self.element else ""
        return f"{where}{element}: {self.text} [{type(self.code).__name__} {self.code.value}]"


def _problem(code: Code, segment: Segment, text: str, element: int | None = None) -> Problem:
    return Problem(code, segment.number, segment.offset, segment.tag, text, element)


# ISA element widths, and the TA105 note for a wrong value in each.
_ISA_FIELDS: tuple[tuple[int, InterchangeNote], ...] = (
    (2, InterchangeNote.INVALID_AUTHORIZATION_QUALIFIER),
    (10, InterchangeNote.INVALID_AUTHORIZATION_VALUE),
    (2, InterchangeNote.INVALID_SECURITY_QUALIFIER),
    (10, InterchangeNote.INVALID_SECURITY_VALUE),
    (2, InterchangeNote.INVALID_SENDER_QUALIFIER),
    (15, InterchangeNote.INVALID_SENDER_ID),
    (2, InterchangeNote.INVALID_RECEIVER_QUALIFIER),
    (15, InterchangeNote.INVALID_RECEIVER_ID),
    (6, InterchangeNote.INVALID_DATE),
    (4, InterchangeNote.INVALID_TIME),
    (1, InterchangeNote.INVALID_STANDARDS_ID),
    (5, InterchangeNote.INVALID_VERSION),
    (9, InterchangeNote.INVALID_CONTROL_NUMBER),
    (1, InterchangeNote.INVALID_ACK_REQUESTED),
    (1, InterchangeNote.INVALID_TEST_INDICATOR),
    (1, InterchangeNote.INVALID_COMPONENT_SEPARATOR),
)
_DIGITS_ONLY = frozenset({9, 10, 12, 13, 14})  # ISA09 date, ISA10 time, ISA12-ISA14


@dataclass(frozen=True, slots=True)
class InterchangeHeader:
    """An ISA, its values trimmed of their padding."""

    isa: Segment
    sender_qualifier: str
    sender_id: str
    receiver_qualifier: str
    receiver_id: str
    date: str
    time: str
    version: str
    control_number: str
    ack_requested: bool
    usage: str

    @property
    def delimiters(self) -> Delimiters:
        return self.isa.delimiters

    @property
    def dedupe_key(self) -> str:
        """Sender and interchange control number: ``"ZZ:BUYER:000000042"``. The same key
        again is the same interchange sent twice (TA1 note 025)."""
        return f"{self.sender_qualifier}:{self.sender_id}:{self.control_number}"

    @classmethod
    def of(cls, isa: Segment) -> InterchangeHeader:
        value = [isa.get(n).strip() for n in range(1, 17)]
        return cls(
            isa=isa,
            sender_qualifier=value[4],
            sender_id=value[5],
            receiver_qualifier=value[6],
            receiver_id=value[7],
            date=value[8],
            time=value[9],
            version=value[11],
            control_number=value[12],
            ack_requested=value[13] == "1",
            usage=value[14],
        )


@dataclass(frozen=True, slots=True)
class GroupHeader:
    """A GS."""

    gs: Segment
    functional_id: str
    sender: str
    receiver: str
    date: str
    time: str
    control_number: str
    agency: str
    version: str

    @classmethod
    def of(cls, gs: Segment) -> GroupHeader:
        value = [gs.get(n).strip() for n in range(1, 9)]
        return cls(gs, *value)


@dataclass(frozen=True, slots=True)
class TransactionSet:
    """ST … SE with its problems; ``segments`` includes the ST and the SE (when present)."""

    set_id: str
    control_number: str
    segments: tuple[Segment, ...]
    problems: tuple[Problem, ...]
    group: GroupHeader
    interchange: InterchangeHeader

    @property
    def body(self) -> tuple[Segment, ...]:
        """The segments between ST and SE."""
        end = -1 if self.segments[-1].tag == "SE" else len(self.segments)
        return self.segments[1:end]

    @property
    def st(self) -> Segment:
        return self.segments[0]

    def summary(self) -> TransactionSummary:
        errors = tuple(p.code for p in self.problems if isinstance(p.code, TransactionSetError))
        ref = self.st.get(3).strip() or None
        return TransactionSummary(sys.intern(self.set_id), self.control_number, errors, ref)


class Summaries(Sequence["TransactionSummary"]):
    """A group's set summaries, compact: a clean set (the group's usual set id, no problems,
    no ST03) costs its control number only, and a control number of digits that padding to
    the group's first one's width gives back (``0001`` ... ``9999``, ``10000`` ...) costs 8
    bytes (an ``array``), so a group of 100,000 sets stays well under a megabyte. The
    repeated-ST02 check needs no set of what was seen while the numbers increase (the
    usual case: a number above the highest is new); the first number out of order builds
    that set once, and it is kept from then on."""

    def __init__(self) -> None:
        self._numbers = array("Q")
        self._texts: list[str] | None = None  # once a control number is not of that form
        self._width = 0
        self._highest = -1
        self._increasing = True
        self._seen: set[str] | None = None
        self._other: dict[int, TransactionSummary] = {}
        self._set_id = ""

    def add(self, summary: TransactionSummary) -> None:
        if not len(self):
            self._set_id = summary.set_id
        plain = (
            summary.set_id == self._set_id
            and not summary.errors
            and summary.implementation_ref is None
        )
        if not plain:
            self._other[len(self)] = summary
        control = summary.control_number
        number = _number(control)
        if not len(self) and number is not None:
            self._width = len(control)
        # kept as a number when the group's width gives it back: 0001 ... 9999, 10000 ...
        if self._texts is None and number is not None and self._control_of(number) == control:
            self._numbers.append(number)
        elif self._texts is None:
            self._texts = [*map(self._control, range(len(self._numbers))), control]
            self._numbers = array("Q")
        else:
            self._texts.append(control)
        if number is None or number <= self._highest:
            self._increasing = False
        else:
            self._highest = number
        if self._seen is not None:
            self._seen.add(control)

    def _control(self, index: int) -> str:
        if self._texts is not None:
            return self._texts[index]
        return self._control_of(self._numbers[index])

    def _control_of(self, number: int) -> str:
        return f"{number:0{self._width}d}"

    def seen(self, control: str) -> bool:
        """Whether a set with this ST02 control number was seen."""
        if self._seen is None:
            number = _number(control)
            if self._increasing and number is not None and number > self._highest:
                return False
            self._seen = set(map(self._control, range(len(self))))
        return control in self._seen

    def __len__(self) -> int:
        return len(self._texts) if self._texts is not None else len(self._numbers)

    @overload
    def __getitem__(self, index: int) -> TransactionSummary: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[TransactionSummary]: ...

    def __getitem__(self, index: int | slice) -> TransactionSummary | Sequence[TransactionSummary]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        found = self._other.get(index)
        if found is not None:
            return found
        return TransactionSummary(self._set_id, self._control(index), (), None)


def _number(control: str) -> int | None:
    """A control number of ASCII digits as an int (one that fits 8 bytes), else None."""
    ok = control.isascii() and control.isdigit() and len(control) <= 18
    return int(control) if ok else None


class TransactionSummary(NamedTuple):
    """What a group's end remembers of each set: only what its 997 AK2/AK5 says (the
    problems themselves came with the set), so a long group costs little memory a set."""

    set_id: str
    control_number: str
    errors: tuple[TransactionSetError, ...]
    implementation_ref: str | None


@dataclass(frozen=True, slots=True)
class GroupEnd:
    """The end of a group (its GE, or where it should have been) and the group's problems."""

    header: GroupHeader
    transactions: Sequence[TransactionSummary]
    problems: tuple[Problem, ...]
    ge: Segment | None


@dataclass(frozen=True, slots=True)
class InterchangeEnd:
    """The end of an interchange and every problem of its ISA/IEA (for a TA1); ``ta1s`` are
    the TA1 segments it carries (a partner acknowledging our interchanges)."""

    header: InterchangeHeader
    group_count: int
    problems: tuple[Problem, ...]
    iea: Segment | None
    ta1s: tuple[Segment, ...] = ()


Event = InterchangeHeader | GroupHeader | TransactionSet | GroupEnd | InterchangeEnd


@dataclass(frozen=True, slots=True)
class FunctionalGroup:
    header: GroupHeader
    transactions: tuple[TransactionSet, ...]
    problems: tuple[Problem, ...]
    ge: Segment | None


@dataclass(frozen=True, slots=True)
class Interchange:
    header: InterchangeHeader
    groups: tuple[FunctionalGroup, ...]
    problems: tuple[Problem, ...]
    iea: Segment | None
    ta1s: tuple[Segment, ...] = ()

    @property
    def transactions(self) -> list[TransactionSet]:
        return [ts for group in self.groups for ts in group.transactions]


def isa_problems(isa: Segment) -> list[Problem]:
    """The ISA's element count, fixed widths and digit fields (TA105 notes)."""
    if len(isa.elements) != len(_ISA_FIELDS):
        return [
            _problem(
                InterchangeNote.INVALID_CONTROL_STRUCTURE,
                isa,
                f"ISA has {len(isa.elements)} elements, expected {len(_ISA_FIELDS)}",
            )
        ]
    problems = []
    for position, ((width, note), value) in enumerate(
        zip(_ISA_FIELDS, isa.elements, strict=True), start=1
    ):
        if len(value) != width:
            text = f"ISA{position:02d} is {len(value)} characters, must be exactly {width}"
            problems.append(_problem(note, isa, text, position))
        elif position in _DIGITS_ONLY and not value.isdigit():
            problems.append(
                _problem(note, isa, f"ISA{position:02d} {value!r} must be digits", position)
            )
    if isa.get(15) not in {"P", "T", "I"}:
        problems.append(
            _problem(
                InterchangeNote.INVALID_TEST_INDICATOR,
                isa,
                f"ISA15 {isa.get(15)!r} is not P, T or I",
                15,
            )
        )
    return problems


@dataclass
class _Group:
    header: GroupHeader
    transactions: Summaries = field(default_factory=Summaries)


@dataclass
class _Interchange:
    header: InterchangeHeader
    problems: list[Problem]
    groups: int = 0
    group: _Group | None = None
    ta1s: list[Segment] = field(default_factory=list)


class _Walker:
    """The envelope state machine, one segment at a time."""

    def __init__(self) -> None:
        self.interchange: _Interchange | None = None
        self.st: list[Segment] | None = None

    def feed(self, segment: Segment) -> Iterator[Event]:
        tag = segment.tag
        if self.st is not None and tag not in {"SE", "ST", "GE", "GS", "IEA", "ISA"}:
            self.st.append(segment)
            return
        if tag == "ISA":
            yield from self.close_interchange(segment, premature=True)
            header = InterchangeHeader.of(segment)
            self.interchange = _Interchange(header, isa_problems(segment))
            yield header
            return
        interchange = self.interchange
        if interchange is None:
            detail = f"{tag} outside an interchange (no ISA before it)"
            raise X12SyntaxError(detail, index=segment.number, offset=segment.offset)
        if tag == "IEA":
            yield from self.close_interchange(segment, premature=False)
        elif tag == "GS":
            yield from self.close_group(segment, ge=None)
            group_header = GroupHeader.of(segment)
            interchange.group = _Group(group_header)
            interchange.groups += 1
            yield group_header
        elif tag == "GE":
            yield from self.close_group(segment, ge=segment)
        else:
            yield from self.feed_in_group(segment, interchange)

    def feed_in_group(self, segment: Segment, interchange: _Interchange) -> Iterator[Event]:
        tag = segment.tag
        if interchange.group is None and tag == "TA1":
            interchange.ta1s.append(segment)  # a partner's answer to one of our interchanges
        elif interchange.group is None:
            text = f"{tag} outside a functional group"
            interchange.problems.append(_problem(InterchangeNote.INVALID_CONTENT, segment, text))
        elif tag == "ST":
            yield from self.close_set(segment, se=None)
            self.st = [segment]
        elif tag == "SE" and self.st is not None:
            yield from self.close_set(segment, se=segment)
        else:
            text = f"{tag} outside a transaction set (no ST before it)"
            interchange.problems.append(
                _problem(InterchangeNote.INVALID_CONTROL_STRUCTURE, segment, text)
            )

    def close_set(self, at: Segment, se: Segment | None) -> Iterator[TransactionSet]:
        segments = self.st
        interchange = self.interchange
        if segments is None or interchange is None or interchange.group is None:
            return
        self.st = None
        group = interchange.group
        st = segments[0]
        problems: list[Problem] = []
        set_id, control = st.get(1).strip(), st.get(2).strip()
        if len(set_id) != 3 or not set_id.isdigit():
            problems.append(
                _problem(
                    TransactionSetError.INVALID_ID,
                    st,
                    f"ST01 {set_id!r} is not a transaction set id",
                    1,
                )
            )
        if not 4 <= len(control) <= 9:
            problems.append(
                _problem(
                    TransactionSetError.INVALID_CONTROL_NUMBER,
                    st,
                    f"ST02 {control!r} must be 4 to 9 characters",
                    2,
                )
            )
        elif group.transactions.seen(control):
            problems.append(
                _problem(
                    TransactionSetError.CONTROL_NUMBER_NOT_UNIQUE,
                    st,
                    f"ST02 {control} repeats an earlier transaction set of this group",
                    2,
                )
            )
        if se is None:
            problems.append(
                _problem(
                    TransactionSetError.TRAILER_MISSING,
                    at,
                    f"transaction set {control} has no SE before {at.tag}",
                )
            )
        else:
            segments.append(se)
            problems.extend(_se_problems(se, control, len(segments)))
        ts = TransactionSet(
            set_id, control, tuple(segments), tuple(problems), group.header, interchange.header
        )
        group.transactions.add(ts.summary())
        yield ts

    def close_group(self, at: Segment, ge: Segment | None) -> Iterator[Event]:
        interchange = self.interchange
        if interchange is None or interchange.group is None:
            if ge is not None and interchange is not None:
                interchange.problems.append(
                    _problem(InterchangeNote.INVALID_CONTROL_STRUCTURE, ge, "GE without a GS")
                )
            return
        yield from self.close_set(at, se=None)
        group = interchange.group
        interchange.group = None
        header = group.header
        problems: list[Problem] = []
        if not header.control_number.isdigit() or len(header.control_number) > 9:
            problems.append(
                _problem(
                    GroupError.CONTROL_NUMBER_SYNTAX,
                    header.gs,
                    f"GS06 {header.control_number!r} must be 1 to 9 digits",
                    6,
                )
            )
        if ge is None:
            problems.append(
                _problem(
                    GroupError.TRAILER_MISSING,
                    at,
                    f"group {header.control_number} has no GE before {at.tag}",
                )
            )
        else:
            problems.extend(_ge_problems(ge, header.control_number, len(group.transactions)))
        yield GroupEnd(header, group.transactions, tuple(problems), ge)

    def close_interchange(self, at: Segment, *, premature: bool) -> Iterator[Event]:
        interchange = self.interchange
        if interchange is None:
            return
        yield from self.close_group(at, ge=None)
        self.interchange = None
        problems = interchange.problems
        header = interchange.header
        if premature:
            problems.append(
                _problem(
                    InterchangeNote.PREMATURE_END,
                    at,
                    f"interchange {header.control_number} has no IEA before {at.tag}",
                )
            )
            iea = None
        else:
            iea = at
            problems.extend(_iea_problems(at, header.control_number, interchange.groups))
        yield InterchangeEnd(
            header, interchange.groups, tuple(problems), iea, tuple(interchange.ta1s)
        )

    def finish(self, last: Segment | None) -> Iterator[Event]:
        if self.interchange is not None and last is not None:
            end = Segment("EOF", (), last.number + 1, -1, last.delimiters)
            yield from self.close_interchange(end, premature=True)


def _count_problems(
    segment: Segment, position: int, found: int, code: Code, what: str
) -> list[Problem]:
    declared = segment.get(position).strip()
    if declared.isdigit() and int(declared) == found:
        return []
    text = f"{segment.tag}{position:02d} says {declared!r} {what}, found {found}"
    return [_problem(code, segment, text, position)]


def _se_problems(se: Segment, control: str, count: int) -> list[Problem]:
    problems = _count_problems(
        se, 1, count, TransactionSetError.COUNT_MISMATCH, "segments (ST and SE included)"
    )
    if se.get(2).strip() != control:
        text = f"SE02 {se.get(2)!r} does not match ST02 {control!r}"
        problems.append(_problem(TransactionSetError.CONTROL_NUMBER_MISMATCH, se, text, 2))
    return problems


def _ge_problems(ge: Segment, control: str, count: int) -> list[Problem]:
    problems = _count_problems(ge, 1, count, GroupError.COUNT_MISMATCH, "transaction sets")
    if ge.get(2).strip() != control:
        text = f"GE02 {ge.get(2)!r} does not match GS06 {control!r}"
        problems.append(_problem(GroupError.CONTROL_NUMBER_MISMATCH, ge, text, 2))
    return problems


def _iea_problems(iea: Segment, control: str, groups: int) -> list[Problem]:
    problems = _count_problems(
        iea, 1, groups, InterchangeNote.INVALID_GROUP_COUNT, "functional groups"
    )
    if iea.get(2).strip() != control:
        text = f"IEA02 {iea.get(2)!r} does not match ISA13 {control!r}"
        problems.append(_problem(InterchangeNote.CONTROL_NUMBER_MISMATCH, iea, text, 2))
    return problems


def iter_envelope(segments: Iterable[Segment]) -> Iterator[Event]:
    """The envelope events of a stream of segments (see the module docstring)."""
    walker = _Walker()
    last: Segment | None = None
    for segment in segments:
        last = segment
        yield from walker.feed(segment)
    yield from walker.finish(last)


def read_envelope(source: Iterable[bytes] | BinaryIO | bytes) -> Iterator[Event]:
    """Tokenize and validate in one stream: ``iter_envelope(iter_segments(source))``."""
    return iter_envelope(iter_segments(source))


def parse_interchanges(source: Iterable[bytes] | BinaryIO | bytes) -> list[Interchange]:
    """Every interchange of ``source`` as a tree (holds them all: for small files)."""
    interchanges: list[Interchange] = []
    groups: list[FunctionalGroup] = []
    sets: list[TransactionSet] = []
    for event in read_envelope(source):
        if isinstance(event, TransactionSet):
            sets.append(event)
        elif isinstance(event, GroupEnd):
            groups.append(FunctionalGroup(event.header, tuple(sets), event.problems, event.ge))
            sets = []
        elif isinstance(event, InterchangeEnd):
            interchanges.append(
                Interchange(event.header, tuple(groups), event.problems, event.iea, event.ta1s)
            )
            groups = []
    return interchanges
