from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from omniroute.api.deps import CtxDep
from omniroute.api.metrics_exposition import Exposition
from omniroute.api.problems import correlation_id, server_problem
from omniroute.core.platform.telemetry.readiness import readiness

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=dict[str, Any],
    responses={503: {"description": "not ready: a problem (code not_ready) with the checks"}},
)
async def readyz(ctx: CtxDep, request: Request) -> dict[str, Any] | JSONResponse:
    checks = await run_in_threadpool(readiness, ctx)
    failing = [name for name, check in checks.items() if not check["ok"]]
    if not failing:
        return {"status": "ready", "checks": checks}
    detail = f"not ready: {', '.join(failing)} cannot be reached"
    cid = correlation_id(request.headers.raw)
    return server_problem(cid, 503, "not_ready", detail, checks=checks)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"description": "Prometheus text exposition format"}},
)
def metrics(request: Request) -> Response:
    exposition: Exposition = request.app.state.metrics
    return Response(exposition.render(), media_type=CONTENT_TYPE_LATEST)
