"""Envelope validation and the 997/TA1 it leads to."""

from __future__ import annotations

import datetime as dt

import pytest

from omniroute.connectors.edi_x12.acknowledgements import (
    ElementNote,
    SegmentNote,
    SetVerdict,
    acknowledge_group,
    acknowledge_interchange,
    needs_ta1,
    reply_parties,
    ta1_segment,
)
from omniroute.connectors.edi_x12.codes import (
    AckCode,
    ElementError,
    GroupError,
    InterchangeNote,
    TransactionSetError,
)
from omniroute.connectors.edi_x12.envelope import (
    GroupEnd,
    InterchangeEnd,
    TransactionSet,
    isa_problems,
    parse_interchanges,
    read_envelope,
)
from omniroute.connectors.edi_x12.outbound import functional_ack
from omniroute.connectors.edi_x12.serializer import GroupOut, InterchangeOut, write_interchange
from omniroute.connectors.edi_x12.tokenizer import Delimiters, Segment

from .test_tokenizer import SAMPLES, _interchange

WE_TAKE = frozenset({"850"})
SIMPLE = (
    b"ISA*00*          *00*          *ZZ*BUYER          *ZZ*SELLER         *261207*1200*U*00401"
    b"*000000009*1*P*>~"
    b"GS*PO*BUYER*SELLER*20261207*1200*7*X*004010~"
    b"ST*850*0001~BEG*00*SA*A1**20261207~PO1*1*1*EA*1**VN*X~SE*4*0001~"
    b"ST*850*0002~BEG*00*SA*A2**20261207~PO1*1*1*EA*1**VN*X~SE*4*0002~"
    b"GE*2*7~IEA*1*000000009~"
)


def _ends(raw: bytes) -> tuple[list[GroupEnd], list[InterchangeEnd], list[TransactionSet]]:
    events = list(read_envelope(raw))
    return (
        [e for e in events if isinstance(e, GroupEnd)],
        [e for e in events if isinstance(e, InterchangeEnd)],
        [e for e in events if isinstance(e, TransactionSet)],
    )


@pytest.mark.parametrize(
    "name", [p.name for p in sorted(SAMPLES.iterdir()) if p.suffix in {".x12", ".edi"}]
)
def test_samples_pass_envelope_validation(name: str) -> None:
    interchanges = parse_interchanges((SAMPLES / name).read_bytes())
    assert len(interchanges) == 1
    ic = interchanges[0]
    for group in ic.groups:
        assert group.problems == ()
        for ts in group.transactions:
            assert ts.problems == ()
            assert ts.segments[0].tag == "ST" and ts.segments[-1].tag == "SE"
    if name == "edinet_x12.850.edi":  # the sample's IEA02 really differs from its ISA13
        assert [(p.code, p.tag, p.element) for p in ic.problems] == [
            (InterchangeNote.CONTROL_NUMBER_MISMATCH, "IEA", 2)
        ]
        ack = acknowledge_interchange(_ends((SAMPLES / name).read_bytes())[1][0])
        assert (ack.code, ack.note) == (
            AckCode.ACCEPTED_WITH_ERRORS,
            InterchangeNote.CONTROL_NUMBER_MISMATCH,
        )
    else:
        assert ic.problems == ()


def test_clean_interchange_is_accepted() -> None:
    groups, ends, sets = _ends(SIMPLE)
    assert [ts.control_number for ts in sets] == ["0001", "0002"]
    ack = acknowledge_group(groups[0], supported=WE_TAKE)
    assert ack.code is AckCode.ACCEPTED and ack.accepted == 2
    ta1 = acknowledge_interchange(ends[0])
    assert (ta1.code, ta1.note) == (AckCode.ACCEPTED, InterchangeNote.NO_ERROR)
    assert needs_ta1(ta1, requested=ends[0].header.ack_requested)  # ISA14 = 1 asks for one
    assert not needs_ta1(ta1, requested=False)


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        (SIMPLE.replace(b"SE*4*0001", b"SE*5*0001"), [TransactionSetError.COUNT_MISMATCH]),
        (SIMPLE.replace(b"SE*4*0001", b"SE*4*0009"), [TransactionSetError.CONTROL_NUMBER_MISMATCH]),
        (
            SIMPLE.replace(b"ST*850*0002", b"ST*850*0001").replace(b"SE*4*0002", b"SE*4*0001"),
            [TransactionSetError.CONTROL_NUMBER_NOT_UNIQUE],
        ),
        (SIMPLE.replace(b"SE*4*0001~", b""), [TransactionSetError.TRAILER_MISSING]),
        (SIMPLE.replace(b"ST*850*0001", b"ST*85X*0001"), [TransactionSetError.INVALID_ID]),
    ],
)
def test_broken_transaction_sets_are_rejected_with_their_code(
    broken: bytes, expected: list[TransactionSetError]
) -> None:
    groups, ends, _ = _ends(broken)
    ack = acknowledge_group(groups[0], supported=WE_TAKE | {"85X"})
    rejected = [result for result in ack.sets if result.code is AckCode.REJECTED]
    assert len(rejected) == 1 and list(rejected[0].errors) == expected
    assert ack.code is AckCode.PARTIALLY_ACCEPTED and ack.accepted == 1
    assert acknowledge_interchange(ends[0]).code is AckCode.ACCEPTED
    body = list(functional_ack(ack, 5).body)
    ak5 = [s for s in body if s.tag == "AK5"]
    assert [s.elements for s in ak5].count(("R", expected[0].value)) == 1
    assert body[-1].elements == ("P", "2", "2", "1")


