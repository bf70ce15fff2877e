"""The ``edi_edifact`` connector kind: one EDIFACT trading partner.

Like ``edi_x12``: the config is the agreement (UNB sender and recipient with their
qualifiers, syntax level and version, the directory we write, service characters, which
acknowledgements and documents we send, item identifier preference, the location book
keyed ``<agency>:<code>`` such as ``9:<GLN>``) and where documents go; the secrets are the
partner's intake token and our token for its URL.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from omniroute.connectors import edi_delivery
from omniroute.connectors.base import (
    ConnectorRuntime,
    PayloadError,
    WebhookEvent,
)
from omniroute.connectors.edi import (
    CHILD_TOPIC,
    OrderAnswer,
    Rendered,
    Reply,
    ShipmentNotice,
)
from omniroute.connectors.edi_edifact import answers, contrl, interchanges
from omniroute.connectors.edi_edifact.adapter import Delimiters, EdifactSyntaxError
from omniroute.connectors.edi_edifact.desadv import build_desadv
from omniroute.connectors.edi_edifact.envelope import Party
from omniroute.connectors.edi_edifact.invoic import Invoice, build_invoic
from omniroute.connectors.edi_edifact.orders import DEFAULT_IDENTIFIER_ORDER
from omniroute.connectors.edi_edifact.ordrsp import build_ordrsp
from omniroute.connectors.edi_edifact.parts import PartyRef
from omniroute.connectors.edi_edifact.writer import Envelope, OutboundMessage, write_interchange
from omniroute.connectors.edi_partner import PartnerBase, Syntax

Document = Literal["CONTRL", "ORDRSP", "DESADV", "INVOIC"]
_DEFAULT_SEND: tuple[Document, ...] = ("CONTRL", "ORDRSP")


class EdifactPartnerConfig(edi_delivery.Delivery):
    """The partner agreement for EDIFACT."""

    our_id: str = Field(min_length=1, max_length=35, description="UNB S003 recipient id")
    our_qualifier: str = Field(default="", max_length=4, description="its code qualifier")
    their_id: str = Field(min_length=1, max_length=35, description="UNB S002 sender id")
    their_qualifier: str = Field(default="", max_length=4)
    syntax_identifier: Literal["UNOA", "UNOB", "UNOC"] = "UNOC"
    syntax_version: Literal["3", "4"] = "3"
    directory: Literal["D96A", "D01B"] = "D96A"
    component_separator: str = Field(default=":", min_length=1, max_length=1)
    element_separator: str = Field(default="+", min_length=1, max_length=1)
    decimal_mark: Literal[".", ","] = "."
    release_character: str = Field(default="?", min_length=1, max_length=1)
    segment_terminator: str = Field(default="'", min_length=1, max_length=1)
    write_una: bool = True
    line_breaks: bool = False
    send: list[Document] = Field(default_factory=lambda: list(_DEFAULT_SEND))
    channel: str = Field(default="edifact", min_length=1, max_length=64)
    default_currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    invoice_tax_rate: Decimal = Field(
        default=Decimal(0), ge=0, le=100, description="VAT percent on INVOIC lines"
    )
    time_zone: str = Field(default="UTC", description="the partner's zone for DTM moments")
    identifier_order: list[str] = Field(default_factory=lambda: list(DEFAULT_IDENTIFIER_ORDER))
    locations: dict[str, edi_delivery.Address] = Field(
        default_factory=dict,
        description='ship-to codes as "<agency>:<code>" (e.g. "9:5412345000013") → address',
    )

    def delimiters(self) -> Delimiters:
        reserved = "*" if self.syntax_version == "4" else " "
        return Delimiters(
            self.component_separator,
            self.element_separator,
            self.decimal_mark,
            self.release_character,
            reserved,
            self.segment_terminator,
        )


class EdifactPartnerConnector(PartnerBase):
    """One EDIFACT trading partner: intake, fan-out, CONTRL, documents out."""

    kind: ClassVar[str] = "edi_edifact"
    syntax: ClassVar[Syntax] = Syntax(
        "EDIFACT",
        interchanges.split,
        interchanges.stream,
        interchanges.duplicate_contrl,
        "CONTRL",
        interchanges.INTERCHANGE,
    )
    config: EdifactPartnerConfig
    _agreement: interchanges.Agreement
    config_model: ClassVar[type[BaseModel]] = EdifactPartnerConfig

    def __init__(
        self,
        config: EdifactPartnerConfig | Mapping[str, Any],
        secrets: edi_delivery.PartnerSecrets | Mapping[str, Any],
        *,
        runtime: ConnectorRuntime,
    ) -> None:
        self.config = c = EdifactPartnerConfig.model_validate(config)
        self.take(secrets, runtime)
        try:
            zone = zoneinfo.ZoneInfo(c.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"time_zone {c.time_zone!r} is not a known zone") from None
        self._delimiters = c.delimiters()
        self._agreement = interchanges.Agreement(
            their=Party(c.their_id, c.their_qualifier),
            our=Party(c.our_id, c.our_qualifier),
            channel=c.channel,
            default_currency=c.default_currency,
            identifier_order=tuple(c.identifier_order),
            zone=zone,
            locations={k: v.model_dump(exclude_none=True) for k, v in c.locations.items()},
            send=frozenset(c.send),
        )

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """A stored message (``Child``) as its canonical order."""
        try:
            _, interchange = interchanges.parse_one(body)
        except EdifactSyntaxError as exc:
            raise PayloadError(f"not readable as EDIFACT: {exc}") from None
        problems = [p.describe() for p in interchange.all_problems()]
        if problems or not interchange.messages:
            raise PayloadError("; ".join(problems) or "the stored interchange holds no message")
        message = interchange.messages[0]
        if message.type != "ORDERS":
            raise PayloadError(contrl.unsupported(message).describe())
        po = interchanges.map_order(message, interchange, self._agreement)
        return WebhookEvent(CHILD_TOPIC, po.order)

    def answer_order(self, answer: OrderAnswer) -> Reply | None:
        """The ORDRSP of a routed order, when the agreement asks for one."""
        if not self.sends("ORDRSP"):
            return None
        return Reply("ORDRSP", answer, f"order:{answer.external_id}", (interchanges.INTERCHANGE,))

    def notice_shipment(self, notice: ShipmentNotice) -> Reply | None:
        """The DESADV of a shipment, when the agreement asks for one."""
        if not self.sends("DESADV") or not any(x.accepted for x in notice.lines):
            return None
        return Reply("DESADV", notice, f"order:{notice.external_id}", (interchanges.INTERCHANGE,))

    def invoice_shipment(self, notice: ShipmentNotice) -> Reply | None:
        """The INVOIC of a shipment's lines, when the agreement asks for one; ``ValueError``
        when it cannot be written (no price, no currency)."""
        if not self.sends("INVOIC") or not any(x.accepted for x in notice.lines):
            return None
        c = self.config
        content = answers.invoice(
            notice,
            buyer=PartyRef(c.their_id, _agency(c.their_qualifier)),
            supplier=PartyRef(c.our_id, _agency(c.our_qualifier)),
            currency=notice.currency or c.default_currency,
            tax_rate=c.invoice_tax_rate,
            despatch_number=f"D{notice.shipment_id}" if self.sends("DESADV") else None,
        )
        return Reply("INVOIC", content, f"order:{notice.external_id}", (interchanges.INTERCHANGE,))

    def render(self, reply: Reply, numbers: Mapping[str, int], created_at: datetime) -> Rendered:
        control = str(numbers[interchanges.INTERCHANGE])
        message = self._message(reply, created_at)
        c = self.config
        envelope = Envelope(
            sender=Party(c.our_id, c.our_qualifier),
            recipient=Party(c.their_id, c.their_qualifier),
            control_reference=control,
            prepared=created_at,
            syntax_identifier=c.syntax_identifier,
            syntax_version=c.syntax_version,
            delimiters=self._delimiters,
            write_una=c.write_una,
            line_breaks=c.line_breaks,
        )
        body = write_interchange(envelope, [message]).encode("utf-8")
        filename = f"{reply.doc_type}_{c.their_id}_{int(control):09d}.edi"
        return Rendered(reply.doc_type, body, filename, control, "application/edifact")

    def _message(self, reply: Reply, created_at: datetime) -> OutboundMessage:
        content = reply.content
        if reply.doc_type == "CONTRL" and isinstance(content, interchanges.ContrlContent):
            return contrl.build_contrl(
                content.interchange,
                reference="1",
                rejected=content.rejected,
                interchange_problems=content.problems,
            )
        c = self.config
        buyer = PartyRef(c.their_id, _agency(c.their_qualifier))
        supplier = PartyRef(c.our_id, _agency(c.our_qualifier))
        version = ("D", c.directory[1:])
        if reply.doc_type == "ORDRSP" and isinstance(content, OrderAnswer):
            response = answers.order_response(
                content, buyer=buyer, supplier=supplier, issued=created_at
            )
            return build_ordrsp(
                response, reference="1", version=version, decimal_mark=c.decimal_mark
            )
        if reply.doc_type == "DESADV" and isinstance(content, ShipmentNotice):
            advice = answers.despatch_advice(
                content, buyer=buyer, supplier=supplier, ship_to=buyer, issued=created_at
            )
            return build_desadv(advice, reference="1", version=version)
        if reply.doc_type == "INVOIC" and isinstance(content, Invoice):
            return build_invoic(
                content, reference="1", version=version, decimal_mark=c.decimal_mark
            )
        raise ValueError(f"no EDIFACT writer for {reply.doc_type}")


def _agency(qualifier: str) -> str:
    """NAD 3055 for a UNB id qualifier: 14 (a GLN) is GS1's 9, anything else mutually
    defined (ZZZ)."""
    return "9" if qualifier == "14" else "ZZZ"
