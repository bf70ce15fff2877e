"""What an EDI trading partner connector offers the core, whatever its syntax (X12, EDIFACT).

Pure: bytes in, dataclasses out; the core stores, numbers and sends. A partner connector
(``EdiPartner``) cuts a received file into interchanges (``split``: each stored raw as its
own inbox row, keyed by sender and interchange control number), reads one stored
interchange (``stream_interchange``: one ``Child`` per transaction set or message, yielded as
it is read, to be stored as its own inbox row and mapped by ``parse_webhook``/``map_order``
like any channel order; then, last, the ``Reading``: the acknowledgements to send back, the
problems to open, whether the envelope holds; ``read_interchange`` collects it all), writes a
reply once the database has issued its control numbers (``render``), and transmits a
rendered document (``send_document``: the outbox relay calls it; it never renders).
Optional, each a ``Reply`` or None as the partner's agreement says: ``OrderAnswering``
(855 / ORDRSP after routing), ``ShipmentNoticing`` (856 / DESADV), ``ShipmentInvoicing``
(810 / INVOIC) and ``InventoryAdvising`` (846).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO, Protocol, runtime_checkable

from omniroute.connectors.base import PushReceipt

#: The inbox topic of a stored interchange (the core fans it out) ...
INTERCHANGE_TOPIC = "edi.interchange"
#: ... and of one transaction set / message taken from it (mapped like a webhook order).
CHILD_TOPIC = "edi.set"


@dataclass(frozen=True, slots=True)
class Piece:
    """One interchange cut from a received file: its dedupe key (sender + control number)
    and raw bytes. ``problem`` says why the cut failed (the rest of the file, kept whole)."""

    dedupe_key: str
    body: bytes
    sender: str | None = None
    control_number: str | None = None
    problem: str | None = None
    #: Why its envelope is rejected whole (read in the same pass as the cut; empty when it
    #: holds): what the intake answers at once, before the worker reads the sets.
    rejections: tuple[str, ...] = ()

    @property
    def reasons(self) -> tuple[str, ...]:
        return self.rejections or ((self.problem,) if self.problem else ())


@dataclass(frozen=True, slots=True)
class Child:
    """One transaction set / message of an interchange, enough to map it again alone."""

    dedupe_key: str
    body: bytes
    set_id: str
    control_number: str
    reference: str | None = None  # e.g. the PO number, for ops


@dataclass(frozen=True, slots=True)
class Reply:
    """A document to send back (997, TA1, CONTRL, 855, ...), rendered by ``render`` once
    the core has taken ``scopes`` control numbers; ``content`` is the connector's own."""

    doc_type: str
    content: Any
    answers: str  # what it answers: an interchange's dedupe key, an order's id, ...
    scopes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Rendered:
    doc_type: str
    body: bytes
    filename: str
    control_number: str
    media_type: str = "application/edi-x12"


@dataclass(frozen=True, slots=True)
class Reading:
    """What one stored interchange holds. ``rejected``: its envelope does not hold, so none
    of its sets is taken (``children`` empty); ``problems`` name segment and reason. As the
    last item of ``stream_interchange``, ``children`` is empty: they came before it."""

    children: tuple[Child, ...] = ()
    replies: tuple[Reply, ...] = ()
    problems: tuple[str, ...] = ()
    rejected: bool = False
    acks_received: tuple[Mapping[str, Any], ...] = field(default=())


def collect(stream: Iterable[Child | Reading]) -> Reading:
    """A streamed interchange read whole: its children kept in the ``Reading`` (none when it
    is rejected)."""
    children: list[Child] = []
    for item in stream:
        if isinstance(item, Reading):
            return dataclasses.replace(item, children=() if item.rejected else tuple(children))
        children.append(item)
    raise ValueError("the interchange's reading ended without its verdict")


@dataclass(frozen=True, slots=True)
class AnswerLine:
    """One line of an order as routing left it: how much is placed with a warehouse and
    how much waits for stock."""

    line_id: str  # the partner's line number (PO101 / LIN 1082)
    ordered: int
    accepted: int
    backordered: int
    unit: str | None
    identifiers: tuple[tuple[str, str], ...]  # (qualifier, value) as the partner sent them
    unit_price: str | None = None


