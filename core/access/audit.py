"""Audit trail: who did what to which entity, from which token and address; and reading it."""

from __future__ import annotations

import contextvars
import enum
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from omniroute.core.platform.clock import as_naive_utc
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import AuditLog
from omniroute.core.platform.ports import HasSessions

MAX_PAGE = 500


class Entity(enum.StrEnum):
    """What an audit row is about; ``record`` refuses any other, so the API's filter is exact."""

    ORDER = "order"
    EXCEPTION = "exception"
    FULFILMENT_ORDER = "fulfilment_order"
    CONSOLIDATION = "consolidation"
    CONNECTOR = "connector"
    WAREHOUSE = "warehouse"
    STOCK_LEVEL = "stock_level"
    SKU = "sku"
    SKU_ALIAS = "sku_alias"
    ROUTING_RULE_SET = "routing_rule_set"
    API_TOKEN = "api_token"  # noqa: S105 - an entity name, not a secret
    CONSOLE_USER = "console_user"
    RETURN = "return"
    STOCK_THRESHOLD = "stock_threshold"
    REPLENISHMENT_RUN = "replenishment_run"


class Action(enum.StrEnum):
    """Every audited action; ``record`` refuses any other."""

    ORDER_CANCEL = "order.cancel"
    ORDER_RELEASE_HOLD = "order.release_hold"
    ORDER_ADDRESS_FIX = "order.address_fix"
    ORDER_QUANTITY_CHANGE = "order.quantity_change"
    ORDER_ROUTE_OVERRIDE = "order.route_override"
    ORDER_REROUTE = "order.reroute"
    ORDERS_IMPORT = "orders.import"
    EXCEPTION_RETRY = "exception.retry"
    EXCEPTION_RESOLVE = "exception.resolve"
    EXCEPTION_DISMISS = "exception.dismiss"
    EXCEPTION_ASSIGN = "exception.assign"
    EXCEPTION_UNASSIGN = "exception.unassign"
    EXCEPTION_SNOOZE = "exception.snooze"
    EXCEPTION_WAKE = "exception.wake"
    FULFILMENT_ORDER_REJECT = "fulfilment_order.reject"
    SHIPMENT_CONFIRM = "shipment.confirm"
    CONSOLIDATION_RELEASE = "consolidation.release"
    CONNECTOR_CREATE = "connector.create"
    CONNECTOR_UPDATE = "connector.update"
    CONNECTOR_POLL = "connector.poll"
    LISTINGS_PUT = "listings.put"
    WAREHOUSE_CREATE = "warehouse.create"
    WAREHOUSE_UPDATE = "warehouse.update"
    STOCK_SET = "stock.set"
    STOCK_ADJUST = "stock.adjust"
    SKU_UPSERT = "sku.upsert"
    SKU_ALIAS_CREATE = "sku_alias.create"
    STOCK_THRESHOLD_SET = "stock_threshold.set"
    REPLENISHMENT_RUN = "replenishment.run"
    REPLENISHMENT_SEND = "replenishment.send"
    REPLENISHMENT_DISMISS = "replenishment.dismiss"
    RULE_SET_DRAFT = "rule_set.draft"
    RULE_SET_UPDATE = "rule_set.update"
    RULE_SET_PUBLISH = "rule_set.publish"
    RULE_SET_WITHDRAW = "rule_set.withdraw"
    RULE_SET_ACTIVATE = "rule_set.activate"
    TOKEN_CREATE = "token.create"  # noqa: S105 - an action name
    TOKEN_REVOKE = "token.revoke"  # noqa: S105 - an action name
    USER_CREATE = "user.create"
    USER_DISABLE = "user.disable"
    USER_SET_PASSWORD = "user.set_password"  # noqa: S105 - an action name
    USER_LOGIN = "user.login"
    USER_LOGOUT = "user.logout"
    RETURN_CREATE = "return.create"
    RETURN_AUTHORISE = "return.authorise"
    RETURN_CANCEL = "return.cancel"
    RETURN_CLOSE = "return.close"
    RETURN_RECEIVE = "return.receive"
    RETURN_IN_TRANSIT = "return.in_transit"


@dataclass(frozen=True)
class Origin:
    """Where the current request came from: the API sets it once it knows the token."""

    token_id: int | None
    client_ip: str | None


# A context variable rather than an argument of every service that audits: the services
# keep their ``actor`` argument, and each request (its own task and context) sets its own.
_origin: contextvars.ContextVar[Origin | None] = contextvars.ContextVar(
    "omniroute_audit_origin", default=None
)


def set_origin(origin: Origin) -> None:
    _origin.set(origin)


@contextmanager
def origin(value: Origin) -> Iterator[None]:
    """Audit rows written inside this block carry ``value`` (the CLI, tests)."""
    reset = _origin.set(value)
    try:
        yield
    finally:
        _origin.reset(reset)


def record(  # noqa: PLR0917 - reads as a sentence: who did what to which entity
    session: Session,
    actor: str,
    action: str,
    entity: str,
    entity_id: object,
    detail: dict[str, Any] | None = None,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    where = _origin.get()
    session.add(
        AuditLog(
            actor=actor,
            action=Action(action).value,
            entity=Entity(entity).value,
            entity_id=None if entity_id is None else str(entity_id),
            detail=detail or {},
            token_id=None if where is None else where.token_id,
            client_ip=None if where is None else where.client_ip,
            before=None if before is None else _jsonable(before),
            after=None if after is None else _jsonable(after),
        )
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: Action | None = None
    entity: Entity | None = None
    entity_id: str | None = None
    token_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def list_entries(
    deps: HasSessions, where: AuditFilter, *, after_id: int = 0, limit: int = 100
) -> list[dict[str, Any]]:
    """Entries oldest first by id; page with ``after_id`` = the last id of the previous page.
    ``since`` is inclusive, ``until`` exclusive."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be 1..{MAX_PAGE}")
    q = select(AuditLog).where(AuditLog.id > after_id)
    for column, value in (
        (AuditLog.actor, where.actor),
        (AuditLog.action, where.action),
        (AuditLog.entity, where.entity),
        (AuditLog.entity_id, where.entity_id),
        (AuditLog.token_id, where.token_id),
    ):
        if value is not None:
            q = q.where(column == value)
    if where.since is not None:
        q = q.where(AuditLog.created_at >= as_naive_utc(where.since))
    if where.until is not None:
        q = q.where(AuditLog.created_at < as_naive_utc(where.until))
    with unit_of_work(deps.sessions) as session:
        return [_view(r) for r in session.scalars(q.order_by(AuditLog.id).limit(limit))]


def _view(row: AuditLog) -> dict[str, Any]:
    return {
        "id": row.id,
        "created_at": row.created_at,
        "actor": row.actor,
        "action": row.action,
        "entity": row.entity,
        "entity_id": row.entity_id,
        "detail": row.detail,
        "token_id": row.token_id,
        "client_ip": row.client_ip,
        "before": row.before,
        "after": row.after,
    }
