"""A trading partner's envelope settings, and writing documents to them.

``PartnerProfile`` holds what a partner agreement fixes (both parties' ISA ids and
qualifiers, GS application codes, versions, the delimiters to write); ``write_to`` wraps
transaction sets of one functional group in an interchange for that partner and
``write_ta1`` writes an interchange acknowledgement. Control numbers and the time are
arguments: the database issues the numbers, the caller's clock gives the time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from omniroute.connectors.edi_x12.acknowledgements import InterchangeAck, ta1_segment
from omniroute.connectors.edi_x12.serializer import (
    FUNCTIONAL_IDS,
    GroupOut,
    InterchangeOut,
    OutSegment,
    Party,
    SerializeError,
    TransactionOut,
    write_interchange,
)
from omniroute.connectors.edi_x12.tokenizer import Delimiters


@dataclass(frozen=True, slots=True)
class PartnerProfile:
    """Envelope settings for one partner: ``us``/``them`` are ISA05-08, the codes GS02/03."""

    us: Party
    them: Party
    our_code: str
    their_code: str
    interchange_version: str = "00401"
    group_version: str = "004010"
    delimiters: Delimiters = field(default_factory=lambda: Delimiters(repetition=None))
    line_break: bool = False
    usage: str = "P"  # ISA15: P production, T test
    ack_requested: bool = False  # ISA14: ask the partner for a TA1


def write_to(
    profile: PartnerProfile,
    transactions: Sequence[TransactionOut],
    *,
    interchange_control: int,
    group_control: int,
    created_at: dt.datetime,
) -> bytes:
    """One interchange holding one functional group of ``transactions`` (all of one
    functional id: an 855 and an 856 go in separate groups, so separate calls)."""
    if not transactions:
        raise SerializeError("nothing to write: no transaction sets")
    ids = {FUNCTIONAL_IDS.get(ts.set_id) for ts in transactions}
    if len(ids) != 1 or None in ids:
        sets = sorted({ts.set_id for ts in transactions})
        raise SerializeError(f"transaction sets {sets} do not share one known functional id")
    group = GroupOut(
        profile.our_code,
        profile.their_code,
        group_control,
        transactions,
        profile.group_version,
    )
    return write_interchange(_interchange(profile, interchange_control, created_at, groups=[group]))


def write_ta1(
    profile: PartnerProfile,
    ack: InterchangeAck,
    *,
    interchange_control: int,
    created_at: dt.datetime,
) -> bytes:
    """An interchange holding only the TA1 that answers one of the partner's."""
    out = _interchange(profile, interchange_control, created_at, leading=[ta1_segment(ack)])
    return write_interchange(out)


def _interchange(
    profile: PartnerProfile,
    control: int,
    created_at: dt.datetime,
    *,
    groups: Sequence[GroupOut] = (),
    leading: Sequence[OutSegment] = (),
) -> InterchangeOut:
    return InterchangeOut(
        profile.us,
        profile.them,
        control,
        created_at,
        groups=groups,
        version=profile.interchange_version,
        usage=profile.usage,
        ack_requested=profile.ack_requested,
        delimiters=profile.delimiters,
        line_break=profile.line_break,
        leading=leading,
    )
