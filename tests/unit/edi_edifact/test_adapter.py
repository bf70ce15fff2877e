"""The pydifact adapter: what pydifact gets wrong, and that the adapter reads it right."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydifact import Parser
from pydifact.exceptions import EDISyntaxError

from omniroute.connectors.edi_edifact.adapter import (
    DEFAULT_DELIMITERS,
    Delimiters,
    EdifactSyntaxError,
    Segment,
    _split_segments,
    _tokenize_segments,
    read_chunks,
    render,
    segment,
)

from .conftest import SAMPLES, sample


def tags_and_values(text: str) -> list[tuple[str, tuple[tuple[str, ...], ...]]]:
    return [(item.tag, item.elements) for chunk in read_chunks(text) for item in chunk.segments]


def test_pydifact_quirks_this_adapter_exists_for() -> None:
    """If pydifact fixes these, the adapter's workarounds can be looked at again."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert Parser().characters.decimal_point == ","  # ISO 9735 default is "."
        with pytest.raises(EDISyntaxError):  # two interchanges with a UNA each
            list(Parser().parse("UNA:+.? 'UNB+UNOC:3+A+B+1:1+1'UNZ+0+1'UNA:+.? 'UNB+UNOC:3'"))
        (nad,) = Parser().parse("NAD+BY+12\n34::9'")
        assert nad.elements[1][0] == "12\n34"  # a wrapped line stays in the data
        # a released 'UNA inside data restarts the parse there, losing the UNB
        lost = list(Parser().parse("UNB+UNOC:3+A+B+1:1+1'FTX+AAI+++x?'UNA:+.? 'UNZ+0+1'"))
        assert [item.tag for item in lost] == ["UNA", "UNZ"]


def test_every_sample_reads_into_segments() -> None:
    names = sorted(path.name for path in SAMPLES.iterdir())
    assert len(names) == 5
    for name in names:
        chunks = list(read_chunks(sample(name)))
        assert chunks, name
        assert all(chunk.segments[0].tag == "UNB" for chunk in chunks), name


def test_una_declares_the_decimal_comma_and_missing_una_means_the_defaults() -> None:
    (chunk,) = read_chunks(sample("pydifact_order.edi"))
    assert chunk.has_una and chunk.delimiters.decimal == ","
    first, second = read_chunks(sample("bots_my_first_plugin_order01.edi"))
    assert not first.has_una and first.delimiters == DEFAULT_DELIMITERS == second.delimiters
    assert DEFAULT_DELIMITERS.una_string() == ":+.? '"


def test_release_character() -> None:
    text = "UNB+UNOC:3+A+B+1:1+1'FTX+AAI+++O?'Brien?+Sons?: ??1'UNZ+0+1'"
    assert tags_and_values(text)[1] == ("FTX", (("AAI",), ("",), ("",), ("O'Brien+Sons: ?1",)))
    ordrsp = tags_and_values(sample("edinet_edifact.ORDRSP.edi"))
    assert ("COM", (("+49 123 45678 8652", "TE"),)) in ordrsp


def test_line_breaks_after_and_inside_segments_are_not_data() -> None:
    plain = "UNB+UNOC:3+A+B+1:1+1'NAD+BY+1234::9'UNZ+0+1'"
    wrapped = "UNB+UNOC:3+A+B+1:1+1'\r\nNAD+BY+12\r\n34::9'\nUNZ+0+1'\n"
    fixed_width = "".join(plain[i : i + 10] + "\n" for i in range(0, len(plain), 10))
    assert tags_and_values(wrapped) == tags_and_values(plain) == tags_and_values(fixed_width)


def test_bom_and_several_interchanges_with_their_own_service_characters() -> None:
    text = (
        "\ufeffUNA:+.? 'UNB+UNOC:3+A+B+1:1+1'UNZ+0+1'\r\n"
        "UNA|*,? #UNB*UNOC|3*C*D*1|1*2#FTX*AAI****a?#b 'UNA#UNZ*0*2#"
        "UNB+UNOA:3+E+F+1:1+3'UNZ+0+3'"
    )
    chunks = list(read_chunks(text))
    assert [chunk.delimiters.una_string() for chunk in chunks] == [":+.? '", "|*,? #", ":+.? '"]
    assert chunks[1].segments[1].value(4) == "a#b 'UNA"
    assert [item.number for chunk in chunks for item in chunk.segments] == [1, 2, 3, 4, 5, 6, 7]


def test_unreadable_text_names_the_segment() -> None:
    with pytest.raises(EdifactSyntaxError, match="segment 2: the text ends inside a segment"):
        list(read_chunks("UNB+UNOC:3+A+B+1:1+1'UNZ+0+1"))
    with pytest.raises(EdifactSyntaxError, match="segment 2: '12' is not a segment tag"):
        list(read_chunks("UNB+UNOC:3+A+B+1:1+1'12+3'"))
    with pytest.raises(EdifactSyntaxError, match="UNA"):
        list(read_chunks("UNA:+'"))


def test_render_releases_service_characters_and_trims_empty_elements() -> None:
    segments = [
        segment("FTX", "AAI", None, None, ["a'b", "c:d+e?*"]),
        segment("QTY", ["21", "5", ""], ""),
    ]
    text = render(segments, una=False)
    assert text == "FTX+AAI+++a?'b:c?:d?+e??*'QTY+21:5'"
    version4 = render(segments, Delimiters(reserved="*"), una=True, line_breaks=True)
    assert version4 == "UNA:+.?*'\nFTX+AAI+++a?'b:c?:d?+e???*'\nQTY+21:5'\n"
    back = [item.elements for chunk in read_chunks(version4) for item in chunk.segments]
    assert back == [
        (("AAI",), ("",), ("",), ("a'b", "c:d+e?*")),
        (("21", "5"),),
    ]


def test_delimiters_must_be_distinct() -> None:
    with pytest.raises(ValueError, match="repeat"):
        Delimiters(element=":")
    with pytest.raises(ValueError, match="decimal"):
        Delimiters(decimal=";")


def test_a_line_feed_terminator_is_kept() -> None:
    text = "UNA:+.? \nUNB+UNOC:3+A+B+1:1+1\nFTX+AAI+++a b\nUNZ+0+1\n"
    ((unb, ftx, unz),) = [chunk.segments for chunk in read_chunks(text)]
    assert (unb.tag, unz.tag, ftx.value(3)) == ("UNB", "UNZ", "a b")
    # pydifact refuses a released line break; it is reported with its segment
    with pytest.raises(EdifactSyntaxError, match="segment 2: Newlines after escape"):
        list(read_chunks(text.replace("a b", "a?\nb")))


def outcome(
    reader: Callable[[str, Delimiters, int], Iterator[Segment]], body: str
) -> list[Segment] | str:
    try:
        return list(reader(body, DEFAULT_DELIMITERS, 0))
    except EdifactSyntaxError as exc:
        return str(exc)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="UNBHTZ+:' a1", max_size=40))
def test_both_readers_agree(body: str) -> None:
    """Without a release character, the str.split reader and pydifact's tokenizer read the
    same segments and refuse the same texts with the same error."""
    assert outcome(_split_segments, body) == outcome(_tokenize_segments, body)


def test_the_release_character_takes_the_tokenizer() -> None:
    text = "UNB+UNOC:3+A+B+1:1+1'FTX+AAI+++a?+b'UNZ+0+1'"
    (chunk,) = read_chunks(text)
    assert chunk.segments[1].value(3) == "a+b"
    assert list(_split_segments("FTX+a'", DEFAULT_DELIMITERS, 0)) == [Segment("FTX", (("a",),), 1)]
