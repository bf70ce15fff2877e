"""997 functional acknowledgements and TA1 interchange acknowledgements.

A 997 answers one functional group: AK1 names it, an AK2/AK5 pair answers each transaction
set (AK3/AK4 notes name the segment and element in error), AK9 gives the group's verdict
and counts. A TA1 answers an interchange whose ISA/IEA is wrong. The verdicts follow the
envelope problems (``envelope``), the transaction sets we take (any other set is rejected
with AK502 code 1, "transaction set not supported") and the notes a mapper found.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import overload

from omniroute.connectors.edi_x12.codes import (
    AckCode,
    ElementError,
    GroupError,
    InterchangeNote,
    SegmentError,
    TransactionSetError,
)
from omniroute.connectors.edi_x12.envelope import (
    GroupEnd,
    InterchangeEnd,
    InterchangeHeader,
    TransactionSummary,
)
from omniroute.connectors.edi_x12.serializer import OutSegment, Party, seg

#: Interchange problems after which nothing in the interchange is processed (TA104 R).
#: Any other ISA/IEA problem (a padded field of the wrong width, IEA02 not matching ISA13:
#: the header's value is used) is noted in a TA1 with TA104 E and the content processed.
REJECTING_NOTES = frozenset(
    {
        InterchangeNote.STANDARD_NOT_SUPPORTED,
        InterchangeNote.VERSION_NOT_SUPPORTED,
        InterchangeNote.SEGMENT_TERMINATOR_INVALID,
        InterchangeNote.INVALID_GROUP_COUNT,
        InterchangeNote.INVALID_CONTROL_STRUCTURE,
        InterchangeNote.PREMATURE_END,
        InterchangeNote.INVALID_CONTENT,
        InterchangeNote.DUPLICATE_CONTROL_NUMBER,
    }
)
_MAX_CODES = 5  # AK502-AK506, AK905-AK909


@dataclass(frozen=True, slots=True)
class ElementNote:
    """AK4: an element in error (position in its segment, 1-based; component if any)."""

    position: int
    code: ElementError
    bad_value: str | None = None
    component: int | None = None
    reference: str | None = None  # the data element reference number, e.g. "330"


@dataclass(frozen=True, slots=True)
class SegmentNote:
    """AK3: a segment in error, ``position`` counted from ST = 1, with its element notes."""

    tag: str
    position: int
    code: SegmentError | None = SegmentError.HAS_ELEMENT_ERRORS
    loop_id: str | None = None
    elements: tuple[ElementNote, ...] = ()
    text: str = ""


@dataclass(frozen=True, slots=True)
class SetResult:
    """The verdict on one transaction set (AK2 … AK5)."""

    set_id: str
    control_number: str
    code: AckCode
    errors: tuple[TransactionSetError, ...] = ()
    notes: tuple[SegmentNote, ...] = ()
    implementation_ref: str | None = None


@dataclass(frozen=True, slots=True)
class GroupAck:
    """Everything a 997 says about one group. ``sets`` are computed from the group's
    summaries when read, so a group of any size is acknowledged without a copy per set."""

    functional_id: str
    control_number: str
    version: str
    included: int
    sets: Sequence[SetResult]
    errors: tuple[GroupError, ...] = ()
    accepted_sets: int = 0  # A or E, before any group error
    with_errors: int = 0  # E

    @property
    def code(self) -> AckCode:
        """AK901: R when the group's envelope is wrong or no set was accepted."""
        if self.errors or (self.sets and self.accepted_sets == 0):
            return AckCode.REJECTED
        if self.accepted_sets < len(self.sets):
            return AckCode.PARTIALLY_ACCEPTED
        if self.with_errors:
            return AckCode.ACCEPTED_WITH_ERRORS
        return AckCode.ACCEPTED

    @property
    def accepted(self) -> int:
        """AK904: sets accepted (with or without errors noted); none when the group is bad."""
        return 0 if self.errors else self.accepted_sets


