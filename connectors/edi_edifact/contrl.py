"""CONTRL, the syntax and service report, built from what reading an interchange found.

UCI answers the interchange with action code 0083: 7 (this level acknowledged, the next
lower level acknowledged unless explicitly rejected) or 4 (this level and all lower levels
rejected), with the first interchange-level error (0085, the service segment's tag and the
data element). 8 (interchange received) is for a receipt-only answer, ``received_only``.
Then one UCM per message (7 or 4); a rejected message's errors in UNH/UNT go on its UCM,
those in its body on UCS (segment position in the message, UNH = 1) and UCD (data element
and component). Messages of UNG groups are answered inside their UCF.

A message can also be rejected for what the application found (``problem_of`` turns an
ORDERS mapping error into a problem, ``unsupported`` names a message type the partner may
not send us): pass those as ``rejected``. What the application knows of the interchange
itself (an unknown sender, another recipient, a repeated control reference) rejects it
whole: pass it as ``interchange_problems``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from omniroute.connectors.edi_edifact.adapter import Segment, segment
from omniroute.connectors.edi_edifact.envelope import (
    Group,
    Interchange,
    Message,
    Party,
    Problem,
    SyntaxErrorCode,
)
from omniroute.connectors.edi_edifact.orders import OrdersMappingError
from omniroute.connectors.edi_edifact.writer import OutboundMessage
from omniroute.mapping import MappingError

ACKNOWLEDGED = "7"
REJECTED = "4"
RECEIVED = "8"
_SERVICE_TAGS = frozenset({"UNA", "UNB", "UNG", "UNH", "UNT", "UNE", "UNZ"})


def build_contrl(
    interchange: Interchange,
    *,
    reference: str,
    rejected: Mapping[str, Sequence[Problem]] | None = None,
    received_only: bool = False,
    interchange_problems: Sequence[Problem] = (),
    version: tuple[str, str] = ("D", "3"),
    association: str = "",
) -> OutboundMessage:
    """The CONTRL answering ``interchange``; ``rejected`` adds problems by message
    reference, ``interchange_problems`` ones that reject the whole interchange (an unknown
    sender, another recipient, a control reference seen before: ``unknown_sender``,
    ``wrong_recipient``, ``duplicate_interchange``); ``reference`` is the CONTRL's own
    message reference."""
    extra = rejected or {}
    problems = [*interchange.problems, *interchange_problems]
    uci_action = RECEIVED if received_only else REJECTED if problems else ACKNOWLEDGED
    body: list[Segment] = [_uci(interchange, uci_action, problems[0] if problems else None)]
    if uci_action == ACKNOWLEDGED:
        grouped = {ref for group in interchange.groups for ref in group.message_references}
        for message in interchange.messages:
            if message.reference not in grouped:
                body.extend(_ucm_and_details(message, extra))
        for group in interchange.groups:
            body.extend(_ucf(group, interchange, extra))
    return OutboundMessage(
        reference=reference,
        type="CONTRL",
        version=version[0],
        release=version[1],
        body=tuple(body),
        association=association,
    )


def problem_of(message: Message, error: MappingError) -> Problem:
    """A mapping error of ``message`` as a problem CONTRL can report: at its segment when
    the error knows it, else at UNH with "unspecified error"."""
    unh = message.segments[0]
    if isinstance(error, OrdersMappingError) and error.segment:
        return Problem(
            error.code,
            error.segment,
            error.tag,
            error.detail,
            in_message=message.position_of(error.segment),
            element=error.element,
            component=error.component,
        )
    return Problem(SyntaxErrorCode.UNSPECIFIED, unh.number, "UNH", str(error), in_message=1)


def unsupported(message: Message) -> Problem:
    """The partner may not send us this message type: "no agreement" on UNH's 0065."""
    unh = message.segments[0]
    return Problem(
        SyntaxErrorCode.NO_AGREEMENT,
        unh.number,
        "UNH",
        f"message type {message.type!r} is not taken from this partner",
        in_message=1,
        element=2,
        component=1,
    )


