from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from omniroute.api.deps import CtxDep, connector_in_scope, public_url, require
from omniroute.api.schemas import (
    BrokenKindOut,
    ConnectorHealthOut,
    ConnectorIn,
    ConnectorKindOut,
    ConnectorOut,
    ConnectorPatch,
    Id,
    PollRequested,
)
from omniroute.connectors.base import Capability
from omniroute.core.access.permissions import Permission
from omniroute.core.access.tokens import Principal
from omniroute.core.bootstrap import Context
from omniroute.core.channels import connector_admin as svc
from omniroute.core.channels.release_policy import policy_of
from omniroute.core.platform.models import Connector

router = APIRouter(prefix="/api/v1", tags=["connectors"])

ReadConnectors = Annotated[Principal, Depends(require(Permission.CONNECTORS_READ))]
CreateConnectors = Annotated[Principal, Depends(require(Permission.CONNECTORS_WRITE))]
ReadConnector = Annotated[Principal, Depends(connector_in_scope(Permission.CONNECTORS_READ))]
WriteConnector = Annotated[Principal, Depends(connector_in_scope(Permission.CONNECTORS_WRITE))]
PollConnector = Annotated[Principal, Depends(connector_in_scope(Permission.CONNECTORS_POLL))]


def _out(ctx: Context, row: Connector, request: Request) -> ConnectorOut:
    kind_cls = ctx.registry.kinds.get(row.kind)
    takes_webhooks = kind_cls is not None and Capability.ORDER_WEBHOOKS in kind_cls.capabilities
    return ConnectorOut(
        id=row.id,
        kind=row.kind,
        name=row.name,
        config=row.config,
        enabled=row.enabled,
        secrets_set=svc.secret_names(ctx, row),
        release_policy=policy_of(row.release_policy),
        webhook_url=public_url(request, request.app.url_path_for("webhook", connector_id=row.id))
        if takes_webhooks
        else None,
    )


@router.get("/connector-kinds", response_model=list[ConnectorKindOut])
def connector_kinds(ctx: CtxDep, _: ReadConnectors) -> list[ConnectorKindOut]:
    return [
        ConnectorKindOut(
            kind=k,
            capabilities=sorted(c.capabilities),
            config_schema=c.config_model.model_json_schema(),
            secrets_schema=c.secrets_model.model_json_schema(),
        )
        for k, c in sorted(ctx.registry.kinds.items())
    ]


@router.get("/connector-kinds/broken", response_model=list[BrokenKindOut])
def broken_connector_kinds(ctx: CtxDep, _: ReadConnectors) -> list[BrokenKindOut]:
    """Installed connector kinds that failed to load, with the error."""
    return [BrokenKindOut(kind=k, error=e) for k, e in sorted(ctx.registry.broken.items())]


@router.get("/connectors", response_model=list[ConnectorOut])
def list_connectors(ctx: CtxDep, who: ReadConnectors, request: Request) -> list[ConnectorOut]:
    """Connectors; a token limited to some sees only those."""
    scope = who.connector_ids
    return [
        _out(ctx, c, request) for c in svc.list_connectors(ctx) if scope is None or c.id in scope
    ]


@router.post("/connectors", response_model=ConnectorOut, status_code=201)
def create_connector(
    body: ConnectorIn, ctx: CtxDep, who: CreateConnectors, request: Request
) -> ConnectorOut:
    row = svc.create_connector(
        ctx,
        kind=body.kind,
        name=body.name,
        config=body.config,
        secrets=body.secrets,
        enabled=body.enabled,
        actor=who.actor,
        release_policy=body.release_policy,
    )
    return _out(ctx, row, request)


@router.get("/connectors/{connector_id}", response_model=ConnectorOut)
def get_connector(
    connector_id: Id, ctx: CtxDep, _: ReadConnector, request: Request
) -> ConnectorOut:
    return _out(ctx, svc.get_connector(ctx, connector_id), request)


@router.patch("/connectors/{connector_id}", response_model=ConnectorOut)
def update_connector(
    connector_id: Id, body: ConnectorPatch, ctx: CtxDep, who: WriteConnector, request: Request
) -> ConnectorOut:
    row = svc.update_connector(
        ctx,
        connector_id,
        config=body.config,
        secrets=body.secrets,
        enabled=body.enabled,
        actor=who.actor,
        release_policy=body.release_policy
        if "release_policy" in body.model_fields_set
        else svc.UNCHANGED,
    )
    return _out(ctx, row, request)


@router.get("/connectors/{connector_id}/health", response_model=ConnectorHealthOut)
def connector_health(connector_id: Id, ctx: CtxDep, _: ReadConnector) -> ConnectorHealthOut:
    return ConnectorHealthOut(**svc.connector_health_view(ctx, connector_id))


class ConnectionTestOut(BaseModel):
    ok: bool
    message: str = Field(description="what answered, or why the call failed")
    reason: str | None = Field(description="the failure's reason code (http_401, ...)")


@router.post("/connectors/{connector_id}/test", response_model=ConnectionTestOut)
def test_connection(connector_id: Id, ctx: CtxDep, _: PollConnector) -> ConnectionTestOut:
    """Make the connector's cheapest read call with its stored configuration and secrets
    (where its kind offers one) and say what answered. Changes nothing."""
    result = svc.test_connection(ctx, connector_id)
    return ConnectionTestOut(ok=result.ok, message=result.message, reason=result.reason)


@router.post("/connectors/{connector_id}/poll", response_model=PollRequested, status_code=202)
def poll_connector_now(connector_id: Id, ctx: CtxDep, who: PollConnector) -> PollRequested:
    svc.request_poll(ctx, connector_id, actor=who.actor)
    return PollRequested(connector_id=connector_id, queued=True)
