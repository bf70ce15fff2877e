"""Signing in to the console from tests: users per role, a client with a session, its CSRF."""

from __future__ import annotations

import re
from collections.abc import Collection

from fastapi.testclient import TestClient

from omniroute.core.access.users import NewUser, create_user
from omniroute.core.bootstrap import Context
from omniroute.core.platform.security import Role

PASSWORD = "correct horse battery"
_HIDDEN_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_user(
    ctx: Context,
    username: str,
    role: Role,
    *,
    connector_ids: Collection[int] | None = None,
) -> None:
    create_user(ctx, NewUser(username, role, connector_ids), PASSWORD, actor="test")


def csrf_in(html: str) -> str:
    found = _HIDDEN_CSRF.search(html)
    assert found, "no csrf_token field on the page"
    return found.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> int:
    """Post the sign-in form as a browser would; the status of the answer (303 when in)."""
    form = client.get("/console/login")
    answer = client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf_token": csrf_in(form.text)},
        follow_redirects=False,
    )
    return answer.status_code


def session_csrf(client: TestClient) -> str:
    """The signed-in session's CSRF token, as every page's sign-out form carries it (the 403
    page too, for a role that may open none)."""
    page = client.get("/console/")
    assert page.status_code in (200, 403), page.text
    return csrf_in(page.text)
