"""The one module that knows pydifact: EDIFACT text ↔ ``Segment`` tuples.

pydifact's ``Tokenizer`` reads the release character and its ``Serializer`` escapes, and both
are used here (an interchange with no release character in it is split with ``str.split``,
which reads the same, some 20 times faster: a property test holds the two together).
Its ``Parser`` is not used, because of what it does with real interchanges (checked
against pydifact 0.2.3 in tests/unit/edi_edifact/test_adapter.py):

- without a UNA it reads with a decimal comma (``:+,? '``); ISO 9735's defaults are
  ``:+.? '``. Here a missing UNA means ``:+.? '`` and amounts accept either mark anyway;
- a second UNA (a file of several interchanges) is a syntax error, and ``'UNA`` anywhere in
  the text, even released (``?'UNA``) inside data, restarts the parse there and drops
  everything before it. Here the text is cut into interchanges at each UNA or UNB that
  starts a segment, each read with its own service characters;
- a line break inside a segment (files wrapped at 80 columns) stays in the data, and a
  UTF-8 byte order mark before UNA is a bad tag. Here CR and LF are removed from the whole
  file before anything is read (unless a UNA in it declares one as a service character:
  then they are kept everywhere), and the BOM is skipped;
- an unterminated last segment is "Unexpected end" with no position. Here the error names
  the segment number.

The serializer writes trailing empty data elements (``QTY+21:5+``) and does not release the
repetition separator of syntax version 4; both are handled before and around it.
pydifact has no UNG/UNE groups: they are plain segments here and ``envelope`` reads them.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pydifact.control.characters import Characters
from pydifact.exceptions import EDISyntaxError
from pydifact.segments import Segment as PydifactSegment
from pydifact.serializer import Serializer
from pydifact.token import Token
from pydifact.tokenizer import Tokenizer

_TAG = re.compile(r"[A-Z][A-Z0-9]{2}")


class EdifactSyntaxError(ValueError):
    """The text cannot be read as EDIFACT segments; ``segment`` is the 1-based number of the
    segment being read in the file (counting every interchange's segments)."""

    def __init__(self, detail: str, *, segment: int) -> None:
        super().__init__(f"segment {segment}: {detail}")
        self.detail = detail
        self.segment = segment


@dataclass(frozen=True)
class Delimiters:
    """The service characters of an interchange (UNA's six, in UNA's order)."""

    component: str = ":"
    element: str = "+"
    decimal: str = "."
    release: str = "?"
    reserved: str = " "  # the repetition separator from syntax version 4, else a space
    terminator: str = "'"

    def __post_init__(self) -> None:
        chars = self.una_string()
        if len(chars) != 6 or any(len(char) != 1 for char in chars):
            raise ValueError("EDIFACT service characters are six single characters")
        separators = (self.component, self.element, self.release, self.terminator)
        if len(set(separators)) != 4:
            raise ValueError(f"EDIFACT service characters repeat one another: {chars!r}")
        if self.decimal not in ".,":
            raise ValueError(f"EDIFACT decimal mark must be '.' or ',', not {self.decimal!r}")

    @classmethod
    def from_una(cls, chars: str) -> Delimiters:
        """From the six characters that follow ``UNA``."""
        if len(chars) != 6:
            raise ValueError(f"UNA holds {len(chars)} service characters, not 6")
        return cls(*chars)

    def una_string(self) -> str:
        return (
            self.component + self.element + self.decimal + self.release + self.reserved
            + self.terminator
        )  # fmt: skip


DEFAULT_DELIMITERS = Delimiters()


@dataclass(frozen=True)
class Segment:
    """One segment: its tag and data elements, each a tuple of components (one for a simple
    element). ``number`` is its 1-based place in the file (0 for a segment being written)."""

    tag: str
    elements: tuple[tuple[str, ...], ...] = ()
    number: int = 0

    def value(self, element: int, component: int = 0) -> str:
        """The component (0-based indexes after the tag), "" where absent."""
        if element >= len(self.elements):
            return ""
        parts = self.elements[element]
        return parts[component] if component < len(parts) else ""

    def __str__(self) -> str:
        return self.tag


def segment(tag: str, *elements: str | Sequence[str] | None) -> Segment:
    """A segment to write: each element a string, None (empty) or a sequence of components."""
    built: list[tuple[str, ...]] = []
    for element in elements:
        if element is None:
            built.append(("",))
        elif isinstance(element, str):
            built.append((element,))
        else:
            built.append(tuple(part or "" for part in element))
    return Segment(tag, tuple(built))


@dataclass(frozen=True)
class Chunk:
    """The part of a file one set of service characters applies to: one interchange, with
    the delimiters its UNA declared (or the defaults) and whether it had a UNA."""

    delimiters: Delimiters
    has_una: bool
    segments: tuple[Segment, ...]


def read_chunks(text: str) -> Iterator[Chunk]:
    """Cut a file into interchanges and read each one's segments."""
    position = 0
    number = 0
    text = text.removeprefix("\ufeff")
    if not _line_breaks_are_service_characters(text):
        text = text.replace("\r", "").replace("\n", "")
    while True:
        position = _skip_blank(text, position)
        if position >= len(text):
            return
        has_una = text.startswith("UNA", position)
        if has_una:
            chars = text[position + 3 : position + 9]
            try:
                delimiters = Delimiters.from_una(chars)
            except ValueError as exc:
                raise EdifactSyntaxError(f"UNA {chars!r}: {exc}", segment=number + 1) from None
            start = position + 9
        else:
            delimiters, start = DEFAULT_DELIMITERS, position
        end = _next_interchange(text, start, delimiters)
        segments = tuple(_read_segments(text[start:end], delimiters, number))
        if not segments:
            raise EdifactSyntaxError("UNA is followed by no segment", segment=number + 1)
        number += len(segments)
        yield Chunk(delimiters, has_una, segments)
        position = end


def _line_breaks_are_service_characters(text: str) -> bool:
    """Whether any UNA in the text (looked for loosely) declares CR or LF as one of its
    service characters; if none does, line breaks are never data and are removed."""
    return any(
        "\r" in text[found.end() : found.end() + 6] or "\n" in text[found.end() : found.end() + 6]
        for found in re.finditer("UNA", text)
    )


def _skip_blank(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _next_interchange(text: str, start: int, delimiters: Delimiters) -> int:
    """Where the next UNA or UNB segment starts after ``start`` (or the end of the text)."""
    boundary = re.compile(re.escape(delimiters.terminator) + r"[ \t\r\n]*(?=UN[AB])")
    for match in boundary.finditer(text, start):
        if not _released(text, match.start(), delimiters.release):
            return match.end()
    return len(text)


def _released(text: str, position: int, release: str) -> bool:
    """Whether the character at ``position`` is released (an odd run of release chars)."""
    count = 0
    while position - count - 1 >= 0 and text[position - count - 1] == release:
        count += 1
    return count % 2 == 1


def _read_segments(body: str, delimiters: Delimiters, before: int) -> Iterator[Segment]:
    separators = delimiters.component + delimiters.element + delimiters.terminator
    if delimiters.release not in body and " " not in separators:
        return _split_segments(body, delimiters, before)
    return _tokenize_segments(body, delimiters, before)


def _split_segments(body: str, delimiters: Delimiters, before: int) -> Iterator[Segment]:
    """Without a release character in the text every separator is one, and ``str.split``
    reads what pydifact's tokenizer would, some 20 times faster (the test
    ``test_both_readers_agree`` holds them to the same result). Like the tokenizer, spaces
    after a terminator are skipped."""
    pieces = body.split(delimiters.terminator)
    number = before
    for index, piece in enumerate(pieces[:-1]):
        number += 1
        text = piece.lstrip(" ") if index else piece
        elements = [
            tuple(element.split(delimiters.component)) for element in text.split(delimiters.element)
        ]
        yield _segment(elements, number)
    if pieces[-1].lstrip(" ") if len(pieces) > 1 else pieces[-1]:
        raise EdifactSyntaxError(
            "the text ends inside a segment (no terminator)", segment=number + 1
        )


def _tokenize_segments(body: str, delimiters: Delimiters, before: int) -> Iterator[Segment]:
    kinds = Token.Type
    elements: list[tuple[str, ...]] = []
    components = [""]
    number = before + 1
    tokens = Tokenizer().get_tokens(body, _characters(delimiters))
    try:
        for token in tokens:
            if token.type is kinds.CONTENT:
                components[-1] += token.value
            elif token.type is kinds.COMPONENT_SEPARATOR:
                components.append("")
            elif token.type is kinds.DATA_SEPARATOR:
                elements.append(tuple(components))
                components = [""]
            else:
                elements.append(tuple(components))
                yield _segment(elements, number)
                number += 1
                elements, components = [], [""]
    except EDISyntaxError as exc:
        raise EdifactSyntaxError(_reason(exc), segment=number) from None
    if elements or components != [""]:
        raise EdifactSyntaxError("the text ends inside a segment (no terminator)", segment=number)


def _reason(exc: EDISyntaxError) -> str:
    text = str(exc).removeprefix("EDIFACT Syntax Error: ")
    if "Unexpected end" in text:
        return "the text ends inside a segment (no terminator)"
    return text


def _segment(elements: list[tuple[str, ...]], number: int) -> Segment:
    tag_parts = elements[0]
    tag = tag_parts[0]
    if len(tag_parts) != 1 or not _TAG.fullmatch(tag):
        raise EdifactSyntaxError(
            f"{':'.join(tag_parts)[:20]!r} is not a segment tag", segment=number
        )
    return Segment(tag, tuple(elements[1:]), number)


# --- writing ------------------------------------------------------------------------------


class _Characters(Characters):
    """pydifact's characters, releasing the repetition separator too when there is one."""

    @property
    def escaped_syntax_dic(self) -> dict[str, str]:
        escapes: dict[str, str] = dict(super().escaped_syntax_dic)
        if self.reserved_character != " ":
            escapes[self.reserved_character] = self.escape_character + self.reserved_character
        return escapes


def _characters(delimiters: Delimiters) -> Characters:
    chars: Characters = _Characters.from_str(delimiters.una_string())
    return chars


def render(
    segments: Sequence[Segment],
    delimiters: Delimiters = DEFAULT_DELIMITERS,
    *,
    una: bool = True,
    line_breaks: bool = False,
) -> str:
    """The segments as EDIFACT text: values released, trailing empty elements and
    components left out, a UNA first when asked for, a line break after each segment when
    asked for (the reader takes either)."""
    serializer = Serializer(_characters(delimiters))
    with warnings.catch_warnings():
        # pydifact checks tags against its own directory and warns about ones it lacks.
        warnings.simplefilter("ignore")
        converted = [_to_pydifact(item) for item in segments]
    return str(serializer.serialize(converted, with_una_header=una, break_lines=line_breaks))


def _to_pydifact(item: Segment) -> PydifactSegment:
    elements: list[str | list[str]] = []
    for parts in item.elements:
        trimmed = list(parts)
        while trimmed and trimmed[-1] == "":
            trimmed.pop()
        elements.append(trimmed[0] if len(trimmed) == 1 else trimmed if trimmed else "")
    while elements and elements[-1] == "":
        elements.pop()
    return PydifactSegment(item.tag, *elements)
