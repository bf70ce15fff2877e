"""The FastAPI application, built around a context from core.bootstrap."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from omniroute.api import problems
from omniroute.api.body_limit import BodyLimitMiddleware
from omniroute.api.console import (
    connector_routes,
    dead_letter_routes,
    exception_routes,
    fix_routes,
    order_routes,
    pages,
    rule_routes,
    session_routes,
    stock_routes,
)
from omniroute.api.errors import ErrorMiddleware
from omniroute.api.metrics_exposition import Exposition
from omniroute.api.openapi import declare_problems
from omniroute.api.routers import edi, health, webhooks
from omniroute.api.routers.admin import (
    audit,
    connectors,
    erp_reports,
    reports,
    routing_rules,
    tokens,
)
from omniroute.api.routers.orders import (
    consolidations,
    exception_bulk,
    exceptions,
    order_actions,
    order_import,
    orders,
    returns,
)
from omniroute.api.routers.warehouse import (
    fulfilment,
    replenishment,
    shipments,
    stock,
    warehouses,
)
from omniroute.api.throttling import WebhookShedder
from omniroute.api.timeout import TimeoutMiddleware
from omniroute.api.webhook_intake import WebhookIntake
from omniroute.core.bootstrap import Context
from omniroute.core.platform.throttle import auth_throttle_for

# Webhooks are answered by their own handler, which the request timeout does not cover.
UNTIMED_PREFIXES = ("/webhooks/",)


class OmnirouteApp(FastAPI):
    """FastAPI, with webhooks answered by a lean ASGI handler before the framework runs."""

    webhook_intake: WebhookIntake | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        intake = self.webhook_intake
        if intake is not None:
            connector_id = intake.match(scope)
            if connector_id is not None:
                await intake(scope, receive, send, connector_id)
                return
        await super().__call__(scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            document = super().openapi()
            declare_problems(document, untimed_prefixes=UNTIMED_PREFIXES)
            self.openapi_schema = document
        return self.openapi_schema


def create_app(
    ctx: Context,
    *,
    on_startup: Callable[[], None] | None = None,
    on_shutdown: Callable[[], None] | None = None,
) -> OmnirouteApp:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if on_startup:
            on_startup()
        yield
        if on_shutdown:
            on_shutdown()

    app = OmnirouteApp(
        title="omniroute",
        version="0.1.0",
        lifespan=lifespan,
        description="Integration hub and omnichannel order router",
    )
    app.state.ctx = ctx
    app.state.auth_throttle = auth_throttle_for(ctx.settings)
    app.state.metrics = Exposition(ctx)
    problems.install(app)
    for module in (
        webhooks,
        edi,
        warehouses,
        stock,
        replenishment,
        connectors,
        order_import,
        fulfilment,
        shipments,
        orders,
        order_actions,
        consolidations,
        returns,
        exception_bulk,  # before exceptions: /exceptions/bulk/... is not an exception id
        exceptions,
        routing_rules,
        tokens,
        audit,
        reports,
        erp_reports,
        health,
    ):
        app.include_router(module.router)
    # The console: server-rendered pages over the same services and permission table.
    pages.install(app)
    for console in (
        session_routes,
        order_routes,
        exception_routes,
        fix_routes,
        rule_routes,
        dead_letter_routes,
        connector_routes,
        stock_routes,
    ):
        app.include_router(console.router)
    app.include_router(pages.static)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=ctx.settings.max_body_bytes,
        by_prefix={"/edi/": ctx.settings.edi_max_body_bytes},
    )
    app.add_middleware(TimeoutMiddleware, seconds=ctx.settings.request_timeout)
    app.add_middleware(ErrorMiddleware)  # added last: the outermost of ours
    # One webhook thread per pooled database connection: no thread waits for a connection
    # and no overflow connection is opened (and closed again) for a webhook.
    app.webhook_intake = WebhookIntake(
        ctx,
        max_bytes=ctx.settings.max_body_bytes,
        threads=ctx.settings.db_pool_size,
        shedder=WebhookShedder(ctx.settings.webhook_rate, ctx.settings.webhook_burst),
    )
    return app
