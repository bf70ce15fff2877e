"""Reading a partner's CONTRL on what we sent (pure): which of our interchanges it answers
(UCI 0020) and its verdict, in the vocabulary the ops view shares with X12's 997/TA1:
``A`` (UCI 7, no UCM or UCF rejecting), ``R`` (UCI 4, or a message or group of ours
rejected under a UCI 7) and ``received`` (UCI 8: taken in, not yet checked)."""

from __future__ import annotations

from dataclasses import dataclass

from omniroute.connectors.edi_edifact.contrl import ACKNOWLEDGED, RECEIVED, REJECTED
from omniroute.connectors.edi_edifact.envelope import Message

_CODES = {ACKNOWLEDGED: "A", REJECTED: "R", RECEIVED: "received"}


@dataclass(frozen=True, slots=True)
class ReceivedContrl:
    interchange_control: str  # our UNB 0020 it answers
    code: str  # A, R or received
    rejected_messages: tuple[str, ...]  # our UNH 0062 of each UCM 4

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": "CONTRL",
            "interchange_control": self.interchange_control,
            "code": self.code,
            "rejected_messages": list(self.rejected_messages),
        }


def read_contrl(message: Message) -> ReceivedContrl | None:
    """The verdict a CONTRL gives, or None when it has no readable UCI."""
    uci = next((s for s in message.segments if s.tag == "UCI"), None)
    if uci is None or not uci.value(0) or uci.value(3) not in _CODES:
        return None
    rejected = tuple(
        s.value(0) for s in message.segments if s.tag == "UCM" and s.value(2) == REJECTED
    )
    group_rejected = any(s.tag == "UCF" and s.value(3) == REJECTED for s in message.segments)
    code = _CODES[uci.value(3)]
    if code == "A" and (rejected or group_rejected):
        code = "R"
    return ReceivedContrl(uci.value(0), code, rejected)
