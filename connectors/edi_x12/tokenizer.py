"""X12 tokenizer: bytes in, segments out, streamed.

Each interchange announces its own delimiters in its ISA header: the element separator is
the byte after ``ISA``, the component (sub-element) separator is ISA16, the segment
terminator is the byte after ISA16, and ISA11 is the repetition separator from version
00402 on (before that it is the standards identifier, ``U``). The header is read by
counting separators rather than by fixed byte offsets, so padding written as multi-byte
no-break spaces still parses. Line breaks after terminators, a UTF-8 byte order mark and
whitespace between interchanges are skipped. A segment that begins ``ISA`` followed by a
non-alphanumeric byte inside an interchange starts the next interchange (its IEA was
missing; envelope validation reports that), so ``ISA`` inside data never confuses it.

The reader keeps only the unread tail of the current chunk, so memory does not grow with
the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, NamedTuple

#: Read size when the source is a file.
CHUNK_SIZE = 1 << 16
_BOM = b"\xef\xbb\xbf"
_SKIPPED = b" \t\r\n"
_SKIPPED_OR_BOM = _SKIPPED + _BOM[:1]
# An ISA header is 106 bytes when written by the rule; padding in multi-byte characters
# makes it longer. Past this many bytes without its 16 separators it is not a header.
_MAX_HEADER = 512
_ISA_ELEMENTS = 16
# ISA12 from which ISA11 is the repetition separator.
_REPETITION_FROM = "00402"


class X12SyntaxError(ValueError):
    """The bytes are not X12 at a known place: ``index`` (segment number, from 0, counted
    over the whole source) and ``offset`` (byte offset of where it went wrong)."""

    def __init__(self, detail: str, *, index: int, offset: int) -> None:
        super().__init__(f"segment {index} at byte {offset}: {detail}")
        self.detail = detail
        self.index = index
        self.offset = offset


@dataclass(frozen=True, slots=True)
class Delimiters:
    """The four delimiters of one interchange (``repetition`` None before version 00402)."""

    element: str = "*"
    component: str = ":"
    segment: str = "~"
    repetition: str | None = "^"

    def __post_init__(self) -> None:
        chars = [self.element, self.component, self.segment]
        if self.repetition is not None:
            chars.append(self.repetition)
        if any(len(char) != 1 for char in chars):
            raise ValueError(f"each X12 delimiter must be one character, got {chars!r}")
        if len(set(chars)) != len(chars):
            raise ValueError(f"X12 delimiters must differ from each other, got {chars!r}")
        if not all(char.isascii() for char in chars):
            raise ValueError(f"X12 delimiters must be ASCII characters, got {chars!r}")
        if any(char.isalnum() or char == " " for char in chars):
            raise ValueError(f"X12 delimiters cannot be letters, digits or spaces: {chars!r}")
        if self.element in "\r\n":
            raise ValueError("the X12 element separator cannot be a line break")


class Segment(NamedTuple):
    """One segment: its tag, its elements (``elements[0]`` is element 01), where it is.

    ``number`` counts segments from 0 over the whole source; ``offset`` is the byte offset
    of its first byte. Composite and repeated elements stay as text: ``components`` and
    ``repeats`` split them with the interchange's delimiters. (A named tuple: immutable,
    and built several times faster than a frozen dataclass, once per segment read.)
    """

    tag: str
    elements: tuple[str, ...]
    number: int
    offset: int
    delimiters: Delimiters

    def get(self, position: int) -> str:
        """Element ``position`` (1-based, as in ``BEG03``); ``""`` when absent."""
        if 0 < position <= len(self.elements):
            return self.elements[position - 1]
        return ""

    def components(self, position: int) -> list[str]:
        """The components of a composite element (one item when it is simple)."""
        return self.get(position).split(self.delimiters.component)

    def repeats(self, position: int) -> list[str]:
        """The repetitions of a repeating element (one item before version 00402)."""
        value = self.get(position)
        if self.delimiters.repetition is None:
            return [value]
        return value.split(self.delimiters.repetition)

    def where(self) -> str:
        """``"segment 12 (PO1) at byte 345"``, for error messages."""
        return f"segment {self.number} ({self.tag}) at byte {self.offset}"


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        # X12's extended character set predates UTF-8; a single-byte file stays readable.
        return raw.decode("latin-1")


def header_delimiters(header: str) -> Delimiters:
    """The delimiters an ISA header announces. ``header`` starts with ``ISA`` and holds at
    least the whole header; raises ``ValueError`` when it is not one."""
    if not header.startswith("ISA") or len(header) < 4:
        raise ValueError("an interchange must start with ISA")
    element = header[3]
    if element.isalnum() or element in " \r\n":
        raise ValueError(f"ISA element separator {element!r} is a letter, digit or space")
    position = 3
    for _ in range(_ISA_ELEMENTS - 1):
        position = header.find(element, position + 1)
        if position < 0:
            raise ValueError(f"ISA header ends before its {_ISA_ELEMENTS} elements")
    if len(header) < position + 3:
        raise ValueError("ISA header ends before ISA16 and the segment terminator")
    component = header[position + 1]
    segment = header[position + 2]
    fields = header[4:position].split(element)
    version = fields[11].strip() if len(fields) > 11 else ""
    repetition = fields[10] if version >= _REPETITION_FROM and len(fields) > 10 else None
    try:
        return Delimiters(element, component, segment, repetition)
    except ValueError:
        # Repetition separator equal to another delimiter (or a letter): not a separator.
        return Delimiters(element, component, segment, None)


class _Reader:
    """The unread bytes of a source, refilled a chunk at a time."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self.buf = b""
        self.pos = 0
        self.base = 0  # source offset of buf[0]

    def fill(self) -> bool:
        """Read one more chunk; False at the end of the source."""
        for chunk in self._chunks:
            if chunk:
                self.base += self.pos
                self.buf = self.buf[self.pos :] + bytes(chunk)
                self.pos = 0
                return True
        return False

    def ensure(self, size: int) -> bool:
        """At least ``size`` unread bytes (False when the source ends first)."""
        while len(self.buf) - self.pos < size:
            if not self.fill():
                return False
        return True

    def skip_blank(self) -> None:
        """Step over line breaks, spaces and byte order marks between segments."""
        while self.ensure(1):
            byte = self.buf[self.pos]
            if byte in _SKIPPED:
                self.pos += 1
            elif byte == _BOM[0] and self.ensure(3) and self.buf.startswith(_BOM, self.pos):
                self.pos += len(_BOM)
            else:
                return

    def find(self, terminator: bytes) -> int:
        """Where the current segment ends (the source's end when its terminator is missing)."""
        end = self.buf.find(terminator, self.pos)
        while end < 0 and self.fill():
            end = self.buf.find(terminator, self.pos)
        return len(self.buf) if end < 0 else end

    def offset(self) -> int:
        return self.base + self.pos


