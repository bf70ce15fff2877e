"""Fault drill: a channel's credentials are revoked in the middle of a poll.

The seller revokes the app on Amazon while omniroute reads its orders page by page. What
was read before stays (committed with the cursor, page by page); the poll fails with a
reason ops can act on, shown in the connector's health; nothing is read twice or skipped;
once ops save the new refresh token, the next poll goes on from the page that failed.
Runs in process (SQLite, and PostgreSQL when configured) against the fake SP-API server.
"""

from __future__ import annotations

from sqlalchemy import select

from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import ConnectorCursor
from omniroute.core.platform.security import Role
from tests.integration.amazon_fake_api import ORDERS_PATH
from tests.integration.conftest import client
from tests.integration.test_amazon_channel_e2e import (
    ITEMS_ORDER,
    SECRETS,
    Amazon,
    amazon,
    headers_for,
    inbox_count,
    released_to_wms,
    seed,
)
from tests.invariants.checks import assert_invariants

__all__ = ["amazon", "client"]  # fixtures, used by name

NEW_REFRESH_TOKEN = "Atzr|e2e-refresh-after-reauthorisation"


def page_token(amz: Amazon) -> str | None:
    with unit_of_work(amz.ctx.sessions) as s:
        return s.scalar(
            select(ConnectorCursor.page_token).where(ConnectorCursor.connector_id == amz.cid)
        )


def test_credentials_revoked_mid_poll_lose_nothing_and_the_poll_resumes_after_the_fix(
    amazon: Amazon,
) -> None:
    amz = amazon
    seed(amz)  # three orders to read past the recorded first page: two on one page, one after
    amz.api.revoke_mid_poll(SECRETS["refresh_token"], after_pages=1)

    amz.poll()

    health = amz.health()
    assert health["consecutive_failures"] == 1
    assert health["last_error"].startswith("lwa_invalid_grant: "), health["last_error"]
    assert "save the new refresh token" in health["last_error"]
    assert health["poll_in_progress"] is True  # the run waits at its page; not abandoned
    # The page read before the revocation was kept, with the cursor on the page after it.
    before_fix = amz.orders()
    assert sorted(before_fix) == sorted([ITEMS_ORDER, "111-2000002-0000002"])
    assert inbox_count(amz.ctx) == 2
    stopped_at = page_token(amz)
    assert stopped_at is not None

    # Retrying with the revoked token changes nothing and loses nothing.
    amz.poll()
    assert amz.health()["consecutive_failures"] == 2
    assert inbox_count(amz.ctx) == 2 and page_token(amz) == stopped_at

    # An admin saves the new refresh token (the seller authorised the app again).
    patched = amz.client.patch(
        f"/api/v1/connectors/{amz.cid}",
        json={"secrets": {**SECRETS, "refresh_token": NEW_REFRESH_TOKEN}},
        headers=headers_for(amz.ctx, Role.ADMIN),
    )
    assert patched.status_code == 200, patched.text
    assert NEW_REFRESH_TOKEN not in patched.text  # secrets are never returned
    mark = amz.mark()

    amz.poll()

    orders_calls = [r for r in amz.since(mark) if r.path == ORDERS_PATH]
    assert orders_calls[0].query.get("NextToken") == [stopped_at], "resumed at the failed page"
    health = amz.health()
    assert (health["consecutive_failures"], health["poll_in_progress"]) == (0, False)
    orders = amz.orders()
    assert sorted(orders) == sorted([ITEMS_ORDER, "111-2000002-0000002", "111-2000003-0000003"])
    assert {o["status"] for o in orders.values()} == {"released"}
    assert inbox_count(amz.ctx) == 3
    assert len(released_to_wms(amz)) == 3 == amz.wms.accepted_count
    assert_invariants(amz.ctx, amz.wms)
