"""Routing rules: versions (draft → validate → simulate → publish) and dry runs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from omniroute.api.deps import CtxDep, require
from omniroute.api.schemas import Body, Id, LineQuantity, UtcDateTime
from omniroute.core.access.permissions import Permission
from omniroute.core.access.tokens import Principal
from omniroute.core.order_routing import rule_sets as svc
from omniroute.core.order_routing.backtest import backtest
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


class RuleSetOut(BaseModel):
    id: int
    version: int
    name: str
    status: str
    notes: str | None
    effective_from: UtcDateTime | None
    created_by: str
    published_by: str | None
    copied_from: int | None
    created_at: UtcDateTime
    published_at: UtcDateTime | None
    document: dict[str, Any]
    errors: list[dict[str, str]]


class ValidationOut(BaseModel):
    valid: bool
    errors: list[dict[str, str]]


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


def _out(row: RoutingRuleSet) -> RuleSetOut:
    return RuleSetOut(
        id=row.id,
        version=row.version,
        name=row.name,
        status=row.status,
        notes=row.notes,
        effective_from=row.effective_from,
        created_by=row.created_by,
        published_by=row.published_by,
        copied_from=row.copied_from,
        created_at=row.created_at,
        published_at=row.published_at,
        document=row.document,
        errors=svc.check_document(row.document),
    )


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
    return _out(svc.create_draft(ctx, body.document, notes=body.notes, actor=who.actor))


@router.get("/rule-sets/{rule_set_id}", response_model=RuleSetOut)
def get_rule_set(rule_set_id: Id, ctx: CtxDep, _: ReadRules) -> RuleSetOut:
    return _out(svc.get_rule_set(ctx, rule_set_id))


@router.put("/rule-sets/{rule_set_id}", response_model=RuleSetOut)
def update_rule_set(rule_set_id: Id, body: RuleSetIn, ctx: CtxDep, who: WriteRules) -> RuleSetOut:
    return _out(
        svc.update_draft(ctx, rule_set_id, body.document, notes=body.notes, actor=who.actor)
    )


@router.post("/rule-sets/validate", response_model=ValidationOut)
def validate(body: RuleSetIn, _: ReadRules) -> ValidationOut:
    errors = svc.check_document(body.document)
    return ValidationOut(valid=not errors, errors=errors)


@router.post("/rule-sets/{rule_set_id}/publish", response_model=RuleSetOut)
def publish(rule_set_id: Id, body: PublishIn, ctx: CtxDep, who: PublishRules) -> RuleSetOut:
    """Publish a draft; publishing an already published version re-publishes it (rollback)."""
    return _out(
        svc.publish(
            ctx, rule_set_id, effective_from=as_naive_utc(body.effective_from), actor=who.actor
        )
    )


@router.post("/simulate")
async def simulate_order(body: SimulateIn, ctx: CtxDep, _: SimulateRules) -> dict[str, Any]:
    """What a rule set would decide for an order, against current stock. Changes nothing."""
    return await run_in_threadpool(
        lambda: simulate(
            ctx,
            order_id=body.order_id,
            order=None if body.order is None else body.order.model_dump(exclude_unset=True),
            rule_set_id=body.rule_set_id,
            document=body.document,
            now=as_naive_utc(body.at),
        )
    )


@router.post("/backtest")
async def backtest_rules(body: BacktestIn, ctx: CtxDep, _: SimulateRules) -> dict[str, Any]:
    """Replay a rule set over recent routed orders and compare with what decided them."""
    document = body.document
    if document is None:
        if body.rule_set_id is None:
            raise Invalid("give a document or a rule_set_id", code="missing_rule_set")
        document = svc.get_rule_set(ctx, body.rule_set_id).document
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