def _chunks_of(source: Iterable[bytes] | BinaryIO | bytes, chunk_size: int) -> Iterator[bytes]:
    if isinstance(source, str):
        raise TypeError("X12 is read from bytes (or a binary file), not from str")
    if isinstance(source, bytes | bytearray | memoryview):
        yield bytes(source)
        return
    read = getattr(source, "read", None)
    if read is not None:
        while chunk := read(chunk_size):
            yield chunk
        return
    yield from source


def iter_segments(
    source: Iterable[bytes] | BinaryIO | bytes, *, chunk_size: int = CHUNK_SIZE
) -> Iterator[Segment]:
    """The segments of every interchange in ``source`` (bytes, byte chunks or a binary file).

    Raises ``X12SyntaxError`` naming the segment number and byte offset where the bytes
    stop being X12 (no ISA where an interchange should start, a broken ISA header).
    """
    reader = _Reader(_chunks_of(source, chunk_size))
    index = 0
    delimiters: Delimiters | None = None
    terminator = b""
    element = ""
    breaks = ""
    while True:
        if reader.pos >= len(reader.buf) or reader.buf[reader.pos] in _SKIPPED_OR_BOM:
            reader.skip_blank()
            if not reader.ensure(1):
                return
        start = reader.offset()
        at_header = delimiters is None
        if delimiters is None:
            delimiters = _read_header(reader, index)
            terminator = delimiters.segment.encode("latin-1")
            element = delimiters.element
            # Line breaks before the terminator are dropped, unless one is a delimiter itself.
            breaks = "".join(c for c in "\r\n" if c not in _delimiter_chars(delimiters))
        end = reader.find(terminator)
        raw = reader.buf[reader.pos : end]
        if not at_header and raw[:3] == b"ISA" and len(raw) > 3 and not raw[3:4].isalnum():
            delimiters = None  # the next interchange began before this one's IEA
            continue
        reader.pos = min(end + len(terminator), len(reader.buf))
        text = _decode(raw).rstrip(breaks) if breaks else _decode(raw)
        if at_header:
            text = text.replace("\u00a0", " ")
        parts = text.split(element)
        tag = parts[0].strip()
        if not tag:
            raise X12SyntaxError("segment has no tag", index=index, offset=start)
        yield Segment(tag, tuple(parts[1:]), index, start, delimiters)
        index += 1
        if tag == "IEA":
            delimiters = None


def _delimiter_chars(delimiters: Delimiters) -> str:
    return delimiters.element + delimiters.component + (delimiters.repetition or "")


def _read_header(reader: _Reader, index: int) -> Delimiters:
    offset = reader.offset()
    reader.ensure(_MAX_HEADER)
    window = reader.buf[reader.pos : reader.pos + _MAX_HEADER]
    if not window.startswith(b"ISA"):
        found = _decode(window[:20])
        raise X12SyntaxError(f"expected an ISA header, found {found!r}", index=index, offset=offset)
    try:
        delimiters = header_delimiters(_decode(window))
    except ValueError as error:
        raise X12SyntaxError(str(error), index=index, offset=offset) from None
    return delimiters
