"""Dead letters in the console: outbox rows that failed for good, what was to be sent and
why it failed, each redriven through its exception, or all of a kind at once (the queue's
bulk retry with the dead-letters filter)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from omniroute.api.console.auth import require
from omniroute.api.console.pages import render, shown
from omniroute.api.deps import CtxDep
from omniroute.api.schemas import MAX_ID
from omniroute.core.access.permissions import Permission
from omniroute.core.access.sessions import SignedIn
from omniroute.core.exceptions import bulk, dead_letters
from omniroute.core.exceptions.board import QueueFilter

router = APIRouter(prefix="/console/dead-letters", include_in_schema=False)

ReadQueue = Annotated[SignedIn, Depends(require(Permission.EXCEPTIONS_READ))]
PAGE = 50


@router.get("", response_class=HTMLResponse)
def dead_letters_page(
    *,
    request: Request,
    ctx: CtxDep,
    user: ReadQueue,
    kind: Annotated[str, Query(max_length=40)] = "",
    after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    bulk_done: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    scope = user.connector_ids
    rows = dead_letters.list_dead_letters(
        ctx, kind=kind or None, connector_ids=scope, after_id=after, limit=PAGE + 1
    )
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    # What "redrive all" acts on: the open exceptions of this kind's dead letters.
    where = QueueFilter(dead_letters_only=True, outbox_kind=kind or None, include_snoozed=True)
    matched = len(bulk.matching_ids(ctx, where, now=ctx.clock.now(), connector_ids=scope))
    params = {"status": "open", "dead_letters": "1", "snoozed": "1", "kind": kind}
    return render(
        request,
        "dead_letters.html",
        {
            "rows": shown(user, rows),
            "kinds": dead_letters.dead_letter_kinds(ctx, scope),
            "kind": kind,
            "params": params,
            "query": urlencode({k: v for k, v in params.items() if v}),
            "matched": min(matched, bulk.MAX_BULK),
            "more_than": matched > bulk.MAX_BULK,
            "next_after": rows[-1]["id"] if more and rows else None,
            "first_page": after == 0,
            "bulk_done": bulk_done,
        },
        user=user,
    )