@pytest.mark.parametrize(
    ("broken", "code"),
    [
        (SIMPLE.replace(b"GE*2*7", b"GE*3*7"), GroupError.COUNT_MISMATCH),
        (SIMPLE.replace(b"GE*2*7", b"GE*2*8"), GroupError.CONTROL_NUMBER_MISMATCH),
        (SIMPLE.replace(b"GE*2*7~", b""), GroupError.TRAILER_MISSING),
        (
            SIMPLE.replace(b"*7*X*", b"*G7*X*").replace(b"GE*2*7", b"GE*2*G7"),
            GroupError.CONTROL_NUMBER_SYNTAX,
        ),
    ],
)
def test_broken_groups_get_ak9_codes(broken: bytes, code: GroupError) -> None:
    groups, _, _ = _ends(broken)
    ack = acknowledge_group(groups[0], supported=WE_TAKE)
    assert ack.errors == (code,)
    assert ack.code is AckCode.REJECTED and ack.accepted == 0
    ak9 = list(functional_ack(ack, 1).body)[-1]
    assert ak9.tag == "AK9" and ak9.elements[0] == "R" and ak9.elements[4] == code.value


@pytest.mark.parametrize(
    ("broken", "note", "code"),
    [
        (
            SIMPLE.replace(b"IEA*1*000000009", b"IEA*1*000000008"),
            InterchangeNote.CONTROL_NUMBER_MISMATCH,
            AckCode.ACCEPTED_WITH_ERRORS,
        ),
        (
            SIMPLE.replace(b"IEA*1*", b"IEA*2*"),
            InterchangeNote.INVALID_GROUP_COUNT,
            AckCode.REJECTED,
        ),
        (
            SIMPLE.replace(b"GE*2*7~IEA*1*000000009~", b"GE*2*7~"),
            InterchangeNote.PREMATURE_END,
            AckCode.REJECTED,
        ),
        (
            SIMPLE.replace(b"GE*2*7~", b"GE*2*7~REF*XX*1~"),
            InterchangeNote.INVALID_CONTENT,
            AckCode.REJECTED,
        ),
        (
            SIMPLE.replace(b"*ZZ*BUYER          *", b"*ZZ*BUYER*"),
            InterchangeNote.INVALID_SENDER_ID,
            AckCode.ACCEPTED_WITH_ERRORS,
        ),
        (
            SIMPLE.replace(b"*1*P*>~", b"*1*Q*>~"),
            InterchangeNote.INVALID_TEST_INDICATOR,
            AckCode.ACCEPTED_WITH_ERRORS,
        ),
    ],
)
def test_broken_interchanges_get_ta1_notes(
    broken: bytes, note: InterchangeNote, code: AckCode
) -> None:
    _, ends, _ = _ends(broken)
    ack = acknowledge_interchange(ends[0])
    assert (ack.code, ack.note) == (code, note)
    assert ta1_segment(ack).elements == ("000000009", "261207", "1200", code.value, note.value)
    assert ack.problems  # each names its segment


def test_problem_text_names_segment_and_byte() -> None:
    _, ends, _ = _ends(SIMPLE.replace(b"IEA*1*", b"IEA*2*"))
    text = str(ends[0].problems[0])
    offset = SIMPLE.index(b"IEA")
    assert f"segment 11 (IEA) at byte {offset}, element 01" in text
    assert "IEA01 says '2' functional groups, found 1" in text


