"""A partner's received EDIFACT file, cut and read for the wiring (pure).

``split`` cuts a file at each UNA/UNB (``adapter.read_chunks``); a file of one interchange
is stored as it came, each interchange of a longer file as its own segments written again
with its own service characters (EDIFACT has no byte offsets to cut at once a release
character is involved). The key is the sender (qualifier and id) and the control reference.
``read`` gives one ``Child`` per message (UNB, the message, UNZ counting one: it maps again
alone) and the CONTRL content: messages whose ORDERS mapping fails, or whose type we do not
take, are rejected in it; an interchange from another sender, to another recipient, or
with a broken envelope is rejected whole. A CONTRL the partner sends on ours is no child:
its verdict goes into ``Reading.acks_received`` and is not answered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any, BinaryIO

from omniroute.connectors.edi import Child, Piece, Reading, Reply, collect
from omniroute.connectors.edi_edifact import contrl
from omniroute.connectors.edi_edifact.adapter import (
    Chunk,
    EdifactSyntaxError,
    Segment,
    read_chunks,
    render,
    segment,
)
from omniroute.connectors.edi_edifact.envelope import (
    Interchange,
    Message,
    Party,
    Problem,
    interchange_of,
    parse_interchanges,
)
from omniroute.connectors.edi_edifact.orders import PurchaseOrder, map_orders
from omniroute.connectors.edi_edifact.received_acks import read_contrl
from omniroute.mapping import MappingError

INTERCHANGE = "interchange"
TAKEN = frozenset({"ORDERS", "CONTRL"})
_MAX_KEY = 200


@dataclass(frozen=True, slots=True)
class Agreement:
    their: Party
    our: Party
    channel: str
    default_currency: str | None
    identifier_order: Sequence[str]
    zone: tzinfo
    locations: Mapping[str, Mapping[str, Any]]  # "<agency>:<code>" -> address
    send: frozenset[str]


@dataclass(frozen=True, slots=True)
class ContrlContent:
    """What a CONTRL will say: the interchange, its refused messages, its own problems."""

    interchange: Interchange
    rejected: Mapping[str, Sequence[Problem]] = field(default_factory=dict)
    problems: Sequence[Problem] = ()


def text_of(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("latin-1")


def _hash_key(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def key_of(interchange: Interchange) -> str:
    sender = interchange.sender
    key = f"{sender.qualifier}:{sender.id}:{interchange.control_reference}"
    return key if len(key) <= _MAX_KEY else _hash_key(key.encode())


def split(body: bytes | BinaryIO, agreement: Agreement | None = None) -> list[Piece]:
    """Each interchange with its key; with an ``agreement``, whether its envelope (or its
    sender or recipient) rejects it, from the same parse. A file is read whole: EDIFACT
    cannot be cut at byte offsets once a release character is involved."""
    if not isinstance(body, bytes):
        body = body.read()
    text = text_of(body)
    try:
        chunks = list(read_chunks(text))
        interchanges = parse_interchanges(text)
    except EdifactSyntaxError as exc:
        return [Piece(_hash_key(body), body, problem=f"not readable as EDIFACT: {exc}")]
    if not interchanges:
        return [Piece(_hash_key(body), body, problem="no interchange found (no UNB)")]

    def rejections(ic: Interchange) -> tuple[str, ...]:
        own = [] if agreement is None else own_problems(ic, agreement)
        return tuple(p.describe() for p in own)

    if len(interchanges) == 1:
        (one,) = interchanges
        return [
            Piece(key_of(one), body, one.sender.id, one.control_reference, None, rejections(one))
        ]
    return [
        Piece(
            key_of(ic),
            render(chunk.segments, chunk.delimiters, una=chunk.has_una).encode("utf-8"),
            ic.sender.id,
            ic.control_reference,
            None,
            rejections(ic),
        )
        for chunk, ic in zip(chunks, interchanges, strict=True)
    ]


def own_problems(interchange: Interchange, agreement: Agreement) -> list[Problem]:
    """What rejects the interchange whole: its envelope's problems, another sender, another
    recipient."""
    own = list(interchange.problems)
    sender = interchange.sender
    if sender.id != agreement.their.id or (
        agreement.their.qualifier and sender.qualifier != agreement.their.qualifier
    ):
        own.append(contrl.unknown_sender(interchange))
    wrong = contrl.wrong_recipient(interchange, agreement.our)
    if wrong is not None:
        own.append(wrong)
    return own


def parse_one(body: bytes) -> tuple[Chunk, Interchange]:
    """The one interchange a stored piece holds; raises ``EdifactSyntaxError``."""
    chunks = list(read_chunks(text_of(body)))  # tokenized once: the envelope reads these
    if not chunks:
        raise EdifactSyntaxError("the file holds no EDIFACT segment", segment=1)
    if len(chunks) != 1:
        raise EdifactSyntaxError(
            f"a stored piece holds {len(chunks)} interchanges, not one", segment=1
        )
    return chunks[0], interchange_of(chunks[0])


def stream(body: bytes | Iterable[bytes], agreement: Agreement) -> Iterator[Child | Reading]:
    """Each message of one stored interchange as a ``Child``, then the ``Reading``. The
    text is parsed whole (the envelope's checks, pydifact's tokenizer and the release
    character want it so), and the verdict on the envelope comes from that parse, before
    any child; the children themselves are written out and yielded one at a time. A body
    given in slices is joined first."""
    if not isinstance(body, bytes | bytearray):
        body = b"".join(body)
    try:
        chunk, interchange = parse_one(body)
    except EdifactSyntaxError as exc:
        yield Reading(problems=(f"not readable as EDIFACT: {exc}",), rejected=True)
        return
    own = own_problems(interchange, agreement)
    if own:
        reply = _contrl(
            agreement, ContrlContent(interchange, problems=own[len(interchange.problems) :])
        )
        yield Reading(replies=reply, problems=tuple(p.describe() for p in own), rejected=True)
        return
    rejected: dict[str, list[Problem]] = {}
    problems = []
    acks: list[Mapping[str, Any]] = []
    children = 0
    for message in interchange.messages:
        if message.type == "CONTRL":  # their answer to ours: kept for the ops view
            verdict = read_contrl(message)
            if verdict is None:
                problems.append(f"message {message.reference}: a CONTRL without a readable UCI")
            else:
                acks.append(verdict.as_dict())
            continue
        yield _child(chunk, interchange, message)
        children += 1
        refusal = _refusal(message, interchange, agreement)
        if refusal is not None:
            rejected[message.reference] = [refusal]
            problems.append(f"message {message.reference}: {refusal.describe()}")
        problems.extend(f"message {message.reference}: {p.describe()}" for p in message.problems)
    # A CONTRL is never answered with one (ISO 9735-6): only an interchange with other
    # messages, or with none at all, gets ours.
    only_contrl = bool(interchange.messages) and not children
    reply = () if only_contrl else _contrl(agreement, ContrlContent(interchange, rejected))
    yield Reading((), reply, tuple(problems), acks_received=tuple(acks))


def read(body: bytes, agreement: Agreement) -> Reading:
    """Children, replies and problems of one stored interchange, read whole."""
    return collect(stream(body, agreement))


def _contrl(agreement: Agreement, content: ContrlContent) -> tuple[Reply, ...]:
    if "CONTRL" not in agreement.send:
        return ()
    return (Reply("CONTRL", content, key_of(content.interchange), (INTERCHANGE,)),)


def _refusal(message: Message, interchange: Interchange, agreement: Agreement) -> Problem | None:
    if message.problems:
        return None  # the envelope's own problems reject it already
    if message.type not in TAKEN:
        return contrl.unsupported(message)
    try:
        map_order(message, interchange, agreement)
    except MappingError as error:
        return contrl.problem_of(message, error)
    return None


def map_order(message: Message, interchange: Interchange, agreement: Agreement) -> PurchaseOrder:
    """One ORDERS as a canonical order, its ship-to completed from the location book
    (what the message itself states wins)."""
    po = map_orders(
        message,
        interchange,
        channel=agreement.channel,
        currency=agreement.default_currency,
        zone=agreement.zone,
        identifier_order=agreement.identifier_order,
    )
    # With no NAD+ST/DP the goods go to the buyer (EANCOM's default): its NAD+BY code.
    location = po.ship_to_location or next((x for x in po.locations if x.party == "BY"), None)
    if location is not None:
        address = agreement.locations.get(f"{location.agency}:{location.code}")
        if address is not None:
            ship_to = po.order.get("ship_to") or {}
            po.order["ship_to"] = {**address, **{k: v for k, v in ship_to.items() if v}}
    return po


def _child(chunk: Chunk, interchange: Interchange, message: Message) -> Child:
    unb: Segment = next(s for s in chunk.segments if s.tag == "UNB")
    unz = segment("UNZ", "1", interchange.control_reference)
    text = render([unb, *message.segments, unz], chunk.delimiters, una=chunk.has_una)
    key = f"{key_of(interchange)}:{message.group_reference or ''}:{message.reference}"
    bgm = next((s for s in message.segments if s.tag == "BGM"), None)
    return Child(
        key if len(key) <= _MAX_KEY else _hash_key(key.encode()),
        text.encode("utf-8"),
        message.type,
        message.reference,
        bgm.value(1) if bgm is not None else None,
    )


def duplicate_contrl(piece: Piece) -> ContrlContent | None:
    try:
        _, interchange = parse_one(piece.body)
    except EdifactSyntaxError:
        return None
    return ContrlContent(interchange, problems=[contrl.duplicate_interchange(interchange)])
