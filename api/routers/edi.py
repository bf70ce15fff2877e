"""EDI partner intake: a raw file in, each interchange committed to the inbox, then 202."""

from __future__ import annotations

import tempfile
from typing import Annotated, Any, BinaryIO, cast

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from omniroute.api.deps import CtxDep, connector_in_scope
from omniroute.api.schemas import Id
from omniroute.core.access.permissions import Permission
from omniroute.core.access.tokens import Principal
from omniroute.core.edi.intake import authorize, store_file
from omniroute.core.edi.views import partner_interchanges

#: A file up to this size stays in memory while it is received; a larger one goes to disk.
SPOOL_BYTES = 1_048_576

ReadConnector = Annotated[Principal, Depends(connector_in_scope(Permission.CONNECTORS_READ))]

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
    API token; one entry per interchange: accepted, duplicate or rejected with reasons.
    The token is checked before the body is read; the body is streamed into a spooled
    file (``edi_max_body_bytes``, enforced while it streams: 413), never buffered whole."""
    authorization = request.headers.get("authorization")
    partner = await run_in_threadpool(authorize, ctx, connector_id, authorization)
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        async for chunk in request.stream():
            spool.write(chunk)
        spool.seek(0)
        entries = await run_in_threadpool(
            store_file, ctx, connector_id, partner, cast(BinaryIO, spool), source="http"
        )
    return {"interchanges": [entry.as_dict() for entry in entries]}


@router.get("/api/v1/edi/partners/{connector_id}/interchanges")
def edi_interchanges(
    connector_id: Id,
    ctx: CtxDep,
    _: ReadConnector,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Interchanges in (their sets, orders and acknowledgements) and documents out, newest
    first; ``overdue`` counts acknowledgements and answers not sent in time."""
    return partner_interchanges(ctx, connector_id, limit=limit)