@dataclass(frozen=True, slots=True)
class OrderAnswer:
    """An order's state after routing, for an 855 / ORDRSP."""

    order_id: int
    external_id: str
    order_date: str | None  # ISO date
    lines: tuple[AnswerLine, ...]
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class ShipmentNotice:
    """What one shipment carried of one order, for an 856 / DESADV."""

    shipment_id: int
    external_id: str  # the partner's PO number
    order_date: str | None
    shipped_at: datetime
    lines: tuple[AnswerLine, ...]  # ``accepted``: the units this shipment carries
    carrier: str | None = None
    tracking_number: str | None = None
    ship_to: Mapping[str, Any] | None = None
    currency: str | None = None  # the order's


def invoiced_lines(notice: ShipmentNotice, document: str) -> list[tuple[AnswerLine, str]]:
    """The lines a shipment carried, each with its unit price, for an invoice (810 /
    INVOIC); ``ValueError`` naming ``document`` and the line when one has no price (a
    partner is not invoiced nothing for goods)."""
    priced = []
    for line in notice.lines:
        if line.accepted <= 0:
            continue
        if line.unit_price is None:
            raise ValueError(f"{document} line {line.line_id}: the order line has no unit price")
        priced.append((line, line.unit_price))
    return priced


@runtime_checkable
class ShipmentNoticing(Protocol):
    """A partner told of each shipment (856 / DESADV); None when its agreement does not
    ask for it."""

    def notice_shipment(self, notice: ShipmentNotice) -> Reply | None: ...


@runtime_checkable
class ShipmentInvoicing(Protocol):
    """A partner invoiced for each shipment's lines (810 / INVOIC); None when its agreement
    does not ask for it."""

    def invoice_shipment(self, notice: ShipmentNotice) -> Reply | None: ...


@dataclass(frozen=True, slots=True)
class InventoryReport:
    """Available-to-sell of a partner's listings (``channel_ref``: the partner's item id,
    ``"<qualifier>:<value>"`` such as ``"UP:012345678905"``, or a bare value)."""

    reference: str
    as_of: datetime
    lines: tuple[tuple[str, int], ...]  # (channel_ref, units available)


@runtime_checkable
class InventoryAdvising(Protocol):
    """A partner sent its available-to-sell (846) every ``inventory_every`` minutes; None
    when its agreement does not ask for it."""

    def advise_inventory(self, report: InventoryReport) -> Reply | None: ...


@runtime_checkable
class OrderAnswering(Protocol):
    """A partner that is told how its orders were taken (855 / ORDRSP): None when its
    agreement does not ask for it."""

    def answer_order(self, answer: OrderAnswer) -> Reply | None: ...


@runtime_checkable
class EdiPartner(Protocol):
    """A trading partner: intake, fan-out, replies and their delivery."""

    def check_token(self, authorization: str | None) -> None:
        """Raise ``SignatureError`` unless ``Authorization: Bearer <intake token>``."""
        ...

    def split(self, body: bytes | BinaryIO) -> list[Piece]:
        """Each interchange with its key and, read in the same pass, whether its envelope
        is rejected; ``body`` may be a (spooled) file, read once from where it stands."""
        ...

    def stream_interchange(self, body: bytes | Iterable[bytes]) -> Iterator[Child | Reading]:
        """Each child as it is read, then the ``Reading`` (its ``children`` empty), last.
        Whether the envelope holds may be known only at its end: a rejected interchange's
        children were yielded already and must be dropped (``Reading.rejected``)."""
        ...

    def read_interchange(self, body: bytes) -> Reading:
        """``stream_interchange`` collected (``collect``)."""
        ...

    def duplicate_reply(self, piece: Piece) -> Reply | None:
        """The answer to an interchange whose control number was taken before."""
        ...

    def render(self, reply: Reply, numbers: Mapping[str, int], created_at: datetime) -> Rendered:
        """``numbers``: one control number per scope of ``reply.scopes``."""
        ...

    def send_document(self, document: Rendered, *, idempotency_key: str) -> PushReceipt: ...
