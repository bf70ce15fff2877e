"""A file-based warehouse's confirmation file, applied from its inbox row.

The file was stored raw first (``file_inbox``: an inbox row of topic ``TOPIC``, keyed by
the file's SHA-256, so the same file twice is one row). Here it is read
(``connectors.wms.file.confirmations``) and each confirmation goes through the services the
REST confirmation uses: a shipment through ``shipments.confirm_shipment`` (unique per
fulfilment order and shipment reference: the same confirmation twice ships once), a
rejection through ``order_routing.reroute.reroute_fulfilment`` (the lines go elsewhere).

A file that cannot be read, or one with a confirmation that cannot be applied (a fulfilment
order of another warehouse, more units than are open, units cancelled), leaves its row
``failed`` with an ``invalid_payload`` exception naming the rows; what could be applied is.
A retry replays the row (``intake.processing`` hands it back here): what was applied is a
no-op the second time, the rest is tried again, and the exception is resolved when all of
it applies.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from omniroute.connectors.wms.file.confirmations import (
    REJECT,
    Confirmation,
    read_confirmations,
)
from omniroute.core.exceptions.opening import ExceptionStatus, Reason, open_exception
from omniroute.core.fulfilment import release
from omniroute.core.fulfilment.shipments import ShipmentInput, confirm_shipment
from omniroute.core.order_routing.reroute import reroute_fulfilment
from omniroute.core.platform.claims import claim_row
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.errors import DomainError
from omniroute.core.platform.models import (
    FulfilmentOrder,
    InboundMessage,
    OrderException,
    Warehouse,
)

log = logging.getLogger("omniroute.fulfilment.files")

TOPIC = "wms_file.confirmation"
FILE_HEADER = "x-wms-file"


class Deps(release.Deps, Protocol):
    """What applying a confirmation file uses: the relay's (re-routing a rejection, and
    what a shipment's channel push needs)."""


@dataclass(frozen=True)
class Outcome:
    """What became of a stored file: ``done`` or ``failed`` with the reasons."""

    inbound_id: int
    status: str
    reasons: tuple[str, ...] = ()
    shipments: tuple[int, ...] = ()  # shipments this pass recorded (not the repeated ones)
    rejected: tuple[int, ...] = ()  # fulfilment orders this pass rejected


def is_confirmation_file(msg: InboundMessage) -> bool:
    return msg.topic == TOPIC


def dedupe_key(body: bytes) -> str:
    return f"file:{hashlib.sha256(body).hexdigest()}"


def apply_file(deps: Deps, inbound_id: int, *, claimed: bool = False) -> Outcome | None:
    """Apply a stored confirmation file; None when the row is not this process's to take.

    ``claimed``: the caller's committed transaction claimed it (``intake.processing``).
    """
    with unit_of_work(deps.sessions) as session:
        if claimed:
            msg: InboundMessage | None = session.get(InboundMessage, inbound_id)
        else:
            msg = claim_row(
                session,
                InboundMessage,
                inbound_id,
                now=deps.clock.now(),
                claim_timeout=deps.settings.claim_timeout,
            )
        if msg is None:
            return None
        body, connector_id = bytes(msg.body), msg.connector_id
        name = str((msg.headers or {}).get(FILE_HEADER, f"inbox row {inbound_id}"))
    reading = read_confirmations(body, digest=hashlib.sha256(body).hexdigest())
    if reading.problems:
        return _settle(deps, inbound_id, name, list(reading.problems))
    reasons: list[str] = []
    with unit_of_work(deps.sessions) as session:
        statuses = _fulfilment_orders_of(session, connector_id, reading.confirmations)
    created: list[int] = []
    rejected: list[int] = []
    actor = f"wms_file:{connector_id}"
    for item in reading.confirmations:
        where = f"{_rows(item.rows)}: fulfilment order {item.fulfilment_order_id}"
        status = statuses.get(item.fulfilment_order_id)
        if status is None:
            reasons.append(f"{where} is not one of this warehouse's")
            continue
        try:
            if item.kind == REJECT:
                if status == "rejected":
                    continue  # rejected before: the same confirmation again
                reroute_fulfilment(
                    deps,
                    item.fulfilment_order_id,
                    reason="rejected",
                    actor=actor,
                    detail=item.reason,
                )
                rejected.append(item.fulfilment_order_id)
                continue
            result = confirm_shipment(deps, item.fulfilment_order_id, _shipment(item), actor=actor)
        except DomainError as exc:
            reasons.append(f"{where}: {_described(exc)}")
            continue
        if result.created:
            created.append(result.shipment_id)
    return _settle(
        deps, inbound_id, name, reasons, created=tuple(created), rejected=tuple(rejected)
    )


def _fulfilment_orders_of(
    session: Session, connector_id: int, items: Sequence[Confirmation]
) -> dict[int, str]:
    """The status of each fulfilment order named that this connector's warehouses hold."""
    ids = sorted({item.fulfilment_order_id for item in items})
    rows = session.execute(
        select(FulfilmentOrder.id, FulfilmentOrder.status)
        .join(Warehouse, Warehouse.id == FulfilmentOrder.warehouse_id)
        .where(FulfilmentOrder.id.in_(ids), Warehouse.wms_connector_id == connector_id)
    ).all()
    return {fo_id: status for fo_id, status in rows}


def _shipment(item: Confirmation) -> ShipmentInput:
    return ShipmentInput(
        external_ref=item.shipment_ref,
        lines=[(line.sku, line.quantity) for line in item.lines],
        shipped_at=item.shipped_at,
        carrier=item.carrier,
        tracking_number=item.tracking_number,
        tracking_url=item.tracking_url,
    )


def _described(exc: DomainError) -> str:
    problems = exc.details.get("problems")
    if not isinstance(problems, list) or not problems:
        return str(exc)
    return f"{exc}: " + "; ".join(f"{p.get('sku')}: {p.get('message')}" for p in problems)


def _rows(numbers: Sequence[int]) -> str:
    return ("row " if len(numbers) == 1 else "rows ") + ", ".join(str(n) for n in numbers)


def _settle(
    deps: Deps,
    inbound_id: int,
    name: str,
    reasons: list[str],
    *,
    created: tuple[int, ...] = (),
    rejected: tuple[int, ...] = (),
) -> Outcome:
    now = deps.clock.now()
    with unit_of_work(deps.sessions) as session:
        msg = session.get_one(InboundMessage, inbound_id)
        msg.processed_at = now
        if reasons:
            msg.status = "failed"
            msg.last_error = "; ".join(reasons)[:2000]
            open_exception(
                session,
                Reason.INVALID_PAYLOAD,
                detail={
                    "message": f"confirmation file {name} not applied in full",
                    "problems": reasons,
                    "file": name,
                },
                inbound_message_id=inbound_id,
            )
        else:
            msg.status = "done"
            msg.last_error = None
            session.execute(
                update(OrderException)
                .where(
                    OrderException.inbound_message_id == inbound_id,
                    OrderException.status.in_((ExceptionStatus.OPEN, ExceptionStatus.RETRIED)),
                )
                .values(status=ExceptionStatus.RESOLVED.value, resolved_at=now)
            )
    if reasons:
        log.warning("confirmation file %s (inbox %s) failed: %s", name, inbound_id, reasons)
    return Outcome(inbound_id, "failed" if reasons else "done", tuple(reasons), created, rejected)
