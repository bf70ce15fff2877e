"""Every console page and action tried by a signed-in user of each role: refused (the 403
page) exactly where the permission table says, as the API's routes are by token."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from omniroute.api.app import create_app
from omniroute.core.access.permissions import Permission, allows
from omniroute.core.bootstrap import Context
from omniroute.core.platform.security import Role
from tests.integration.console_kit import make_user, session_csrf, sign_in
from tests.integration.test_role_table import CONSOLE, PUBLIC, ROUTES

CONSOLE_ROUTES = {
    key: permission
    for key, permission in ROUTES.items()
    if key[1].startswith(CONSOLE) and permission != PUBLIC
}


def test_the_console_has_pages_to_check() -> None:
    assert len(CONSOLE_ROUTES) >= 10


def test_each_role_is_refused_exactly_where_the_table_says(cctx: Context) -> None:
    wrong: list[str] = []
    with TestClient(create_app(cctx)) as client:
        for (method, path), _ in sorted(CONSOLE_ROUTES.items()):
            url = re.sub(r"\{[^}]+\}", "999999", path)
            anonymous = client.request(method, url, follow_redirects=False)
            assert anonymous.status_code in (303, 401), f"{method} {path} with no session"
        for role in Role:
            make_user(cctx, f"user-{role.value}", role)
            client.cookies.clear()
            assert sign_in(client, f"user-{role.value}") == 303
            token = session_csrf(client)
            for (method, path), permission in sorted(CONSOLE_ROUTES.items()):
                assert isinstance(permission, Permission)
                url = re.sub(r"\{[^}]+\}", "999999", path)
                data = {"csrf_token": token} if method == "POST" else None
                got = client.request(method, url, data=data, follow_redirects=False).status_code
                assert got < 500 and got not in (303, 401), f"{role} {method} {path}: {got}"
                if (got == 403) == allows(role, permission):
                    wrong.append(f"{role} {method} {path} ({permission}): {got}")
    assert not wrong, "\n".join(wrong)
