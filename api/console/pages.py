"""Rendering: the templates, filters they share, the error page and the two static files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from omniroute.api.console.auth import ConsoleError, NotSignedIn
from omniroute.core.access import audit
from omniroute.core.access.permissions import Permission, allows
from omniroute.core.access.pii import mask_pii
from omniroute.core.access.sessions import SignedIn

_HERE = resources.files("omniroute.api.console")
templates = Jinja2Templates(directory=str(_HERE / "templates"))

STATIC_TYPES = {"htmx.min.js": "text/javascript", "console.css": "text/css"}


def _when(value: datetime | None) -> str:
    if value is None:
        return "—"
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)


templates.env.filters["when"] = _when
templates.env.filters["pretty"] = _pretty


def shown(user: SignedIn, value: Any) -> Any:
    """``value`` as this user may see it: personal data masked without ``pii:read``."""
    return value if allows(user.role, Permission.PII_READ) else mask_pii(value)


def history(ctx: Any, user: SignedIn, entity: str, entity_id: int) -> list[dict[str, Any]] | None:
    """The record's audit rows (oldest first, the first 100) for a role with ``audit:read``;
    None for any other."""
    if not allows(user.role, Permission.AUDIT_READ):
        return None
    where = audit.AuditFilter(entity=audit.Entity(entity), entity_id=str(entity_id))
    return audit.list_entries(ctx, where, limit=100)


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    user: SignedIn | None = None,
) -> HTMLResponse:
    who = user or getattr(request.state, "user", None)
    values = {
        "user": who,
        "can": (lambda p: who is not None and allows(who.role, Permission(p))),
        **context,
    }
    return templates.TemplateResponse(request, name, values, status_code=status)


async def _console_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ConsoleError)  # noqa: S101 - registered for ConsoleError only
    if isinstance(exc, NotSignedIn) and request.method in ("GET", "HEAD"):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/console/login?next={quote(target, safe='')}", status_code=303)
    return render(
        request,
        "error.html",
        {"title": exc.title, "message": exc.message, "status": exc.status},
        status=exc.status,
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(ConsoleError, _console_error)


static = APIRouter(prefix="/console/static", include_in_schema=False)


@static.get("/{name}")
def static_file(name: str) -> Response:
    """The console's own script and style sheet; nothing else is served from here."""
    media = STATIC_TYPES.get(name)
    if media is None:
        return Response("not found", status_code=404, media_type="text/plain")
    body = (_HERE / "static" / name).read_bytes()
    return Response(body, media_type=media, headers={"Cache-Control": "public, max-age=3600"})
