"""The X12 tokenizer on the third-party samples and on the quirks partners send."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omniroute.connectors.edi_x12.envelope import parse_interchanges
from omniroute.connectors.edi_x12.serializer import render, seg
from omniroute.connectors.edi_x12.tokenizer import (
    Delimiters,
    X12SyntaxError,
    header_delimiters,
    iter_segments,
)

SAMPLES = Path(__file__).parents[2] / "fixtures" / "third_party" / "x12"
SAMPLE_FILES = sorted(SAMPLES.iterdir())
EXPECTED = {
    "bots_810-004010-01.x12": (Delimiters("*", ":", "~", None), 50),
    "bots_850-004010-01.x12": (Delimiters("*", "@", "\n", None), 43),
    "bots_855-004010UCS-01.x12": (Delimiters("*", ">", "~", None), 132),
    "bots_856_PARTNER2_20130123_1.x12": (Delimiters("+", ":", "'", "^"), 88),
    "bots_997-004010VICS-01.x12": (Delimiters("*", ">", "\x15", None), 10),
    "edinet_x12.850.edi": (Delimiters("*", ">", "~", None), 15),
}


def test_every_sample_is_covered() -> None:
    assert sorted(EXPECTED) == [path.name for path in SAMPLE_FILES if path.suffix != ".md"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("chunk_size", [1, 7, 1 << 16])
def test_samples_tokenize_with_their_own_delimiters(name: str, chunk_size: int) -> None:
    delimiters, count = EXPECTED[name]
    with (SAMPLES / name).open("rb") as handle:
        segments = list(iter_segments(handle, chunk_size=chunk_size))
    assert len(segments) == count
    assert {segment.delimiters for segment in segments} == {delimiters}
    assert segments[0].tag == "ISA" and segments[-1].tag == "IEA"
    assert [s.number for s in segments] == list(range(count))
    raw = (SAMPLES / name).read_bytes()
    for segment in segments:  # each offset points at its tag
        assert raw[segment.offset :].startswith(segment.tag.encode())


def test_bom_and_no_break_spaces_in_isa_padding() -> None:
    raw = (SAMPLES / "edinet_x12.850.edi").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\xc2\xa0" in raw[:200]
    isa = next(iter_segments(raw))
    assert isa.offset == 3
    assert isa.get(2) == " " * 10  # ISA02 padding, no-break spaces read as spaces
    assert isa.get(6) == "000123456      "
    assert isa.get(13) == "000000055"


def test_repetition_separator_only_from_00402() -> None:
    base = (SAMPLES / "bots_856_PARTNER2_20130123_1.x12").read_bytes()
    assert next(iter_segments(base)).delimiters.repetition == "^"
    older = base.replace(b"+^+00403+", b"+U+00401+", 1)
    assert next(iter_segments(older)).delimiters.repetition is None
    segment = next(s for s in iter_segments(base) if s.tag == "LIN")
    assert segment.repeats(2) == ["UP"]


def _interchange(delimiters: Delimiters, control: str, po: str, line_break: str = "") -> bytes:
    """A small 850 interchange written by hand with the given delimiters."""
    e, t = delimiters.element, delimiters.segment
    isa11 = delimiters.repetition or "U"
    version = "00501" if delimiters.repetition else "00401"
    segments = [
        f"ISA{e}00{e}          {e}00{e}          {e}ZZ{e}BUYER          {e}ZZ{e}SELLER         "
        f"{e}261207{e}1200{e}{isa11}{e}{version}{e}{control}{e}0{e}P{e}{delimiters.component}",
        f"GS{e}PO{e}BUYER{e}SELLER{e}20261207{e}1200{e}7{e}X{e}004010",
        f"ST{e}850{e}0001",
        f"BEG{e}00{e}SA{e}{po}{e}{e}20261207",
        f"N1{e}ST{e}ISA WAREHOUSE ISA*ISA{e}92{e}0042",
        f"PO1{e}1{e}3{e}EA{e}9.5{e}{e}UP{e}012345678905",
        f"CTT{e}1",
        f"SE{e}6{e}0001",
        f"GE{e}1{e}7",
        f"IEA{e}1{e}{control}",
    ]
    return "".join(segment + t + line_break for segment in segments).encode()


def test_several_interchanges_each_with_its_own_separators() -> None:
    """One file: the samples back to back, plus hand-written ones with other separators."""
    parts = [
        (SAMPLES / "edinet_x12.850.edi").read_bytes(),
        (SAMPLES / "bots_850-004010-01.x12").read_bytes(),
        (SAMPLES / "bots_856_PARTNER2_20130123_1.x12").read_bytes(),
        (SAMPLES / "bots_997-004010VICS-01.x12").read_bytes(),
        _interchange(Delimiters("|", "\\", "\n", None), "000000101", "P-1"),
        _interchange(Delimiters("*", ">", "\x15", None), "000000102", "P-2", "\r\n"),
        _interchange(Delimiters("~", ":", "'", "^"), "000000103", "P-3"),
        (SAMPLES / "bots_855-004010UCS-01.x12").read_bytes(),
    ]
    combined = b"".join(parts)
    interchanges = parse_interchanges(io.BytesIO(combined))
    assert [ic.header.control_number for ic in interchanges] == [
        "000000055",
        "112240001",
        "000000002",
        "000001816",
        "000000101",
        "000000102",
        "000000103",
        "000002953",
    ]
    assert [ic.header.delimiters.element for ic in interchanges][4:7] == ["|", "*", "~"]
    assert [len(ic.transactions) for ic in interchanges] == [1, 1, 2, 1, 1, 1, 1, 6]
    for ic in interchanges[1:]:
        assert ic.problems == ()
    # "ISA" inside data is data: the N1 name came through whole
    n1 = next(s for s in interchanges[4].transactions[0].body if s.tag == "N1")
    assert n1.get(2) == "ISA WAREHOUSE ISA*ISA"


def test_missing_iea_then_next_interchange() -> None:
    first = _interchange(Delimiters("*", ">", "~", None), "000000001", "A")
    truncated = first[: first.index(b"IEA")]
    second = _interchange(Delimiters("+", ":", "'", None), "000000002", "B")
    interchanges = parse_interchanges(truncated + second)
    assert len(interchanges) == 2
    assert [p.code.value for p in interchanges[0].problems] == ["023"]
    assert interchanges[1].problems == ()
    assert interchanges[1].transactions[0].body[0].get(3) == "B"


def test_garbage_names_segment_and_offset() -> None:
    good = _interchange(Delimiters("*", ">", "~", None), "000000001", "A")
    with pytest.raises(X12SyntaxError) as caught:
        list(iter_segments(good + b"\r\nHELLO WORLD"))
    assert caught.value.index == 10
    assert caught.value.offset == len(good) + 2
    assert "expected an ISA header" in str(caught.value)
    with pytest.raises(X12SyntaxError, match="segment 0 at byte 0"):
        list(iter_segments(b"ISA*00*short~"))


def test_header_delimiters_rejects_letters() -> None:
    with pytest.raises(ValueError, match="letter, digit or space"):
        header_delimiters("ISAA00A")


_text = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF, exclude_characters="*:~^"),
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.from_regex(r"[A-Z][A-Z0-9]{1,2}", fullmatch=True),
            st.lists(st.one_of(_text, st.tuples(_text, _text)), max_size=6),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_rendered_segments_read_back(
    segments: list[tuple[str, list[str | tuple[str, str]]]],
) -> None:
    """Serializer → tokenizer: every element and component comes back as written."""
    d = Delimiters()
    isa = _interchange(d, "000000001", "A").split(b"~")[0] + b"~"
    body = "".join(render(seg(tag, *elements), d) for tag, elements in segments)
    read = list(iter_segments(isa + body.encode() + b"IEA*0*000000001~"))[1:-1]
    assert len(read) == len(segments)
    for segment, (tag, elements) in zip(read, segments, strict=True):
        assert segment.tag == tag
        expected = [
            d.component.join(e).rstrip(":") if isinstance(e, tuple) else e for e in elements
        ]
        while expected and not expected[-1]:
            expected.pop()
        assert list(segment.elements) == [value.rstrip("\r\n") for value in expected]


@pytest.mark.parametrize("terminator", ["~", "\n", "\x15", "'"])
@pytest.mark.parametrize("after", ["", "\r\n", "\n"])
@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_terminator_variants_read_the_same(terminator: str, after: str, bom: bytes) -> None:
    base = _interchange(Delimiters("*", ">", "~", None), "000000001", "P-1")
    text = base.decode().replace("~", terminator + after)
    nbsp = text.replace("*          *", "*\u00a0\u00a0        *", 1).encode()
    segments = list(iter_segments(bom + nbsp, chunk_size=5))
    reference = list(iter_segments(base))
    assert [(s.tag, s.elements) for s in segments] == [(s.tag, s.elements) for s in reference]
    assert segments[0].delimiters.segment == terminator


def test_crlf_written_as_the_terminator() -> None:
    """CR LF after ISA16: CR is the terminator and each LF is skipped as a line break."""
    base = _interchange(Delimiters("*", ">", "~", None), "000000001", "P-1")
    segments = list(iter_segments(base.replace(b"~", b"\r\n")))
    assert segments[0].delimiters.segment == "\r"
    assert [(s.tag, s.elements) for s in segments] == [
        (s.tag, s.elements) for s in iter_segments(base)
    ]