@dataclass(frozen=True, slots=True)
class SetVerdict:
    """What a mapper concluded about a set: notes for AK3/AK4, and whether they reject it."""

    notes: tuple[SegmentNote, ...] = ()
    rejected: bool = False


def set_result(
    summary: TransactionSummary, *, supported: Collection[str], verdict: SetVerdict | None = None
) -> SetResult:
    """AK2/AK5 for one set: its envelope problems, not supported, or the mapper's verdict."""
    verdict = verdict or SetVerdict()
    errors = list(summary.errors)
    if summary.set_id not in supported:
        errors.insert(0, TransactionSetError.NOT_SUPPORTED)
    if verdict.rejected and not errors:
        errors.append(TransactionSetError.SEGMENTS_IN_ERROR)
    unique = tuple(dict.fromkeys(errors))
    if unique:
        code = AckCode.REJECTED
    elif verdict.notes:
        code = AckCode.ACCEPTED_WITH_ERRORS
    else:
        code = AckCode.ACCEPTED
    return SetResult(
        summary.set_id,
        summary.control_number,
        code,
        unique,
        verdict.notes,
        summary.implementation_ref,
    )


class _Results(Sequence[SetResult]):
    """The verdict on each set of a group, computed when asked for."""

    def __init__(
        self,
        summaries: Sequence[TransactionSummary],
        supported: Collection[str],
        verdicts: Mapping[str, SetVerdict],
    ) -> None:
        self._summaries = summaries
        self._supported = supported
        self._verdicts = verdicts

    def __len__(self) -> int:
        return len(self._summaries)

    def _result(self, summary: TransactionSummary) -> SetResult:
        verdict = self._verdicts.get(summary.control_number)
        return set_result(summary, supported=self._supported, verdict=verdict)

    @overload
    def __getitem__(self, index: int) -> SetResult: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[SetResult]: ...

    def __getitem__(self, index: int | slice) -> SetResult | Sequence[SetResult]:
        if isinstance(index, slice):
            return [self._result(summary) for summary in self._summaries[index]]
        return self._result(self._summaries[index])

    def __iter__(self) -> Iterator[SetResult]:
        return (self._result(summary) for summary in self._summaries)


def acknowledge_group(
    end: GroupEnd,
    *,
    supported: Collection[str],
    verdicts: Mapping[str, SetVerdict] | None = None,
) -> GroupAck:
    """The 997's content for a group; ``verdicts`` by ST02 come from mapping its sets."""
    sets = _Results(end.transactions, supported, verdicts or {})
    accepted = with_errors = 0
    for result in sets:
        if result.code is not AckCode.REJECTED:
            accepted += 1
            with_errors += result.code is AckCode.ACCEPTED_WITH_ERRORS
    errors = tuple(dict.fromkeys(p.code for p in end.problems if isinstance(p.code, GroupError)))
    declared = end.ge.get(1).strip() if end.ge is not None else ""
    included = int(declared) if declared.isdigit() else len(sets)
    header = end.header
    return GroupAck(
        header.functional_id,
        header.control_number,
        header.version,
        included,
        sets,
        errors,
        accepted,
        with_errors,
    )


def functional_ack_body(ack: GroupAck, *, version_5010: bool = False) -> Iterable[OutSegment]:
    """The 997's segments between ST and SE (AK103 carries GS08 from 005010 on); made
    afresh each time it is iterated, a set at a time."""
    return _AckBody(ack, version_5010)


