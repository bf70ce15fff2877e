"""Envelope checks of interchanges, groups and messages, on the samples and broken copies."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omniroute.connectors.edi_edifact.adapter import EdifactSyntaxError
from omniroute.connectors.edi_edifact.contrl import build_contrl
from omniroute.connectors.edi_edifact.envelope import (
    Interchange,
    Party,
    SyntaxErrorCode,
    parse_interchanges,
)
from omniroute.connectors.edi_edifact.writer import Envelope, write_interchange

from .conftest import SAMPLES, sample

ORDERS = (
    "UNA:+.? '"
    "UNB+UNOC:3+SENDER:14+RECEIVER:14+240102:1200+REF1++APP++1'"
    "UNH+M1+ORDERS:D:96A:UN:EAN008'BGM+220+PO1+9'LIN+1++4000862141404:EN'QTY+21:2'"
    "UNT+5+M1'"
    "UNH+M2+ORDERS:D:96A:UN:EAN008'BGM+220+PO2+9'UNT+3+M2'"
    "UNZ+2+REF1'"
)


def only(text: str) -> Interchange:
    (interchange,) = parse_interchanges(text)
    return interchange


def codes(interchange: Interchange) -> list[tuple[str, str, int]]:
    return [(p.code.value, p.tag, p.segment) for p in interchange.all_problems()]


def test_samples_parse_as_they_are() -> None:
    found = {path.name: parse_interchanges(sample(path.name)) for path in SAMPLES.iterdir()}
    assert {name: len(value) for name, value in found.items()} == {
        "bots_desadv2.edi": 1,
        "bots_invoic2.edi": 1,
        "bots_my_first_plugin_order01.edi": 2,
        "edinet_edifact.ORDRSP.edi": 1,
        "pydifact_order.edi": 1,
    }
    for name in ("bots_desadv2.edi", "bots_invoic2.edi", "bots_my_first_plugin_order01.edi"):
        assert all(not list(ic.all_problems()) for ic in found[name]), name
    first, second = found["bots_my_first_plugin_order01.edi"]
    assert [m.reference for m in first.messages] == ["T0000000004-1", "T0000000004-2"]
    assert [m.reference for m in second.messages] == ["T0000000004-3"]
    assert second.sender.id == "8712345678906" and second.sender.qualifier == "14"
    assert second.recipient.id == "PARTNER2" and second.control_reference == "T0000000004-2"
    (desadv,) = found["bots_desadv2.edi"]
    assert desadv.syntax_identifier == "UNOC" and desadv.syntax_version == "3"
    assert desadv.messages[0].type == "DESADV" and desadv.messages[0].association == "EAN005"


def test_sample_faults_are_named() -> None:
    """The EDI.Net ORDRSP sample's trailers disagree with its headers; pydifact's sample
    has no UNZ. Both still parse, their faults reported."""
    (ordrsp,) = parse_interchanges(sample("edinet_edifact.ORDRSP.edi"))
    assert codes(ordrsp) == [("28", "UNZ", 33), ("29", "UNT", 32), ("28", "UNT", 32)]
    assert ordrsp.rejected
    untcount = ordrsp.messages[0].problems[0]
    assert untcount.in_message == 31 and untcount.element == 1
    assert "UNT's segment count '17' is not the 31 the message has" in untcount.describe()
    (order,) = parse_interchanges(sample("pydifact_order.edi"))
    assert codes(order) == [("13", "UNZ", 17)]
    assert "no UNZ ends the interchange" in order.problems[0].text


def test_a_good_interchange() -> None:
    interchange = only(ORDERS)
    assert not list(interchange.all_problems())
    assert interchange.acknowledgement_requested and interchange.application_reference == "APP"
    assert [len(m.segments) for m in interchange.messages] == [5, 3]
    assert [item.tag for item in interchange.messages[0].body] == ["BGM", "LIN", "QTY"]


def test_bad_counts_and_references() -> None:
    broken = ORDERS.replace("UNT+5+M1", "UNT+4+M9").replace("UNZ+2+REF1", "UNZ+3+REF2")
    interchange = only(broken)
    assert codes(interchange) == [
        ("29", "UNZ", 10),
        ("28", "UNZ", 10),
        ("29", "UNT", 6),
        ("28", "UNT", 6),
    ]
    assert not interchange.messages[1].problems


def test_missing_unt_unz_and_stray_segments() -> None:
    text = ORDERS.replace("UNT+3+M2'", "").replace("UNH+M2", "FTX+AAI+++stray'UNH+M2")
    interchange = only(text)
    assert [(p.code, p.tag) for p in interchange.problems] == [
        (SyntaxErrorCode.INVALID_OCCURRENCE, "FTX")
    ]
    (missing,) = interchange.messages[1].problems
    assert missing.code is SyntaxErrorCode.MISSING and "no UNT ends message 'M2'" in missing.text
    no_unz = only(ORDERS.removesuffix("UNZ+2+REF1'"))
    assert [(p.code, p.tag) for p in no_unz.problems] == [(SyntaxErrorCode.MISSING, "UNZ")]


def test_duplicate_message_reference_and_empty_interchange() -> None:
    dup = only(ORDERS.replace("M2", "M1"))
    assert [(p.code, p.tag) for p in dup.messages[1].problems] == [
        (SyntaxErrorCode.DUPLICATE, "UNH")
    ]
    empty = only("UNB+UNOC:3+A+B+240102:1200+R'UNZ+0+R'")
    assert [p.code for p in empty.problems] == [SyntaxErrorCode.LOWER_LEVEL_EMPTY]


def test_unb_must_be_complete_and_first() -> None:
    bad = only("UNB+UNOC:9+A++240102+R'UNH+1+ORDERS:D:96A:UN'UNT+2+1'UNZ+1+R'")
    assert [(p.code.value, p.element, p.component) for p in bad.problems] == [
        ("13", 3, 1),
        ("13", 4, 2),
        ("2", 1, 2),
    ]
    headless = only("UNH+1+ORDERS:D:96A:UN'UNT+2+1'UNZ+1+R'")
    assert headless.problems[0].code is SyntaxErrorCode.MISSING
    assert headless.problems[0].tag == "UNB" and "but with UNH" in headless.problems[0].text


def test_groups() -> None:
    grouped = ORDERS.replace(
        "UNH+M1", "UNG+ORDERS+SENDER:14+RECEIVER:14+240102:1200+G1+UN+D:96A'UNH+M1"
    ).replace("UNZ+2+REF1", "UNE+2+G1'UNZ+1+REF1")
    interchange = only(grouped)
    assert not list(interchange.all_problems())
    (group,) = interchange.groups
    assert group.message_references == ("M1", "M2") and group.sender.id == "SENDER"
    assert {m.group_reference for m in interchange.messages} == {"G1"}
    bad = only(grouped.replace("UNE+2+G1", "UNE+1+G2"))
    assert [(p.code.value, p.tag) for p in bad.groups[0].problems] == [("29", "UNE"), ("28", "UNE")]
    assert not bad.problems
    mixed = only(
        grouped.replace("UNE+2+G1'", "UNE+1+G1'").replace("UNT+5+M1'", "UNT+5+M1'UNE+1+G1'")
    )
    assert SyntaxErrorCode.GROUPS_AND_MESSAGES_MIXED in [p.code for p in mixed.problems]


def test_one_file_holding_every_sample() -> None:
    """The five samples one after another: six interchanges, each read with its own service
    characters (pydifact's declares a decimal comma, bots' order file has none)."""
    names = sorted(path.name for path in SAMPLES.iterdir())
    joined = "\n".join(sample(name) for name in names)
    found = parse_interchanges(joined)
    separately = [ic for name in names for ic in parse_interchanges(sample(name))]
    assert [ic.control_reference for ic in found] == [ic.control_reference for ic in separately]
    assert [ic.delimiters.decimal for ic in found] == [".", ".", ".", ".", ".", ","]
    assert [[m.reference for m in ic.messages] for ic in found] == [
        [m.reference for m in ic.messages] for ic in separately
    ]
    assert [len(list(ic.all_problems())) for ic in found] == [0, 0, 0, 0, 3, 1]


def test_accepted_messages_follow_the_rejections() -> None:
    assert [m.reference for m in only(ORDERS).accepted_messages()] == ["M1", "M2"]
    assert list(only(ORDERS.replace("UNZ+2+REF1", "UNZ+2+REF2")).accepted_messages()) == []
    one_bad = only(ORDERS.replace("UNT+3+M2", "UNT+9+M2"))
    assert [m.reference for m in one_bad.accepted_messages()] == ["M1"]
    grouped = ORDERS.replace(
        "UNH+M1", "UNG+ORDERS+SENDER:14+RECEIVER:14+240102:1200+G1+UN+D:96A'UNH+M1"
    ).replace("UNZ+2+REF1", "UNE+2+G9'UNZ+1+REF1")
    assert list(only(grouped).accepted_messages()) == []
    (no_unz,) = parse_interchanges(sample("pydifact_order.edi"))
    assert list(no_unz.accepted_messages()) == []


def test_nothing_to_read_is_a_syntax_error() -> None:
    for text in ("", " \r\n", "UNA:+.? '"):
        with pytest.raises(EdifactSyntaxError, match=r"no (EDIFACT )?segment"):
            parse_interchanges(text)
    (lone,) = parse_interchanges("UNZ+1+2'")
    assert [(p.code.value, p.tag) for p in lone.problems] == [
        ("13", "UNB"),
        ("29", "UNZ"),
        ("32", "UNZ"),
    ]


PIECES = st.sampled_from(
    [
        "UNA:+.? '",
        "UNB+UNOC:3+A+B+1:1+R",
        "UNH+1+ORDERS:D:96A:UN",
        "UNT+2+1",
        "UNZ+1+R",
        "UNG+ORDERS+A+B+1:1+G",
        "UNE+1+G",
        "BGM+220+X",
        "'",
        "+",
        ":",
        "?",
        "\r\n",
        "LIN+1",
        "x",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(PIECES, max_size=25))
def test_any_text_is_read_or_refused_with_a_syntax_error(pieces: list[str]) -> None:
    """Whatever arrives, reading it gives interchanges (whose CONTRL can be written and
    read back clean) or an EdifactSyntaxError naming a segment, never another exception."""
    try:
        found = parse_interchanges("".join(pieces))
    except EdifactSyntaxError as exc:
        assert exc.segment >= 1
        return
    for interchange in found:
        contrl = build_contrl(interchange, reference="1")
        text = write_interchange(
            Envelope(Party("US"), Party("THEM"), "9", datetime(2026, 1, 1, tzinfo=UTC)), [contrl]
        )
        (back,) = parse_interchanges(text)
        assert not list(back.all_problems())
