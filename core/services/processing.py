"""Inbox processing: parse, map, upsert and validate one inbound message into an order."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from connectors.base import PayloadError
from core.bootstrap import Context
from core.clock import utcnow
from core.db import unit_of_work
from core.models import (
    Connector,
    FulfilmentOrder,
    InboundMessage,
    OrderLine,
    SalesOrder,
    Sku,
    SkuAlias,
)
from core.order_checks import Problem, check_order
from core.services import order_state
from core.services.claims import claim, relax_durability
from core.services.exceptions import Reason, open_exception, resolve_open_for_order
from core.services.live_connectors import instance_for
from core.sql import insert_ignoring_conflict
from core.states import OrderStatus
from mapping import MappingError, resolve_skus

log = logging.getLogger("omniroute.processing")

# Statuses in which a newer version of the order from the channel may still change it.
EDITABLE = {
    OrderStatus.RECEIVED,
    OrderStatus.VALIDATED,
    OrderStatus.EXCEPTION,
    OrderStatus.ON_HOLD,
    OrderStatus.BACKORDERED,
}


def process_inbound(ctx: Context, inbound_id: int, *, now: datetime | None = None) -> int | None:
    """Process one inbox row; the id of an order now ready for routing, if there is one."""
    now = now or utcnow()
    with unit_of_work(ctx.sessions) as session:
        relax_durability(session)  # a lost claim only means the row is done again
        if not claim(
            session, InboundMessage, inbound_id, now=now, claim_timeout=ctx.settings.claim_timeout
        ):
            return None
    try:
        return _process_claimed(ctx, inbound_id, now)
    except Exception as exc:
        _retry_later(ctx, inbound_id, exc)
        raise


def _process_claimed(ctx: Context, inbound_id: int, now: datetime) -> int | None:
    with unit_of_work(ctx.sessions) as session:
        msg = session.get_one(InboundMessage, inbound_id)
        connector = session.get_one(Connector, msg.connector_id)
        try:
            canonical = _translate(ctx, session, connector, msg)
        except (PayloadError, MappingError) as exc:
            _fail(session, msg, exc, now)
            return None
        order, changed, created = _upsert_order(session, connector, canonical)
        msg.order_id = order.id
        msg.status = "done"
        msg.processed_at = now
        msg.last_error = None
        if not changed:
            return None
        return _validate(session, order, msg, canonical, created=created)


def _retry_later(ctx: Context, inbound_id: int, exc: Exception) -> None:
    """An unexpected error: try again later, and after too many tries park it for a person."""
    with unit_of_work(ctx.sessions) as session:
        msg = session.get_one(InboundMessage, inbound_id)
        msg.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        msg.claimed_at = msg.nudged_at = None
        if msg.attempts >= ctx.settings.inbox_max_attempts:
            msg.status = "failed"
            open_exception(
                session,
                Reason.PROCESSING_ERROR,
                inbound_message_id=msg.id,
                detail={"message": msg.last_error, "attempts": msg.attempts},
            )
        else:
            msg.status = "pending"
            msg.next_attempt_at = utcnow() + timedelta(seconds=2**msg.attempts)


def _translate(
    ctx: Context, session: Session, connector: Connector, msg: InboundMessage
) -> dict[str, Any]:
    source = instance_for(ctx, connector)
    event = source.parse_webhook(msg.headers, msg.body)
    if event.order is None:
        raise PayloadError(f"webhook topic {event.topic!r} carries no order")
    canonical: dict[str, Any] = source.map_order(event.order)
    channel_skus = {
        key
        for line in canonical["lines"]
        for key in (line.get("channel_sku"), f"variant:{line.get('variant_id')}")
        if key
    }
    rows = session.execute(
        select(SkuAlias.alias, SkuAlias.sku).where(
            SkuAlias.connector_id == connector.id, SkuAlias.alias.in_(sorted(channel_skus))
        )
    )
    aliases = {alias: sku for alias, sku in rows}
    return resolve_skus(canonical, aliases)


def _fail(session: Session, msg: InboundMessage, exc: Exception, now: datetime) -> None:
    detail: dict[str, Any] = {"message": str(exc)}
    for attr in ("path", "source"):
        value = getattr(exc, attr, None)
        if value is not None:
            detail[attr] = value
    msg.status = "failed"
    msg.last_error = str(exc)[:2000]
    msg.processed_at = now
    open_exception(
        session,
        Reason.INVALID_PAYLOAD,
        detail=detail,
        inbound_message_id=msg.id,
        order_id=msg.order_id,
    )
    log.warning("inbound %s kept as invalid_payload: %s", msg.id, exc)


def _upsert_order(
    session: Session, connector: Connector, canonical: dict[str, Any]
) -> tuple[SalesOrder, bool, bool]:
    """Insert the order, or apply a newer version to it; (order, changed, newly created)."""
    external_id = canonical["external_id"]
    order = _find(session, connector.id, external_id)
    if order is None:
        new_id = insert_ignoring_conflict(
            session,
            SalesOrder.__table__,  # type: ignore[arg-type]
            {
                "connector_id": connector.id,
                "external_id": external_id,
                "channel": canonical["channel"],
                "currency": canonical["currency"],
                "status": OrderStatus.RECEIVED.value,
                "canonical": {},
            },
            ["connector_id", "external_id"],
        )
        order = _find(session, connector.id, external_id)
        assert order is not None  # noqa: S101 - inserted or found by the unique key
        if new_id is not None:
            # Inserted by this transaction: it has no lines yet (no lazy load needed).
            set_committed_value(order, "lines", [])
            _apply_version(session, order, canonical)
            order_state.note(session, order, f"received from {connector.name}")
            return order, True, True
    return (*_apply_newer(session, order, canonical), False)


def _find(session: Session, connector_id: int, external_id: str) -> SalesOrder | None:
    return session.scalars(
        select(SalesOrder)
        .where(SalesOrder.connector_id == connector_id, SalesOrder.external_id == external_id)
        .with_for_update()
    ).first()


def _apply_newer(
    session: Session, order: SalesOrder, canonical: dict[str, Any]
) -> tuple[SalesOrder, bool]:
    incoming = canonical.get("updated_at")
    if _is_older(incoming, order.external_updated_at):
        order_state.note(session, order, f"ignored an older version ({incoming})")
        return order, False
    if order.status not in EDITABLE or _has_fulfilment(session, order.id):
        if incoming != order.external_updated_at:
            order_state.note(
                session, order, f"version {incoming} arrived after routing; not applied"
            )
        return order, False
    if incoming == order.external_updated_at and order.status not in (
        OrderStatus.RECEIVED,
        OrderStatus.EXCEPTION,
    ):
        return order, False  # the same version again: a redelivery, nothing to apply
    if canonical.get("cancelled"):
        order_state.transition(session, order, OrderStatus.CANCELLED, "cancelled by the channel")
        resolve_open_for_order(session, order.id)
        return order, False
    if order.status != OrderStatus.RECEIVED:
        order_state.transition(session, order, OrderStatus.RECEIVED, "re-processing")
    _apply_version(session, order, canonical)
    return order, True


def _has_fulfilment(session: Session, order_id: int) -> bool:
    return (
        session.scalar(
            select(FulfilmentOrder.id).where(FulfilmentOrder.order_id == order_id).limit(1)
        )
        is not None
    )


def _apply_version(session: Session, order: SalesOrder, canonical: dict[str, Any]) -> None:
    order.external_number = canonical.get("external_number")
    order.external_updated_at = canonical.get("updated_at")
    order.currency = canonical["currency"]
    order.total = canonical.get("total")
    order.ship_to = canonical.get("ship_to")
    order.customer_email = (canonical.get("customer") or {}).get("email")
    order.service_level = canonical.get("service_level") or "standard"
    order.canonical = canonical
    if order.lines:
        order.lines.clear()
        session.flush()  # delete the old lines before their line numbers are reused
    for no, line in enumerate(canonical["lines"], start=1):
        order.lines.append(
            OrderLine(
                line_no=no,
                external_line_id=line.get("external_line_id"),
                channel_sku=line.get("channel_sku"),
                sku=line.get("sku"),
                title=line.get("title"),
                quantity=line["quantity"],
                unit_price=line.get("unit_price"),
            )
        )


def _validate(
    session: Session,
    order: SalesOrder,
    msg: InboundMessage,
    canonical: dict[str, Any],
    *,
    created: bool = False,
) -> int | None:
    skus = {line["sku"] for line in canonical["lines"] if line.get("sku")}
    # The query flushes the order and its lines first (autoflush).
    known = set(session.scalars(select(Sku.code).where(Sku.code.in_(sorted(skus)))))
    problems = check_order(canonical, known)
    if not created:  # an order inserted by this transaction has no exceptions to resolve
        resolve_open_for_order(session, order.id)
    if problems:
        _park(session, order, msg, problems)
        return None
    order_state.transition(session, order, OrderStatus.VALIDATED)
    return order.id


def _park(
    session: Session, order: SalesOrder, msg: InboundMessage, problems: list[Problem]
) -> None:
    by_reason: dict[str, list[dict[str, str]]] = {}
    for p in problems:
        by_reason.setdefault(p.reason, []).append(p.as_dict())
    for reason, items in by_reason.items():
        open_exception(
            session,
            reason,
            detail={"problems": items},
            order_id=order.id,
            inbound_message_id=msg.id,
        )
    summary = "; ".join(p.message for p in problems)
    order_state.transition(session, order, OrderStatus.EXCEPTION, summary[:1000])


def _is_older(incoming: str | None, stored: str | None) -> bool:
    if not incoming or not stored:
        return False
    try:
        return datetime.fromisoformat(incoming) < datetime.fromisoformat(stored)
    except ValueError:
        return False


__all__ = ["Reason", "process_inbound"]
