from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from omniroute.api.deps import Admin, CtxDep
from omniroute.api.schemas import TokenIn, TokenOut
from omniroute.core.access.tokens import create_token
from omniroute.core.platform.readiness import readiness

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(ctx: CtxDep, response: Response) -> dict[str, Any]:
    checks = await run_in_threadpool(readiness, ctx)
    ok = all(c["ok"] for c in checks.values())
    response.status_code = 200 if ok else 503
    return {"status": "ready" if ok else "not_ready", "checks": checks}


@router.get("/metrics")
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@router.post("/api/v1/tokens", response_model=TokenOut, status_code=201, tags=["tokens"])
def new_token(body: TokenIn, ctx: CtxDep, _: Admin) -> TokenOut:
    """Create a token; its value is shown only in this response."""
    return TokenOut(
        token=create_token(ctx, role=body.role, name=body.name), role=body.role, name=body.name
    )
