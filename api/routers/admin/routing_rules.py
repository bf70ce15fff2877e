"""Routing rules: versions (draft → validate → simulate → publish → withdraw or roll back),
their differences, and dry runs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from omniroute.api.deps import CtxDep, require
from omniroute.api.schemas import Body, Id, LineQuantity, UtcDateTime
from omniroute.core.access.permissions import Permission
from omniroute.core.access.tokens import Principal
from omniroute.core.order_routing import rule_sets as svc
from omniroute.core.order_routing.backtest import backtest
from omniroute.core.order_routing.lifecycle import State
from omniroute.core.order_routing.simulate import simulate
from omniroute.core.platform.clock import as_naive_utc
from omniroute.core.platform.errors import Invalid
from omniroute.core.platform.models import RoutingRuleSet
from omniroute.mapping.engine import MAX_ORDER_LINES
from omniroute.routing.rules import rule_set_schema

router = APIRouter(prefix="/api/v1/routing", tags=["routing"])

ReadRules = Annotated[Principal, Depends(require(Permission.RULES_READ))]
WriteRules = Annotated[Principal, Depends(require(Permission.RULES_WRITE))]
PublishRules = Annotated[Principal, Depends(require(Permission.RULES_PUBLISH))]
SimulateRules = Annotated[Principal, Depends(require(Permission.RULES_SIMULATE))]


class RuleSetIn(Body):
    model_config = ConfigDict(extra="forbid")
    document: dict[str, Any] = Field(description="a rule set; see GET /api/v1/routing/schema")
    notes: str | None = Field(default=None, max_length=2000)


class PublishIn(Body):
    model_config = ConfigDict(extra="forbid")
    effective_from: datetime | None = Field(default=None, description="default: now")


class WithdrawIn(Body):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=2000)


class RuleSetOut(BaseModel):
    id: int
    version: int
    name: str
    status: str = Field(description="as stored: draft or published")
    state: str = Field(
        description="now: draft, scheduled, active (the one routing orders), superseded or "
        "withdrawn"
    )
    notes: str | None
    effective_from: UtcDateTime | None
    created_by: str
    published_by: str | None
    copied_from: int | None
    created_at: UtcDateTime
    published_at: UtcDateTime | None
    withdrawn_at: UtcDateTime | None
    withdrawn_by: str | None
    withdraw_reason: str | None
    document: dict[str, Any]
    errors: list[dict[str, str]]
    warnings: list[dict[str, Any]] | None = Field(
        default=None,
        description="names the configuration cannot serve yet (publish and activate answers; "
        "null elsewhere)",
    )
    withdrew: list[int] = Field(
        default_factory=list, description="versions a rollback withdrew (activate answers)"
    )


class ValidationOut(BaseModel):
    valid: bool
    errors: list[dict[str, Any]]
    warnings: list[dict[str, Any]]


class SimulatedLineIn(BaseModel):
    model_config = ConfigDict(extra="allow")  # the other fields of a canonical line
    sku: str | None = Field(default=None, min_length=1, max_length=128)
    channel_sku: str | None = Field(default=None, min_length=1, max_length=200)
    quantity: LineQuantity


class SimulatedOrderIn(BaseModel):
    """A canonical order (its other fields are read as given) with the connector it came by."""

    model_config = ConfigDict(extra="allow")
    connector_id: Id
    lines: list[SimulatedLineIn] = Field(min_length=1, max_length=MAX_ORDER_LINES)


class SimulateIn(Body):
    model_config = ConfigDict(extra="forbid")
    order_id: Id | None = None
    order: SimulatedOrderIn | None = Field(
        default=None, description="a canonical order with connector_id and lines[].sku"
    )
    rule_set_id: Id | None = None
    document: dict[str, Any] | None = Field(default=None, description="an unsaved rule set")
    at: datetime | None = Field(default=None, description="decide as of this time (UTC)")


class BacktestIn(Body):
    model_config = ConfigDict(extra="forbid")
    document: dict[str, Any] | None = Field(default=None, description="an unsaved rule set")
    rule_set_id: Id | None = None
    last: int = Field(default=100, ge=1, le=10_000, description="the most recent N orders")
    since: datetime | None = None
    until: datetime | None = None


def _out(version: svc.Version) -> RuleSetOut:
    row = version.row
    return RuleSetOut(
        id=row.id,
        version=row.version,
        name=row.name,
        status=row.status,
        state=version.state.value,
        notes=row.notes,
        effective_from=row.effective_from,
        created_by=row.created_by,
        published_by=row.published_by,
        copied_from=row.copied_from,
        created_at=row.created_at,
        published_at=row.published_at,
        withdrawn_at=row.withdrawn_at,
        withdrawn_by=row.withdrawn_by,
        withdraw_reason=row.withdraw_reason,
        document=row.document,
        errors=svc.check_document(row.document),
        warnings=version.warnings,
        withdrew=version.withdrawn,
    )


def _draft(row: RoutingRuleSet) -> RuleSetOut:
    return _out(svc.Version(row, State.DRAFT))


@router.get("/schema")
def schema(_: ReadRules) -> dict[str, Any]:
    """The JSON Schema every rule set must satisfy."""
    return rule_set_schema()


@router.get("/rule-sets", response_model=list[RuleSetOut])
def list_rule_sets(ctx: CtxDep, _: ReadRules) -> list[RuleSetOut]:
    return [_out(r) for r in svc.list_rule_sets(ctx)]


@router.post("/rule-sets", response_model=RuleSetOut, status_code=201)
def create_rule_set(body: RuleSetIn, ctx: CtxDep, who: WriteRules) -> RuleSetOut:
    """Save a draft (even an invalid one: ``errors`` lists what to fix)."""
    return _draft(svc.create_draft(ctx, body.document, notes=body.notes, actor=who.actor))


@router.get("/rule-sets/{rule_set_id}", response_model=RuleSetOut)
def get_rule_set(rule_set_id: Id, ctx: CtxDep, _: ReadRules) -> RuleSetOut:
    return _out(svc.get_rule_set(ctx, rule_set_id))


@router.put("/rule-sets/{rule_set_id}", response_model=RuleSetOut)
def update_rule_set(rule_set_id: Id, body: RuleSetIn, ctx: CtxDep, who: WriteRules) -> RuleSetOut:
    return _draft(
        svc.update_draft(ctx, rule_set_id, body.document, notes=body.notes, actor=who.actor)
    )


@router.post("/rule-sets/validate", response_model=ValidationOut)
def validate(body: RuleSetIn, ctx: CtxDep, _: ReadRules) -> ValidationOut:
    """Check a document's form, then the names it uses against the configuration: an unknown
    warehouse, tag, SKU, channel or connector is an error, one that exists but cannot serve
    yet (no stock, no warehouse with the tag, disabled) a warning."""
    check = svc.validate_document(ctx, body.document)
    return ValidationOut(valid=not check.errors, errors=check.errors, warnings=check.warnings)


@router.post("/rule-sets/{rule_set_id}/publish", response_model=RuleSetOut)
def publish(rule_set_id: Id, body: PublishIn, ctx: CtxDep, who: PublishRules) -> RuleSetOut:
    """Publish a draft, now or at ``effective_from`` (422 ``unknown_reference`` naming each
    unknown name and its path; ``warnings`` in the answer). Publishing an already published
    version now is a rollback (``activate``); at a later time, a copy scheduled then."""
    return _out(
        svc.publish(
            ctx, rule_set_id, effective_from=as_naive_utc(body.effective_from), actor=who.actor
        )
    )


@router.post("/rule-sets/{rule_set_id}/withdraw", response_model=RuleSetOut)
def withdraw(
    rule_set_id: Id, ctx: CtxDep, who: PublishRules, body: WithdrawIn | None = None
) -> RuleSetOut:
    """Withdraw a scheduled, active or superseded version: it routes nothing from now on (an
    active one hands over to the version in force before it, or to the default)."""
    reason = None if body is None else body.reason
    return _out(svc.withdraw(ctx, rule_set_id, reason=reason, actor=who.actor))


@router.post("/rule-sets/{rule_set_id}/activate", response_model=RuleSetOut)
def activate(rule_set_id: Id, ctx: CtxDep, who: PublishRules) -> RuleSetOut:
    """Roll back to a published version: it is copied as a new version active now, and every
    version still scheduled is withdrawn (listed in ``withdrew``) so none takes over later."""
    return _out(svc.activate(ctx, rule_set_id, actor=who.actor))


@router.get("/rule-sets/{rule_set_id}/diff")
def diff(
    rule_set_id: Id,
    ctx: CtxDep,
    _: ReadRules,
    against: Annotated[Id | None, Query(description="default: the active version")] = None,
) -> dict[str, Any]:
    """Rule by rule, what changed from version ``against`` to this one."""
    return svc.diff_versions(ctx, rule_set_id, against=against)


@router.post("/simulate")
async def simulate_order(body: SimulateIn, ctx: CtxDep, who: SimulateRules) -> dict[str, Any]:
    """What a rule set would decide for an order, against current stock. Changes nothing.
    A token scoped to connectors simulates only their orders (another's: 404)."""
    return await run_in_threadpool(
        lambda: simulate(
            ctx,
            order_id=body.order_id,
            order=None if body.order is None else body.order.model_dump(exclude_unset=True),
            rule_set_id=body.rule_set_id,
            document=body.document,
            now=as_naive_utc(body.at),
            connector_ids=who.connector_ids,
        )
    )


@router.post("/backtest")
async def backtest_rules(body: BacktestIn, ctx: CtxDep, _: SimulateRules) -> dict[str, Any]:
    """Replay a rule set over recent routed orders and compare with what decided them."""
    document = body.document
    if document is None:
        if body.rule_set_id is None:
            raise Invalid("give a document or a rule_set_id", code="missing_rule_set")
        document = svc.get_rule_set(ctx, body.rule_set_id).row.document
    chosen = document
    return await run_in_threadpool(
        lambda: backtest(
            ctx,
            chosen,
            last=body.last,
            since=as_naive_utc(body.since),
            until=as_naive_utc(body.until),
        )
    )
