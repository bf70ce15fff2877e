"""An EDIFACT file read into interchanges, groups and messages, with the envelope checked.

Checks (each failure a ``Problem`` with its ISO 9735 syntax error code, data element 0085,
and the segment it was found at): UNB present and complete, UNZ present, UNZ01 = the number
of messages (or of groups, where the interchange has UNG groups), UNZ02 = UNB05; UNG/UNE
(pydifact has no groups: they are read here) with UNE01 = its messages and UNE02 = UNG05;
UNH/UNT with UNT01 = the message's segments from UNH to UNT and UNT02 = UNH01; message
references unique in the interchange; nothing between messages but groups; messages and
groups not mixed; at least one message.

A problem of UNB, UNZ or of what sits between messages rejects the interchange; one of a
group, its messages; one of a message, that message only.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

from omniroute.connectors.edi_edifact.adapter import (
    Chunk,
    Delimiters,
    EdifactSyntaxError,
    Segment,
    read_chunks,
)


class SyntaxErrorCode(enum.StrEnum):
    """The codes of data element 0085 (syntax error, coded) this package reports."""

    SYNTAX_VERSION_NOT_SUPPORTED = "2"
    RECIPIENT_NOT_ACTUAL = "7"
    INVALID_VALUE = "12"
    MISSING = "13"
    VALUE_NOT_SUPPORTED = "14"
    NOT_SUPPORTED_IN_POSITION = "15"
    NO_AGREEMENT = "17"
    UNSPECIFIED = "18"
    UNKNOWN_SENDER = "23"
    DUPLICATE = "26"
    REFERENCES_DO_NOT_MATCH = "28"
    COUNT_DOES_NOT_MATCH = "29"
    GROUPS_AND_MESSAGES_MIXED = "30"
    LOWER_LEVEL_EMPTY = "32"
    INVALID_OCCURRENCE = "33"


@dataclass(frozen=True)
class Problem:
    """What is wrong and where: ``segment`` is the segment's number in the file, ``tag`` its
    tag (for a missing segment: the missing tag, and ``segment`` where it was expected),
    ``in_message`` its place in its message (UNH = 1) where it is inside one, and
    ``element``/``component`` (1-based) the data element where one is to blame."""

    code: SyntaxErrorCode
    segment: int
    tag: str
    text: str
    in_message: int | None = None
    element: int | None = None
    component: int | None = None

    def describe(self) -> str:
        where = f"segment {self.segment} ({self.tag})"
        if self.in_message is not None:
            where += f", segment {self.in_message} of its message"
        if self.element is not None:
            where += f", element {self.element}"
            if self.component is not None:
                where += f".{self.component}"
        return f"{where}: {self.text} [error {self.code.value}]"


@dataclass(frozen=True)
class Party:
    """An interchange or group sender/recipient: its id and the id's code qualifier."""

    id: str
    qualifier: str = ""


@dataclass(frozen=True)
class Message:
    """One UNH…UNT message (``segments`` include both), with its own problems."""

    reference: str
    type: str
    version: str
    release: str
    agency: str
    association: str
    segments: tuple[Segment, ...]
    problems: tuple[Problem, ...] = ()
    group_reference: str | None = None

    def position_of(self, number: int) -> int | None:
        """The place (UNH = 1) in this message of the file's segment ``number``."""
        if not self.segments:
            return None
        place = number - self.segments[0].number + 1
        return place if 1 <= place <= len(self.segments) else None

    @property
    def body(self) -> tuple[Segment, ...]:
        """The segments between UNH and UNT."""
        end = -1 if self.segments and self.segments[-1].tag == "UNT" else None
        return self.segments[1:end]


@dataclass(frozen=True)
class Group:
    """A UNG…UNE functional group and the references of the messages in it."""

    reference: str
    message_type: str
    sender: Party
    recipient: Party
    message_references: tuple[str, ...]
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class Interchange:
    """One UNB…UNZ interchange. ``problems`` are the interchange's own (they reject it);
    groups and messages carry theirs."""

    delimiters: Delimiters
    has_una: bool
    syntax_identifier: str
    syntax_version: str
    sender: Party
    recipient: Party
    prepared_date: str
    prepared_time: str
    control_reference: str
    application_reference: str
    acknowledgement_requested: bool
    test: bool
    messages: tuple[Message, ...]
    groups: tuple[Group, ...]
    problems: tuple[Problem, ...]
    first_segment: int = 1  # the file's number of its UNB (or of what stands in its place)

    @property
    def rejected(self) -> bool:
        return bool(self.problems)

    def accepted_messages(self) -> Iterator[Message]:
        """The messages a CONTRL acknowledges: none if the interchange is rejected, none of
        a rejected group, and only those without problems of their own."""
        if self.problems:
            return
        refused = {
            ref for group in self.groups if group.problems for ref in group.message_references
        }
        for message in self.messages:
            if not message.problems and message.reference not in refused:
                yield message

    def all_problems(self) -> Iterator[Problem]:
        yield from self.problems
        for group in self.groups:
            yield from group.problems
        for message in self.messages:
            yield from message.problems


