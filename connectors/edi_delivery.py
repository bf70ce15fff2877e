"""What every EDI partner kind shares: its intake token check, where its documents go
(a URL, POSTed through the SSRF-guarded client with an idempotency header, or a directory,
written atomically), its inbox folder, and the outbox payload of a rendered document."""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from omniroute.connectors.base import (
    ConnectorRuntime,
    PermanentError,
    PushReceipt,
    SignatureError,
    TransientError,
)
from omniroute.connectors.edi import Rendered
from omniroute.connectors.files import write_atomically
from omniroute.connectors.http import build_client, guard_url, send_with_retry

_BEARER = "bearer "


class Address(BaseModel):
    """A ship-to of the partner's location book, in the canonical order's address keys."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    company: str | None = None
    address1: str = Field(min_length=1)
    address2: str | None = None
    city: str = Field(min_length=1)
    region: str | None = None
    postal_code: str | None = None
    country: str = Field(pattern=r"^[A-Z]{2}$")
    phone: str | None = None


class Delivery(BaseModel):
    """Where documents for the partner go, the folder it drops files into, and how long
    the ops view waits before it calls an answer overdue."""

    model_config = ConfigDict(extra="forbid")

    delivery_url: str | None = Field(
        default=None, description="POST each document here (https; the SSRF guard applies)."
    )
    delivery_directory: str | None = Field(
        default=None, description="Or write each document into this directory (atomically)."
    )
    inbox_directory: str | None = Field(
        default=None,
        description="A folder the partner drops files into; read ones go to done/ or failed/.",
    )
    overdue_minutes: int = Field(
        default=30,
        ge=1,
        le=7 * 24 * 60,
        description="An acknowledgement or answer not sent (or a document of ours not "
        "acknowledged) this many minutes on is flagged overdue in the ops view.",
    )

    @model_validator(mode="after")
    def _one_way_out(self) -> Delivery:
        if self.delivery_url and self.delivery_directory:
            raise ValueError("set delivery_url or delivery_directory, not both")
        return self


class PartnerSecrets(BaseModel):
    """The token the partner sends in ``Authorization: Bearer``, and ours for its URL."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    intake_token: SecretStr | None = None
    outbound_token: SecretStr | None = None


def check_token(secrets: PartnerSecrets, authorization: str | None) -> None:
    """Constant-time comparison of ``Bearer <token>`` with the intake token."""
    expected = secrets.intake_token
    if expected is None:
        raise SignatureError("this partner has no intake_token; set one to accept files")
    given = authorization or ""
    if not given.lower().startswith(_BEARER):
        raise SignatureError("send the partner's intake token as Authorization: Bearer <token>")
    token = given[len(_BEARER) :].strip().encode()
    if not hmac.compare_digest(token, expected.get_secret_value().encode()):
        raise SignatureError("the intake token does not match")


def send(
    delivery: Delivery,
    secrets: PartnerSecrets,
    runtime: ConnectorRuntime,
    document: Rendered,
    *,
    idempotency_key: str,
) -> PushReceipt:
    """Transmit a rendered document; nothing here renders or numbers anything."""
    if delivery.delivery_url:
        return _post(delivery.delivery_url, secrets, runtime, document, idempotency_key)
    if delivery.delivery_directory:
        return _write(Path(delivery.delivery_directory), document)
    raise PermanentError(
        "this partner has no delivery_url or delivery_directory: nowhere to send "
        f"{document.doc_type} {document.filename}",
        reason="no_delivery",
    )


def _post(
    url: str,
    secrets: PartnerSecrets,
    runtime: ConnectorRuntime,
    document: Rendered,
    key: str,
) -> PushReceipt:
    guard_url(url, allow_private=runtime.allow_private_urls)
    headers = {
        "Content-Type": document.media_type,
        "Idempotency-Key": key,
        "Content-Disposition": f'attachment; filename="{document.filename}"',
    }
    if secrets.outbound_token is not None:
        headers["Authorization"] = f"Bearer {secrets.outbound_token.get_secret_value()}"
    with build_client(timeout=runtime.http_timeout) as client:
        _, attempts = send_with_retry(
            lambda: client.post(url, content=document.body, headers=headers),
            attempts=runtime.retry_attempts,
            max_wait=runtime.retry_max_wait,
            repeat_sent=False,
        )
    return PushReceipt(external_ref=document.filename, attempts=attempts)


def _write(directory: Path, document: Rendered) -> PushReceipt:
    """Written atomically (``connectors.files``): a reader never sees half a file, and a
    second attempt with the same name replaces the first with the same bytes."""
    try:
        write_atomically(directory, document.filename, document.body)
    except OSError as exc:
        raise TransientError(
            f"could not write {document.filename} into {directory}: {exc}"
        ) from exc
    return PushReceipt(external_ref=document.filename, attempts=1)


def to_payload(document: Rendered) -> dict[str, Any]:
    """The outbox payload of a rendered document (JSON)."""
    return {
        "doc_type": document.doc_type,
        "filename": document.filename,
        "control_number": document.control_number,
        "media_type": document.media_type,
        "body_b64": base64.b64encode(document.body).decode("ascii"),
    }


def from_payload(payload: Mapping[str, Any]) -> Rendered:
    try:
        return Rendered(
            doc_type=str(payload["doc_type"]),
            body=base64.b64decode(payload["body_b64"]),
            filename=str(payload["filename"]),
            control_number=str(payload["control_number"]),
            media_type=str(payload["media_type"]),
        )
    except (KeyError, ValueError) as exc:
        raise PermanentError(f"the outbox row holds no rendered document: {exc}") from exc
