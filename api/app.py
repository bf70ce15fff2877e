"""The FastAPI application, built around a context from core.bootstrap."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import problems
from api.body_limit import BodyLimitMiddleware
from api.routers import (
    connectors,
    exceptions,
    health,
    orders,
    routing_rules,
    stock,
    warehouses,
    webhooks,
)
from core.bootstrap import Context


def create_app(
    ctx: Context,
    *,
    on_startup: Callable[[], None] | None = None,
    on_shutdown: Callable[[], None] | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if on_startup:
            on_startup()
        yield
        if on_shutdown:
            on_shutdown()

    app = FastAPI(
        title="omniroute",
        version="0.1.0",
        lifespan=lifespan,
        description="Integration hub and omnichannel order router",
    )
    app.state.ctx = ctx
    problems.install(app)
    for module in (
        webhooks,
        warehouses,
        stock,
        connectors,
        orders,
        exceptions,
        routing_rules,
        health,
    ):
        app.include_router(module.router)
    app.add_middleware(BodyLimitMiddleware, max_bytes=ctx.settings.max_body_bytes)
    return app