def unknown_sender(interchange: Interchange) -> Problem:
    """UNB's sender is no partner of ours (0085 23, on S002)."""
    sender = interchange.sender
    return Problem(
        SyntaxErrorCode.UNKNOWN_SENDER,
        interchange.first_segment,
        "UNB",
        f"sender {sender.id!r} (qualifier {sender.qualifier!r}) is not a known partner",
        element=2,
        component=1,
    )


def wrong_recipient(interchange: Interchange, ours: Party) -> Problem | None:
    """UNB's recipient is not us (0085 7, on S003); None when it is."""
    theirs = interchange.recipient
    if theirs.id == ours.id and (not ours.qualifier or theirs.qualifier == ours.qualifier):
        return None
    return Problem(
        SyntaxErrorCode.RECIPIENT_NOT_ACTUAL,
        interchange.first_segment,
        "UNB",
        f"recipient {theirs.id!r}:{theirs.qualifier!r} is not {ours.id!r}:{ours.qualifier!r}",
        element=3,
        component=1,
    )


def duplicate_interchange(interchange: Interchange) -> Problem:
    """This sender's control reference was received before (0085 26, on 0020)."""
    return Problem(
        SyntaxErrorCode.DUPLICATE,
        interchange.first_segment,
        "UNB",
        f"interchange control reference {interchange.control_reference!r} was received before",
        element=5,
    )


def _error_elements(problem: Problem | None, *, tag: bool) -> list[str | list[str] | None]:
    if problem is None:
        return []
    elements: list[str | list[str] | None] = [problem.code.value]
    if tag:
        elements.append(problem.tag if problem.tag in _SERVICE_TAGS else None)
    if problem.element is not None:
        elements.append(_position(problem))
    return elements


def _position(problem: Problem) -> list[str]:
    position = [str(problem.element)]
    if problem.component is not None:
        position.append(str(problem.component))
    return position


def _uci(interchange: Interchange, action: str, problem: Problem | None) -> Segment:
    first = problem if action == REJECTED else None
    return segment(
        "UCI",
        interchange.control_reference,
        [interchange.sender.id, interchange.sender.qualifier],
        [interchange.recipient.id, interchange.recipient.qualifier],
        action,
        *_error_elements(first, tag=True),
    )


def _ucm_and_details(message: Message, extra: Mapping[str, Sequence[Problem]]) -> list[Segment]:
    problems = [*message.problems, *extra.get(message.reference, ())]
    service = next((p for p in problems if p.tag in _SERVICE_TAGS), None)
    identifier = [message.type, message.version, message.release, message.agency]
    if message.association:
        identifier.append(message.association)
    action = REJECTED if problems else ACKNOWLEDGED
    out = [
        segment("UCM", message.reference, identifier, action, *_error_elements(service, tag=True))
    ]
    out.extend(_segment_errors(p for p in problems if p.tag not in _SERVICE_TAGS))
    return out


def _segment_errors(problems: Iterable[Problem]) -> list[Segment]:
    out: list[Segment] = []
    for problem in problems:
        if problem.in_message is None:
            continue
        out.append(segment("UCS", str(problem.in_message), problem.code.value))
        if problem.element is not None:
            out.append(segment("UCD", problem.code.value, _position(problem)))
    return out


def _ucf(
    group: Group, interchange: Interchange, extra: Mapping[str, Sequence[Problem]]
) -> list[Segment]:
    first = group.problems[0] if group.problems else None
    action = REJECTED if first else ACKNOWLEDGED
    out = [
        segment(
            "UCF",
            group.reference,
            [group.sender.id, group.sender.qualifier],
            [group.recipient.id, group.recipient.qualifier],
            action,
            *_error_elements(first, tag=True),
        )
    ]
    if action == ACKNOWLEDGED:
        wanted = set(group.message_references)
        for message in interchange.messages:
            if message.reference in wanted:
                out.extend(_ucm_and_details(message, extra))
    return out