def parse_interchanges(text: str) -> tuple[Interchange, ...]:
    """Every interchange in the file, checked; ``adapter.EdifactSyntaxError`` if the text
    cannot be cut into segments at all or holds none."""
    found = tuple(_interchange(chunk) for chunk in read_chunks(text))
    if not found:
        raise EdifactSyntaxError("the file holds no EDIFACT segment", segment=1)
    return found


def interchange_of(chunk: Chunk) -> Interchange:
    """One interchange already cut and tokenized (``adapter.read_chunks``), checked."""
    return _interchange(chunk)


@dataclass
class _Reading:
    """The mutable state of reading one interchange."""

    problems: list[Problem] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    seen_references: set[str] = field(default_factory=set)

    def add(self, code: SyntaxErrorCode, at: Segment, text: str, **where: int) -> None:
        self.problems.append(Problem(code, at.number, at.tag, text, **where))


def _interchange(chunk: Chunk) -> Interchange:
    segments = chunk.segments
    reading = _Reading()
    unb = segments[0]
    if unb.tag != "UNB":
        reading.problems.append(
            Problem(
                SyntaxErrorCode.MISSING,
                unb.number,
                "UNB",
                f"the interchange does not start with UNB but with {unb.tag}",
            )
        )
    else:
        _check_unb(unb, reading)
    end = len(segments)
    unz = segments[-1] if segments[-1].tag == "UNZ" else None
    if unz is None:
        reading.problems.append(
            Problem(
                SyntaxErrorCode.MISSING,
                segments[-1].number,
                "UNZ",
                f"no UNZ ends the interchange (its last segment is {segments[-1].tag})",
            )
        )
    else:
        end -= 1
    start = 1 if unb.tag == "UNB" else 0
    _read_body(segments[start:end], reading)
    if unz is not None:
        _check_unz(unz, unb if unb.tag == "UNB" else None, reading)
    if not reading.messages:
        reading.add(
            SyntaxErrorCode.LOWER_LEVEL_EMPTY, segments[-1], "the interchange holds no message"
        )
    if reading.groups and any(message.group_reference is None for message in reading.messages):
        reading.add(
            SyntaxErrorCode.GROUPS_AND_MESSAGES_MIXED,
            segments[-1],
            "the interchange mixes groups and messages outside groups",
        )
    return Interchange(
        delimiters=chunk.delimiters,
        has_una=chunk.has_una,
        syntax_identifier=unb.value(0, 0) if unb.tag == "UNB" else "",
        syntax_version=unb.value(0, 1) if unb.tag == "UNB" else "",
        sender=Party(unb.value(1, 0), unb.value(1, 1)) if unb.tag == "UNB" else Party(""),
        recipient=Party(unb.value(2, 0), unb.value(2, 1)) if unb.tag == "UNB" else Party(""),
        prepared_date=unb.value(3, 0),
        prepared_time=unb.value(3, 1),
        control_reference=unb.value(4) if unb.tag == "UNB" else "",
        application_reference=unb.value(6),
        acknowledgement_requested=unb.value(8) == "1",
        test=unb.value(10) == "1",
        messages=tuple(reading.messages),
        groups=tuple(reading.groups),
        problems=tuple(reading.problems),
        first_segment=unb.number,
    )


_UNB_REQUIRED = (
    (0, 0, "syntax identifier (0001)"),
    (0, 1, "syntax version (0002)"),
    (1, 0, "sender identification (0004)"),
    (2, 0, "recipient identification (0010)"),
    (3, 0, "date of preparation (0017)"),
    (3, 1, "time of preparation (0019)"),
    (4, 0, "interchange control reference (0020)"),
)


def _check_unb(unb: Segment, reading: _Reading) -> None:
    for element, component, name in _UNB_REQUIRED:
        if not unb.value(element, component):
            reading.add(
                SyntaxErrorCode.MISSING,
                unb,
                f"UNB has no {name}",
                element=element + 1,
                component=component + 1,
            )
    version = unb.value(0, 1)
    if version and version not in {"1", "2", "3", "4"}:
        reading.add(
            SyntaxErrorCode.SYNTAX_VERSION_NOT_SUPPORTED,
            unb,
            f"syntax version {version!r} is not 1 to 4",
            element=1,
            component=2,
        )


def _check_unz(unz: Segment, unb: Segment | None, reading: _Reading) -> None:
    counted = len(reading.groups) if reading.groups else len(reading.messages)
    what = "groups" if reading.groups else "messages"
    declared = unz.value(0)
    if declared != str(counted) and not (declared.isdigit() and int(declared) == counted):
        reading.add(
            SyntaxErrorCode.COUNT_DOES_NOT_MATCH,
            unz,
            f"UNZ's count {declared!r} is not the {counted} {what} the interchange holds",
            element=1,
        )
    if unb is not None and unz.value(1) != unb.value(4):
        reading.add(
            SyntaxErrorCode.REFERENCES_DO_NOT_MATCH,
            unz,
            f"UNZ reference {unz.value(1)!r} is not UNB's {unb.value(4)!r}",
            element=2,
        )


