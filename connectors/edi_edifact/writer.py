"""Outbound interchanges: UNA (optional per partner), UNB, UNH…UNT per message, UNZ.

Control references come in as arguments (the database hands them out later); the moment
of preparation too (no clock here). Every value is checked against the syntax level's
character repertoire (UNOA, UNOB, UNOC; UNOY takes any) before anything is written, so a
partner never receives a character its level does not allow.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from omniroute.connectors.edi_edifact.adapter import (
    DEFAULT_DELIMITERS,
    Delimiters,
    Segment,
    render,
    segment,
)
from omniroute.connectors.edi_edifact.envelope import Party

#: Level A: upper-case letters, digits, space and . , - ( ) / = ' + : ? ! " % & * ; < >
_UNOA = re.compile(r"[A-Z0-9 .,\-()/='+:?!\"%&*;<>]*")
_CHECKS: dict[str, Callable[[str], bool]] = {
    "UNOA": lambda text: _UNOA.fullmatch(text) is not None,
    "UNOB": lambda text: all(" " <= char <= "~" for char in text),
    "UNOC": lambda text: all(" " <= char <= "~" or "\xa0" <= char <= "\xff" for char in text),
    "UNOY": lambda text: "\x00" not in text,
}
_REFERENCE = re.compile(r"[A-Za-z0-9\-]{1,14}")


class OutboundError(ValueError):
    """A document cannot be written as asked (bad reference, character outside the level)."""


@dataclass(frozen=True)
class Envelope:
    """How an interchange to one partner is written: their ids, our ids, the syntax level,
    the control reference of this interchange and when it was prepared."""

    sender: Party
    recipient: Party
    control_reference: str
    prepared: datetime
    syntax_identifier: str = "UNOC"
    syntax_version: str = "3"
    delimiters: Delimiters = DEFAULT_DELIMITERS
    write_una: bool = True
    line_breaks: bool = False
    application_reference: str = ""
    acknowledgement_request: bool = False
    test: bool = False


@dataclass(frozen=True)
class OutboundMessage:
    """A message to write: its reference (UNH 0062), identifier and the segments between
    UNH and UNT."""

    reference: str
    type: str
    version: str
    release: str
    body: tuple[Segment, ...]
    agency: str = "UN"
    association: str = ""


def write_interchange(envelope: Envelope, messages: Sequence[OutboundMessage]) -> str:
    """The interchange's text."""
    if not messages:
        raise OutboundError("an interchange needs at least one message")
    _check_reference(envelope.control_reference, "interchange control reference (0020)")
    check = _CHECKS.get(envelope.syntax_identifier)
    if check is None:
        raise OutboundError(f"syntax identifier {envelope.syntax_identifier!r} is not supported")
    if envelope.syntax_version not in {"3", "4"}:
        raise OutboundError(f"syntax version {envelope.syntax_version!r} is not 3 or 4")
    segments = [_unb(envelope)]
    references: set[str] = set()
    for message in messages:
        _check_reference(message.reference, "message reference (0062)")
        if message.reference in references:
            raise OutboundError(f"message reference {message.reference!r} is used twice")
        references.add(message.reference)
        segments.extend(_message_segments(message))
    segments.append(segment("UNZ", str(len(messages)), envelope.control_reference))
    _check_repertoire(segments, envelope.syntax_identifier, check)
    delimiters = envelope.delimiters
    if envelope.syntax_version == "3" and delimiters.reserved != " ":
        raise OutboundError("syntax version 3 has no repetition separator: UNA's 5th is a space")
    return render(segments, delimiters, una=envelope.write_una, line_breaks=envelope.line_breaks)


def _check_repertoire(
    segments: Sequence[Segment], level: str, check: Callable[[str], bool]
) -> None:
    for item in segments:
        for parts in item.elements:
            for part in parts:
                if not check(part):
                    raise OutboundError(f"{item.tag} value {part!r} has characters outside {level}")


def _check_reference(value: str, name: str) -> None:
    if not _REFERENCE.fullmatch(value):
        raise OutboundError(f"{name} {value!r} must be 1 to 14 letters, digits or '-'")


def _unb(envelope: Envelope) -> Segment:
    prepared = envelope.prepared
    date = prepared.strftime("%Y%m%d" if envelope.syntax_version == "4" else "%y%m%d")
    return segment(
        "UNB",
        [envelope.syntax_identifier, envelope.syntax_version],
        [envelope.sender.id, envelope.sender.qualifier],
        [envelope.recipient.id, envelope.recipient.qualifier],
        [date, prepared.strftime("%H%M")],
        envelope.control_reference,
        None,
        envelope.application_reference or None,
        None,
        "1" if envelope.acknowledgement_request else None,
        None,
        "1" if envelope.test else None,
    )


def _message_segments(message: OutboundMessage) -> list[Segment]:
    identifier = [message.type, message.version, message.release, message.agency]
    if message.association:
        identifier.append(message.association)
    unh = segment("UNH", message.reference, identifier)
    count = len(message.body) + 2
    return [unh, *message.body, segment("UNT", str(count), message.reference)]