def test_duplicate_interchange_is_rejected_with_025() -> None:
    _, ends, _ = _ends(SIMPLE)
    ack = acknowledge_interchange(ends[0], duplicate=True)
    assert (ack.code, ack.note) == (AckCode.REJECTED, InterchangeNote.DUPLICATE_CONTROL_NUMBER)
    assert "seen before" in ack.problems[0]


def test_isa_with_wrong_element_count() -> None:
    isa = parse_interchanges(SIMPLE)[0].header.isa
    short = Segment(isa.tag, isa.elements[:-1], isa.number, isa.offset, isa.delimiters)
    assert [p.code for p in isa_problems(short)] == [InterchangeNote.INVALID_CONTROL_STRUCTURE]


def test_unsupported_transaction_set_is_rejected_precisely() -> None:
    """An 810 sent to us: AK5*R*1 (transaction set not supported), the group rejected."""
    groups, _, _ = _ends((SAMPLES / "bots_810-004010-01.x12").read_bytes())
    ack = acknowledge_group(groups[0], supported=WE_TAKE)
    assert [(r.set_id, r.code, r.errors) for r in ack.sets] == [
        ("810", AckCode.REJECTED, (TransactionSetError.NOT_SUPPORTED,)),
        ("810", AckCode.REJECTED, (TransactionSetError.NOT_SUPPORTED,)),
    ]
    body = list(functional_ack(ack, 1).body)
    assert [s.elements for s in body] == [
        ("IN", "224", ""),
        ("810", "2240001", ""),
        ("R", "1"),
        ("810", "2240002", ""),
        ("R", "1"),
        ("R", "2", "2", "0"),
    ]


def test_mapper_notes_become_ak3_ak4_and_the_997_round_trips() -> None:
    groups, ends, _ = _ends(SIMPLE)
    note = SegmentNote(
        "PO1", 3, elements=(ElementNote(2, ElementError.INVALID_CHARACTER, "x*y~z"),), text="bad"
    )
    warn = SegmentNote("CTT", 4, elements=(ElementNote(1, ElementError.INVALID_CODE, "9"),))
    verdicts = {"0001": SetVerdict((note,), rejected=True), "0002": SetVerdict((warn,))}
    ack = acknowledge_group(groups[0], supported=WE_TAKE, verdicts=verdicts)
    assert [r.code for r in ack.sets] == [AckCode.REJECTED, AckCode.ACCEPTED_WITH_ERRORS]
    ours, theirs = reply_parties(ends[0].header)
    raw = write_interchange(
        InterchangeOut(
            ours,
            theirs,
            42,
            dt.datetime(2026, 12, 7, 12, 30),
            groups=[GroupOut("SELLER", "BUYER", 1, [functional_ack(ack, 1)])],
        )
    )
    assert b"AK3*PO1*3**8~AK4*2**6*xyz~AK5*R*5~" in raw
    assert b"AK3*CTT*4**8~AK4*1**7*9~AK5*E~AK9*P*2*2*1~" in raw
    (reply,) = parse_interchanges(raw)
    assert reply.problems == () and reply.groups[0].problems == ()
    assert reply.header.sender_id == "SELLER" and reply.transactions[0].set_id == "997"


def test_hand_made_interchange_fixture_is_valid() -> None:
    (ic,) = parse_interchanges(_interchange(Delimiters(), "000000001", "A"))
    assert ic.problems == () and ic.transactions[0].problems == ()


def test_group_summaries_keep_odd_sets_exactly() -> None:
    """A group's summaries store a clean set by its control number only; any other set
    (another set id, an ST03, a problem) is kept whole and in its place."""
    mixed = SIMPLE.replace(b"ST*850*0002", b"ST*810*0002*X1").replace(
        b"GE*2*7~", b"ST*850*0003~BEG*00*SA*A3~SE*9*0003~ST*850*0004~SE*2*0004~GE*4*7~"
    )
    groups, _, _ = _ends(mixed)
    summaries = groups[0].transactions
    assert [(s.set_id, s.control_number, s.errors, s.implementation_ref) for s in summaries] == [
        ("850", "0001", (), None),
        ("810", "0002", (), "X1"),
        ("850", "0003", (TransactionSetError.COUNT_MISMATCH,), None),
        ("850", "0004", (), None),
    ]
    assert summaries[-1].control_number == "0004" and len(summaries[1:3]) == 2
    ack = acknowledge_group(groups[0], supported=WE_TAKE)
    assert [r.code for r in ack.sets] == [
        AckCode.ACCEPTED,
        AckCode.REJECTED,
        AckCode.REJECTED,
        AckCode.ACCEPTED,
    ]
    assert (ack.code, ack.accepted, ack.included) == (AckCode.PARTIALLY_ACCEPTED, 2, 4)