def _read_body(segments: Sequence[Segment], reading: _Reading) -> None:
    index = 0
    group: tuple[Segment, list[Message], list[Problem]] | None = None
    while index < len(segments):
        current = segments[index]
        if current.tag == "UNH":
            index, message = _message(segments, index, group[0].value(4) if group else None)
            if message.reference in reading.seen_references:
                message = replace(
                    message,
                    problems=(
                        *message.problems,
                        Problem(
                            SyntaxErrorCode.DUPLICATE,
                            current.number,
                            "UNH",
                            f"message reference {message.reference!r} is used twice",
                            in_message=1,
                            element=1,
                        ),
                    ),
                )
            reading.seen_references.add(message.reference)
            reading.messages.append(message)
            if group is not None:
                group[1].append(message)
            continue
        if current.tag == "UNG":
            if group is not None:
                _close_group(group, None, reading)
            group = (current, [], [])
        elif current.tag == "UNE" and group is not None:
            _close_group(group, current, reading)
            group = None
        else:
            reading.add(
                SyntaxErrorCode.INVALID_OCCURRENCE,
                current,
                f"{current.tag} stands outside any message",
            )
        index += 1
    if group is not None:
        _close_group(group, None, reading)


def _message(
    segments: Sequence[Segment], start: int, group_reference: str | None
) -> tuple[int, Message]:
    """Read the message that starts at ``start``; the index after it and the message."""
    unh = segments[start]
    problems: list[Problem] = []
    index = start + 1
    while index < len(segments) and segments[index].tag not in {"UNT", "UNH", "UNE", "UNG"}:
        index += 1
    if index < len(segments) and segments[index].tag == "UNT":
        body = tuple(segments[start : index + 1])
        _check_unt(unh, segments[index], len(body), problems)
        index += 1
    else:
        body = tuple(segments[start:index])
        last = body[-1]
        problems.append(
            Problem(
                SyntaxErrorCode.MISSING,
                last.number,
                "UNT",
                f"no UNT ends message {unh.value(0)!r} (its last segment is {last.tag})",
                in_message=len(body),
            )
        )
    for element, component, name in (
        (0, 0, "message reference (0062)"),
        (1, 0, "message type (0065)"),
    ):
        if not unh.value(element, component):
            problems.append(
                Problem(
                    SyntaxErrorCode.MISSING,
                    unh.number,
                    "UNH",
                    f"UNH has no {name}",
                    in_message=1,
                    element=element + 1,
                    component=component + 1,
                )
            )
    message = Message(
        reference=unh.value(0),
        type=unh.value(1, 0),
        version=unh.value(1, 1),
        release=unh.value(1, 2),
        agency=unh.value(1, 3),
        association=unh.value(1, 4),
        segments=body,
        problems=tuple(problems),
        group_reference=group_reference,
    )
    return index, message


def _check_unt(unh: Segment, unt: Segment, count: int, problems: list[Problem]) -> None:
    declared = unt.value(0)
    if not (declared.isdigit() and int(declared) == count):
        problems.append(
            Problem(
                SyntaxErrorCode.COUNT_DOES_NOT_MATCH,
                unt.number,
                "UNT",
                f"UNT's segment count {declared!r} is not the {count} the message has",
                in_message=count,
                element=1,
            )
        )
    if unt.value(1) != unh.value(0):
        problems.append(
            Problem(
                SyntaxErrorCode.REFERENCES_DO_NOT_MATCH,
                unt.number,
                "UNT",
                f"UNT reference {unt.value(1)!r} is not UNH's {unh.value(0)!r}",
                in_message=count,
                element=2,
            )
        )


def _close_group(
    group: tuple[Segment, list[Message], list[Problem]], une: Segment | None, reading: _Reading
) -> None:
    ung, messages, problems = group
    if une is None:
        problems.append(
            Problem(
                SyntaxErrorCode.MISSING, ung.number, "UNG", f"no UNE ends group {ung.value(4)!r}"
            )
        )
    else:
        declared = une.value(0)
        if not (declared.isdigit() and int(declared) == len(messages)):
            problems.append(
                Problem(
                    SyntaxErrorCode.COUNT_DOES_NOT_MATCH,
                    une.number,
                    "UNE",
                    f"UNE's count {declared!r} is not the {len(messages)} messages the group holds",
                    element=1,
                )
            )
        if une.value(1) != ung.value(4):
            problems.append(
                Problem(
                    SyntaxErrorCode.REFERENCES_DO_NOT_MATCH,
                    une.number,
                    "UNE",
                    f"UNE reference {une.value(1)!r} is not UNG's {ung.value(4)!r}",
                    element=2,
                )
            )
    reading.groups.append(
        Group(
            reference=ung.value(4),
            message_type=ung.value(0),
            sender=Party(ung.value(1, 0), ung.value(1, 1)),
            recipient=Party(ung.value(2, 0), ung.value(2, 1)),
            message_references=tuple(message.reference for message in messages),
            problems=tuple(problems),
        )
    )