class _AckBody:
    def __init__(self, ack: GroupAck, version_5010: bool) -> None:
        self._ack = ack
        self._version_5010 = version_5010

    def __iter__(self) -> Iterator[OutSegment]:
        ack, version_5010 = self._ack, self._version_5010
        yield seg(
            "AK1", ack.functional_id, ack.control_number, ack.version if version_5010 else None
        )
        for result in ack.sets:
            ref = result.implementation_ref if version_5010 else None
            yield seg("AK2", result.set_id, result.control_number, ref)
            for note in result.notes:
                code = note.code.value if note.code else None
                yield seg("AK3", note.tag, str(note.position), note.loop_id, code)
                yield from (_ak4(element) for element in note.elements)
            codes = [error.value for error in result.errors[:_MAX_CODES]]
            yield seg("AK5", result.code.value, *codes)
        group_codes = [error.value for error in ack.errors[:_MAX_CODES]]
        counts = (str(ack.included), str(len(ack.sets)), str(ack.accepted))
        yield seg("AK9", ack.code.value, *counts, *group_codes)


def _ak4(note: ElementNote) -> OutSegment:
    position: str | tuple[str, ...] = str(note.position)
    if note.component is not None:
        position = (str(note.position), str(note.component))
    bad = _printable(note.bad_value) if note.bad_value is not None else None
    return seg("AK4", position, note.reference, note.code.value, bad)


def _printable(value: str) -> str:
    # AK404 repeats the bad value: keep it short and free of anything that could be a
    # delimiter of the reply (the reply's delimiters may differ from the partner's).
    kept = "".join(char for char in value if char.isalnum() or char in " .-/")
    return kept[:99]


@dataclass(frozen=True, slots=True)
class InterchangeAck:
    """A TA1's content: the interchange it answers, the verdict and the one note code."""

    control_number: str
    date: str
    time: str
    code: AckCode
    note: InterchangeNote
    problems: tuple[str, ...] = field(default=())


def acknowledge_interchange(end: InterchangeEnd, *, duplicate: bool = False) -> InterchangeAck:
    """TA1 verdict: R for a rejecting problem (or a repeated control number), E for other
    ISA/IEA problems, A otherwise. TA105 carries the first rejecting note, else the first."""
    notes = [p.code for p in end.problems if isinstance(p.code, InterchangeNote)]
    if duplicate:
        notes.insert(0, InterchangeNote.DUPLICATE_CONTROL_NUMBER)
    rejecting = [note for note in notes if note in REJECTING_NOTES]
    if rejecting:
        code, note = AckCode.REJECTED, rejecting[0]
    elif notes:
        code, note = AckCode.ACCEPTED_WITH_ERRORS, notes[0]
    else:
        code, note = AckCode.ACCEPTED, InterchangeNote.NO_ERROR
    texts = tuple(str(problem) for problem in end.problems)
    if duplicate:
        texts = (f"interchange control number {end.header.control_number} seen before", *texts)
    header = end.header
    return InterchangeAck(header.control_number, header.date, header.time, code, note, texts)


def ta1_segment(ack: InterchangeAck) -> OutSegment:
    """TA1*<ISA13>*<ISA09>*<ISA10>*<A|E|R>*<note>."""
    control = ack.control_number if _is_control(ack.control_number) else "000000000"
    return seg("TA1", control, ack.date, ack.time, ack.code.value, ack.note.value)


def _is_control(value: str) -> bool:
    return len(value) == 9 and value.isdigit()


def reply_parties(header: InterchangeHeader) -> tuple[Party, Party]:
    """(our sender, their receiver) for a reply: the interchange's parties swapped."""
    return (
        Party(header.receiver_qualifier, header.receiver_id),
        Party(header.sender_qualifier, header.sender_id),
    )


def needs_ta1(ack: InterchangeAck, *, requested: bool) -> bool:
    """Send a TA1 when the partner asked (ISA14 = 1) or something is wrong."""
    return requested or ack.code is not AckCode.ACCEPTED


__all__: Sequence[str] = (
    "REJECTING_NOTES",
    "ElementNote",
    "GroupAck",
    "InterchangeAck",
    "SegmentNote",
    "SetResult",
    "SetVerdict",
    "acknowledge_group",
    "acknowledge_interchange",
    "functional_ack_body",
    "needs_ta1",
    "reply_parties",
    "set_result",
    "ta1_segment",
)
