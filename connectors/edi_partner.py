"""What the partner connector kinds (``edi_x12``, ``edi_edifact``) do the same way.

A kind differs in its syntax (how a file is cut and read, what answers an interchange sent
twice: TA1 025 or CONTRL) and in its documents; the intake token, the refusal of
``/webhooks``, the cut, the fan-out, the duplicate answer, the canonical order passed
through, whether the agreement asks for a document, and delivery are one code here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO, ClassVar, Protocol

from pydantic import BaseModel

from omniroute.connectors import edi_delivery
from omniroute.connectors.base import Capability, ConnectorRuntime, PushReceipt, SignatureError
from omniroute.connectors.edi import Child, Piece, Reading, Rendered, Reply, collect


class Agreement(Protocol):
    @property
    def send(self) -> frozenset[str]: ...


@dataclass(frozen=True)
class Syntax:
    """A syntax's reader, as the partner kinds' shared code calls it."""

    name: str  # for messages: "X12", "EDIFACT"
    split: Callable[[bytes | BinaryIO, Any], list[Piece]]
    #: each child as it is read, then the ``Reading`` (``EdiPartner.stream_interchange``)
    stream: Callable[[bytes | Iterable[bytes], Any], Iterator[Child | Reading]]
    duplicate: Callable[[Piece], Any]  # the duplicate answer's content, or None
    duplicate_doc: str  # "TA1", "CONTRL"
    interchange_scope: str  # the control number scope of a reply of one interchange


class PartnerBase:
    """Intake, fan-out, duplicate answers and delivery of one trading partner; a kind
    sets ``syntax`` and, in its ``__init__``, ``config``, ``secrets``, ``runtime`` and
    ``_agreement``."""

    syntax: ClassVar[Syntax]
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.ORDER_WEBHOOKS})
    secrets_model: ClassVar[type[BaseModel]] = edi_delivery.PartnerSecrets
    config: edi_delivery.Delivery
    secrets: edi_delivery.PartnerSecrets
    runtime: ConnectorRuntime
    _agreement: Agreement

    def take(
        self, secrets: edi_delivery.PartnerSecrets | Mapping[str, Any], runtime: ConnectorRuntime
    ) -> None:
        """The secrets and runtime, as every kind's ``__init__`` takes them."""
        self.secrets = edi_delivery.PartnerSecrets.model_validate(secrets)
        self.runtime = runtime

    def check_token(self, authorization: str | None) -> None:
        edi_delivery.check_token(self.secrets, authorization)

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> None:
        raise SignatureError(
            f"an {self.syntax.name} partner posts its files to /edi/{{id}}, not /webhooks"
        )

    def dedupe_key(self, headers: Mapping[str, str], body: bytes) -> str:
        return self.syntax.split(body, None)[0].dedupe_key

    def split(self, body: bytes | BinaryIO) -> list[Piece]:
        return self.syntax.split(body, self._agreement)

    def stream_interchange(self, body: bytes | Iterable[bytes]) -> Iterator[Child | Reading]:
        return self.syntax.stream(body, self._agreement)

    def read_interchange(self, body: bytes) -> Reading:
        return collect(self.stream_interchange(body))

    def duplicate_reply(self, piece: Piece) -> Reply | None:
        syntax = self.syntax
        if syntax.duplicate_doc not in self._agreement.send:
            return None
        content = syntax.duplicate(piece)
        if content is None:
            return None
        return Reply(syntax.duplicate_doc, content, piece.dedupe_key, (syntax.interchange_scope,))

    def map_order(self, order: Mapping[str, Any]) -> dict[str, Any]:
        return dict(order)  # parse_webhook already gave the canonical order

    def sends(self, doc_type: str) -> bool:
        """Whether the partner agreement asks for this document."""
        return doc_type in self._agreement.send

    def send_document(self, document: Rendered, *, idempotency_key: str) -> PushReceipt:
        return edi_delivery.send(
            self.config, self.secrets, self.runtime, document, idempotency_key=idempotency_key
        )
