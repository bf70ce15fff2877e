"""One pass over a received file: orders out, acknowledgements' content out.

``read_inbound`` streams every interchange of a source and yields, in file order: each 850
mapped to a canonical order (``OrderRead``), each partner 997 answering one of our groups
(``AckReceived``), each transaction set that cannot be taken with why (``SetRejected``: an
envelope problem, a set we do not take, a value the 850 mapper refuses), the 997 content at
the end of each group (``GroupRead``; a group of 997s is not answered) and the TA1 content
at the end of each interchange (``InterchangeRead``, with any TA1s it carries). Only when
an interchange's end is read is it known whether its envelope holds
(``InterchangeRead.rejected``): a caller that must not act on orders of a rejected
interchange keeps them until then (the raw file is stored first, so this is a matter of
order, not of memory).
"""

from __future__ import annotations

from collections.abc import Collection, Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from omniroute.connectors.edi_x12.acknowledgements import (
    GroupAck,
    InterchangeAck,
    SetVerdict,
    acknowledge_group,
    acknowledge_interchange,
)
from omniroute.connectors.edi_x12.codes import AckCode, TransactionSetError
from omniroute.connectors.edi_x12.envelope import (
    GroupEnd,
    InterchangeEnd,
    InterchangeHeader,
    TransactionSet,
    read_envelope,
)
from omniroute.connectors.edi_x12.purchase_order import (
    DEFAULT_IDENTIFIER_ORDER,
    PurchaseOrder,
    PurchaseOrderError,
    map_purchase_order,
)
from omniroute.connectors.edi_x12.received_acks import (
    AckReadError,
    Received997,
    ReceivedTa1,
    read_997,
    read_ta1,
)

#: The transaction sets taken in: purchase orders, and 997s answering ours.
SUPPORTED: frozenset[str] = frozenset({"850", "997"})


@dataclass(frozen=True, slots=True)
class OrderRead:
    """An 850 that became a canonical order."""

    transaction: TransactionSet
    purchase_order: PurchaseOrder


@dataclass(frozen=True, slots=True)
class SetRejected:
    """A transaction set that is not taken, and why (each reason names its segment)."""

    transaction: TransactionSet
    reasons: tuple[str, ...]
    verdict: SetVerdict


@dataclass(frozen=True, slots=True)
class AckReceived:
    """A partner's 997 answering one of our groups."""

    transaction: TransactionSet
    ack: Received997


@dataclass(frozen=True, slots=True)
class GroupRead:
    """A group's end: the content of the 997 that answers it."""

    end: GroupEnd
    ack: GroupAck

    @property
    def needs_997(self) -> bool:
        """Every group is answered except one of acknowledgements (a 997 is never acked)."""
        return self.end.header.functional_id != "FA"


@dataclass(frozen=True, slots=True)
class InterchangeRead:
    """An interchange's end: the content of its TA1, and whether it is rejected whole."""

    end: InterchangeEnd
    ack: InterchangeAck

    @property
    def rejected(self) -> bool:
        return self.ack.code is AckCode.REJECTED

    @property
    def received_ta1s(self) -> tuple[ReceivedTa1, ...]:
        """TA1s in it: the partner's verdicts on our interchanges."""
        return tuple(read_ta1(segment) for segment in self.end.ta1s)


Inbound = OrderRead | SetRejected | AckReceived | GroupRead | InterchangeRead


def read_inbound(
    source: Iterable[bytes] | BinaryIO | bytes,
    *,
    channel: str,
    supported: Collection[str] = SUPPORTED,
    default_currency: str = "USD",
    identifier_order: Sequence[str] = DEFAULT_IDENTIFIER_ORDER,
    seen_interchanges: Container[str] = frozenset(),
    locations: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
) -> Iterator[Inbound]:
    """Orders, rejected sets, and the 997/TA1 content of ``source``, in file order.

    An interchange whose ``dedupe_key`` is in ``seen_interchanges`` (taken before) or
    earlier in this source is not read again: only its ``InterchangeRead`` comes out,
    rejected with TA1 note 025 (duplicate interchange control number)."""
    verdicts: dict[str, SetVerdict] = {}
    in_source: set[str] = set()
    duplicate = False
    for event in read_envelope(source):
        if isinstance(event, InterchangeHeader):
            key = event.dedupe_key
            duplicate = key in seen_interchanges or key in in_source
            in_source.add(key)
        elif isinstance(event, InterchangeEnd):
            yield InterchangeRead(event, acknowledge_interchange(event, duplicate=duplicate))
            duplicate = False
        elif duplicate:
            continue
        elif isinstance(event, TransactionSet):
            outcome = _read_set(
                event,
                channel=channel,
                supported=supported,
                default_currency=default_currency,
                identifier_order=identifier_order,
                locations=locations,
            )
            if isinstance(outcome, SetRejected):
                verdict = outcome.verdict
            elif isinstance(outcome, OrderRead):
                verdict = outcome.purchase_order.verdict
            else:
                verdict = SetVerdict()
            if verdict.notes or verdict.rejected:
                verdicts[event.control_number] = verdict
            yield outcome
        elif isinstance(event, GroupEnd):
            yield GroupRead(event, acknowledge_group(event, supported=supported, verdicts=verdicts))
            verdicts = {}


def _read_set(
    ts: TransactionSet,
    *,
    channel: str,
    supported: Collection[str],
    default_currency: str,
    identifier_order: Sequence[str],
    locations: Mapping[tuple[str, str], Mapping[str, Any]] | None,
) -> OrderRead | SetRejected | AckReceived:
    envelope = [str(p) for p in ts.problems if isinstance(p.code, TransactionSetError)]
    if envelope:
        return SetRejected(ts, tuple(envelope), SetVerdict())
    if ts.set_id == "997":
        try:
            return AckReceived(ts, read_997(ts))
        except AckReadError as error:
            return SetRejected(ts, (str(error),), SetVerdict(rejected=True))
    if ts.set_id not in supported:
        text = (
            f"{ts.st.where()}: transaction set {ts.set_id} ({ts.control_number}) is not one "
            f"we take (we take {', '.join(sorted(supported))})"
        )
        return SetRejected(ts, (text,), SetVerdict())
    if ts.set_id != "850":
        raise ValueError(f"no reader for transaction set {ts.set_id}: only 850 is read")
    try:
        po = map_purchase_order(
            ts,
            channel=channel,
            default_currency=default_currency,
            identifier_order=identifier_order,
            locations=locations,
        )
    except PurchaseOrderError as error:
        return SetRejected(ts, (str(error),), error.verdict)
    return OrderRead(ts, po)
