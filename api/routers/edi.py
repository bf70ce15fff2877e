"""EDI partner intake: a raw file in, each interchange committed to the inbox, then 202."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from omniroute.api.deps import CtxDep
from omniroute.api.schemas import Id
from omniroute.core.edi.intake import receive_file

router = APIRouter(tags=["edi"])


@router.post(
    "/edi/{connector_id}",
    status_code=202,
    responses={
        401: {"description": "missing or wrong partner token"},
        404: {"description": "no such EDI partner"},
        413: {"description": "too large"},
    },
)
async def edi_intake(connector_id: Id, request: Request, ctx: CtxDep) -> dict[str, Any]:
    """Authenticated by the partner's intake token (``Authorization: Bearer``), not by an
    API token; one entry per interchange: accepted, duplicate or rejected with reasons."""
    body = await request.body()
    authorization = request.headers.get("authorization")
    entries = await run_in_threadpool(receive_file, ctx, connector_id, authorization, body)
    return {"interchanges": [entry.as_dict() for entry in entries]}
