"""The ``edi_x12`` connector kind: one X12 trading partner.

Its config is the partner agreement (both parties' ISA ids and qualifiers, GS codes, the
version, the delimiters we write, which acknowledgements and documents we send, the item
identifier preference, the ship-to location book) and where documents go; its secrets are
the partner's intake token and our token for its URL. Files come in through
``POST /edi/{id}``, ``omniroute edi import`` or the inbox folder (``connectors.edi``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field, field_validator

from omniroute.connectors import edi_delivery
from omniroute.connectors.base import (
    ConnectorRuntime,
    PayloadError,
    WebhookEvent,
)
from omniroute.connectors.edi import (
    CHILD_TOPIC,
    InventoryReport,
    OrderAnswer,
    Rendered,
    Reply,
    ShipmentNotice,
)
from omniroute.connectors.edi_partner import PartnerBase, Syntax
from omniroute.connectors.edi_x12 import answers, interchanges
from omniroute.connectors.edi_x12.acknowledgements import GroupAck, InterchangeAck
from omniroute.connectors.edi_x12.inbound import OrderRead, SetRejected, read_inbound
from omniroute.connectors.edi_x12.outbound import (
    InventoryAdvice,
    Invoice,
    functional_ack,
    inventory_advice,
    invoice,
    po_acknowledgement,
)
from omniroute.connectors.edi_x12.partner import PartnerProfile, write_ta1, write_to
from omniroute.connectors.edi_x12.purchase_order import DEFAULT_IDENTIFIER_ORDER
from omniroute.connectors.edi_x12.serializer import Party, TransactionOut
from omniroute.connectors.edi_x12.ship_notice import ship_notice
from omniroute.connectors.edi_x12.tokenizer import Delimiters

Document = Literal["997", "TA1", "855", "856", "810", "846"]
_SCOPES = (interchanges.INTERCHANGE, interchanges.GROUP)
_DEFAULT_SEND: tuple[Document, ...] = ("997", "TA1", "855")
_INTERCHANGE_VERSION = {"004010": "00401", "005010": "00501"}


class X12PartnerConfig(edi_delivery.Delivery):
    """The partner agreement: ids, version, delimiters, documents, items, locations."""

    our_qualifier: str = Field(min_length=2, max_length=2, description="ISA07 when we receive")
    our_id: str = Field(min_length=1, max_length=15, description="ISA08 when we receive")
    their_qualifier: str = Field(min_length=2, max_length=2, description="ISA05 they send")
    their_id: str = Field(min_length=1, max_length=15, description="ISA06 they send")
    our_code: str = Field(min_length=2, max_length=15, description="GS02 we write")
    their_code: str = Field(min_length=2, max_length=15, description="GS03 we write")
    version: Literal["004010", "005010"] = "004010"
    element_separator: str = Field(default="*", min_length=1, max_length=1)
    component_separator: str = Field(default=">", min_length=1, max_length=1)
    segment_terminator: str = Field(default="~", min_length=1, max_length=1)
    repetition_separator: str = Field(
        default="^", min_length=1, max_length=1, description="written from 005010 on"
    )
    line_break: bool = False
    usage: Literal["P", "T"] = "P"
    send: list[Document] = Field(
        default_factory=lambda: list(_DEFAULT_SEND),
        description="the acknowledgements and documents we send this partner",
    )
    channel: str = Field(default="edi", min_length=1, max_length=64)
    default_currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    identifier_order: list[str] = Field(
        default_factory=lambda: list(DEFAULT_IDENTIFIER_ORDER),
        description="item identifier schemes, preferred first (gtin, vendor_part, ...)",
    )
    inventory_every: int = Field(
        default=60, ge=5, le=1440, description="minutes between two 846s (when 846 is sent)"
    )
    inventory_qualifier: str = Field(
        default="VN",
        min_length=2,
        max_length=2,
        description="the LIN qualifier of a listing whose channel_ref has none",
    )
    locations: dict[str, edi_delivery.Address] = Field(
        default_factory=dict,
        description='ship-to location codes as "<qualifier>:<code>" (e.g. "92:0012") → address',
    )

    @field_validator("locations")
    @classmethod
    def _location_keys(
        cls, value: dict[str, edi_delivery.Address]
    ) -> dict[str, edi_delivery.Address]:
        for key in value:
            qualifier, sep, code = key.partition(":")
            if not sep or not qualifier or not code:
                raise ValueError(f"location key {key!r} must be <qualifier>:<code>, e.g. 92:0012")
        return value

    def delimiters(self) -> Delimiters:
        repetition = self.repetition_separator if self.version >= "005010" else None
        return Delimiters(
            self.element_separator, self.component_separator, self.segment_terminator, repetition
        )


class X12PartnerConnector(PartnerBase):
    """One X12 trading partner: intake, fan-out, acknowledgements, documents out."""

    kind: ClassVar[str] = "edi_x12"
    syntax: ClassVar[Syntax] = Syntax(
        "X12",
        interchanges.split,
        interchanges.stream,
        interchanges.duplicate_ta1,
        "TA1",
        interchanges.INTERCHANGE,
    )
    config: X12PartnerConfig
    _agreement: interchanges.Agreement
    config_model: ClassVar[type[BaseModel]] = X12PartnerConfig

    def __init__(
        self,
        config: X12PartnerConfig | Mapping[str, Any],
        secrets: edi_delivery.PartnerSecrets | Mapping[str, Any],
        *,
        runtime: ConnectorRuntime,
    ) -> None:
        self.config = X12PartnerConfig.model_validate(config)
        self.take(secrets, runtime)
        self.config.delimiters()  # refuses delimiters that clash, at set-up
        c = self.config
        self._agreement = interchanges.Agreement(
            their=(c.their_qualifier, c.their_id),
            our=(c.our_qualifier, c.our_id),
            channel=c.channel,
            default_currency=c.default_currency,
            identifier_order=tuple(c.identifier_order),
            locations={
                tuple(key.split(":", 1)): address.model_dump(exclude_none=True)  # type: ignore[misc]
                for key, address in c.locations.items()
            },
            send=frozenset(c.send),
        )
        self._profile = PartnerProfile(
            us=Party(c.our_qualifier, c.our_id),
            them=Party(c.their_qualifier, c.their_id),
            our_code=c.our_code,
            their_code=c.their_code,
            interchange_version=_INTERCHANGE_VERSION[c.version],
            group_version=c.version,
            delimiters=c.delimiters(),
            line_break=c.line_break,
            usage=c.usage,
        )

    # -- one transaction set as an order --------------------------------------------------

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """A stored transaction set (``Child``) as its canonical order."""
        a = self._agreement
        for event in read_inbound(
            body,
            channel=a.channel,
            default_currency=a.default_currency,
            identifier_order=a.identifier_order,
            locations=a.locations,
        ):
            if isinstance(event, OrderRead):
                return WebhookEvent(CHILD_TOPIC, event.purchase_order.order)
            if isinstance(event, SetRejected):
                raise PayloadError("; ".join(event.reasons))
        raise PayloadError("the stored interchange holds no transaction set")

    # -- out ------------------------------------------------------------------------------

    def answer_order(self, answer: OrderAnswer) -> Reply | None:
        """The 855 of a routed order, when the agreement asks for one."""
        if not self.sends("855"):
            return None
        return Reply(
            "855",
            answer,
            f"order:{answer.external_id}",
            (interchanges.INTERCHANGE, interchanges.GROUP),
        )

    def notice_shipment(self, notice: ShipmentNotice) -> Reply | None:
        """The 856 of a shipment, when the agreement asks for one."""
        if not self.sends("856") or not any(x.accepted for x in notice.lines):
            return None
        return Reply(
            "856",
            notice,
            f"order:{notice.external_id}",
            (interchanges.INTERCHANGE, interchanges.GROUP),
        )

    def invoice_shipment(self, notice: ShipmentNotice) -> Reply | None:
        """The 810 of a shipment's lines, when the agreement asks for one."""
        if not self.sends("810") or not any(x.accepted for x in notice.lines):
            return None
        return Reply(
            "810",
            answers.invoice(notice, currency=self.config.default_currency),
            f"order:{notice.external_id}",
            (interchanges.INTERCHANGE, interchanges.GROUP),
        )

    @property
    def inventory_every(self) -> int | None:
        """Minutes between two 846s; None when the agreement sends none."""
        return self.config.inventory_every if self.sends("846") else None

    def advise_inventory(self, report: InventoryReport) -> Reply | None:
        if not self.sends("846") or not report.lines:
            return None
        advice = answers.inventory_advice(report, default_qualifier=self.config.inventory_qualifier)
        return Reply("846", advice, f"inventory:{report.reference}", _SCOPES)

    def render(self, reply: Reply, numbers: Mapping[str, int], created_at: datetime) -> Rendered:
        control = numbers[interchanges.INTERCHANGE]
        if reply.doc_type == "TA1" and isinstance(reply.content, InterchangeAck):
            body = write_ta1(
                self._profile, reply.content, interchange_control=control, created_at=created_at
            )
        else:
            body = write_to(
                self._profile,
                [_transaction(reply, created_at)],
                interchange_control=control,
                group_control=numbers[interchanges.GROUP],
                created_at=created_at,
            )
        filename = f"{reply.doc_type}_{self.config.their_id}_{control:09d}.x12"
        return Rendered(reply.doc_type, body, filename, f"{control:09d}")


def _transaction(reply: Reply, created_at: datetime) -> TransactionOut:
    """The one transaction set of a reply's group (ST02 0001)."""
    content = reply.content
    if reply.doc_type == "997" and isinstance(content, GroupAck):
        return functional_ack(content, 1)
    if reply.doc_type == "855" and isinstance(content, OrderAnswer):
        return po_acknowledgement(answers.purchase_order_ack(content, created_at.date()))
    if reply.doc_type == "856" and isinstance(content, ShipmentNotice):
        return ship_notice(answers.ship_notice(content))
    if reply.doc_type == "810" and isinstance(content, Invoice):
        return invoice(content)
    if reply.doc_type == "846" and isinstance(content, InventoryAdvice):
        return inventory_advice(content)
    raise ValueError(f"no X12 writer for {reply.doc_type}")
