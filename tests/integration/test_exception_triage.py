"""Assigning and snoozing exceptions: the API, the console's queue and page, the audit."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from omniroute.api.app import create_app
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.audit import AuditFilter, list_entries
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context, bootstrap
from omniroute.core.exceptions import board, triage
from omniroute.core.exceptions import queue as exception_queue
from omniroute.core.platform.clock import utcnow
from omniroute.core.platform.security import Role
from omniroute.worker.handlers import drain
from tests.conftest import make_settings
from tests.integration.builders import build_world, order_body, post
from tests.integration.console_kit import make_user, session_csrf, sign_in


def iso_z(moment: datetime) -> str:
    return moment.replace(tzinfo=UTC).isoformat()


@dataclass
class MovableClock:
    """The wall clock (naive UTC, as every clock) until ``pin`` stops it; then moved by hand.
    The world is built first, so rows stamped at insert time are due on any date."""

    at: datetime | None = None

    def now(self) -> datetime:
        return self.at or utcnow()

    def pin(self) -> datetime:
        self.at = utcnow().replace(microsecond=0) + timedelta(seconds=1)
        return self.at


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def tctx(db_url: str, clock: MovableClock) -> Iterator[Context]:
    context = bootstrap(make_settings(db_url, console_cookie_secure=False), clock=clock)
    yield context
    context.close()


@pytest.fixture
def api(tctx: Context) -> Iterator[TestClient]:
    with TestClient(create_app(tctx)) as c:
        yield c


def bearer(ctx: Context, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(ctx, role=role, name=role.value)}"}


def unknown_sku_exceptions(ctx: Context, n: int) -> list[int]:
    with FakeWms() as wms:
        world = build_world(ctx, wms.base_url)
        for i in range(n):
            post(ctx, world, order_body(9_100 + i, [(f"NOT-A-SKU-{i}", 1)]))
        drain(ctx)
    return [x.id for x in exception_queue.list_exceptions(ctx)]


def test_assign_and_snooze_over_the_api_are_audited_and_checked(
    tctx: Context, api: TestClient, clock: MovableClock
) -> None:
    first, second = unknown_sku_exceptions(tctx, 2)
    t0 = clock.pin()
    support = bearer(tctx, Role.SUPPORT)

    took = api.post(
        f"/api/v1/exceptions/{first}/assign", json={"assignee": " dana "}, headers=support
    )
    assert took.status_code == 200, took.text
    assert (took.json()["assignee"], took.json()["assigned_at"]) == ("dana", iso_z(t0))
    mine = api.get("/api/v1/exceptions", params={"assignee": "dana"}, headers=support).json()
    assert [x["id"] for x in mine] == [first]

    until = (t0 + timedelta(hours=4)).replace(tzinfo=UTC).isoformat()
    slept = api.post(f"/api/v1/exceptions/{second}/snooze", json={"until": until}, headers=support)
    assert slept.status_code == 200, slept.text
    assert slept.json()["snoozed_until"] == iso_z(t0 + timedelta(hours=4))

    # A time UTC cannot hold (found by the OpenAPI fuzzer: it was a 500).
    odd = api.post(
        f"/api/v1/exceptions/{second}/snooze",
        json={"until": "0001-01-01T01:00:00.0+01:01"},
        headers=support,
    )
    assert (odd.status_code, odd.json()["code"]) == (422, "time_out_of_range")
    # Refused: a time gone by, more than 30 days ahead, a JSON type that is not a string.
    for bad in [(t0 - timedelta(minutes=1)).isoformat(), (t0 + timedelta(days=31)).isoformat()]:
        refused = api.post(
            f"/api/v1/exceptions/{second}/snooze", json={"until": bad}, headers=support
        )
        assert refused.status_code == 422 and refused.json()["code"] == "bad_snooze", refused.text
    assert (
        api.post(
            f"/api/v1/exceptions/{first}/assign", json={"assignee": 7}, headers=support
        ).status_code
        == 422
    )
    # A viewer reads but does not sort the queue.
    viewer = bearer(tctx, Role.VIEWER)
    assert (
        api.post(
            f"/api/v1/exceptions/{first}/assign", json={"assignee": "me"}, headers=viewer
        ).status_code
        == 403
    )

    # Closed exceptions are not sorted any more.
    exception_queue.close_exception(
        tctx, first, outcome=exception_queue.ExceptionStatus.DISMISSED, note="dup", actor="t"
    )
    late = api.post(f"/api/v1/exceptions/{first}/assign", json={"assignee": None}, headers=support)
    assert late.status_code == 409 and late.json()["code"] == "closed"

    actions = [
        (e["action"], e["before"], e["after"])
        for e in list_entries(tctx, AuditFilter(entity="exception"), limit=50)
    ]
    assert ("exception.assign", {"assignee": None}, {"assignee": "dana"}) in actions
    assert (
        "exception.snooze",
        {"snoozed_until": None},
        {"snoozed_until": (t0 + timedelta(hours=4)).isoformat()},
    ) in actions


def test_the_queue_hides_a_snoozed_exception_until_its_time_and_filters_by_assignee(
    tctx: Context, clock: MovableClock
) -> None:
    first, second, third = unknown_sku_exceptions(tctx, 3)
    t0 = clock.pin()
    triage.assign(tctx, first, "dana", actor="t")
    triage.snooze(tctx, second, t0 + timedelta(hours=1), actor="t")

    def ids(**where: object) -> list[int]:
        rows = board.list_queue(tctx, board.QueueFilter(**where), now=clock.now())  # type: ignore[arg-type]
        return [r["id"] for r in rows]

    assert ids() == [first, third]
    assert ids(include_snoozed=True) == [first, second, third]
    assert ids(assignee="dana") == [first]
    assert ids(assignee=board.UNASSIGNED) == [third]
    counts = board.counts_by_reason(tctx, board.QueueFilter(), now=clock.now())
    assert counts == [{"reason": "unknown_sku", "count": 2, "late": 0}]

    clock.at = t0 + timedelta(hours=1, seconds=1)  # its time has come
    assert ids() == [first, second, third]
    row = next(
        r for r in board.list_queue(tctx, board.QueueFilter(), now=clock.now()) if r["id"] == second
    )
    assert row["snoozed_until"] is None  # no longer asleep


def test_support_assigns_to_self_and_snoozes_from_the_console(
    tctx: Context, api: TestClient, clock: MovableClock
) -> None:
    first, second = unknown_sku_exceptions(tctx, 2)
    clock.pin()
    make_user(tctx, "erin", Role.SUPPORT)
    assert sign_in(api, "erin") == 303
    token = session_csrf(api)

    mine = api.post(
        f"/console/exceptions/{first}/assign",
        data={"csrf_token": token, "assignee": "me"},
        follow_redirects=False,
    )
    assert mine.status_code == 303
    page = api.get(f"/console/exceptions/{first}")
    assert '<dd id="exception-assignee">erin</dd>' in page.text

    slept = api.post(
        f"/console/exceptions/{second}/snooze",
        data={"csrf_token": token, "hours": "4"},
        follow_redirects=False,
    )
    assert slept.status_code == 303
    queue = api.get("/console/exceptions")
    assert f'aria-label="Exception {first}: unknown_sku"' in queue.text
    assert f'aria-label="Exception {second}: unknown_sku"' not in queue.text
    with_snoozed = api.get("/console/exceptions", params={"snoozed": "1"})
    assert f'aria-label="Exception {second}: unknown_sku"' in with_snoozed.text
    assert "(snoozed)" in with_snoozed.text
    only_mine = api.get("/console/exceptions", params={"assignee": "me"})
    assert f'aria-label="Exception {first}: unknown_sku"' in only_mine.text
    assert f'aria-label="Exception {second}: unknown_sku"' not in only_mine.text

    # Without the CSRF token nothing changes.
    forged = api.post(f"/console/exceptions/{second}/assign", data={"assignee": "mallory"})
    assert forged.status_code == 403
    woken = api.post(
        f"/console/exceptions/{second}/snooze",
        data={"csrf_token": token, "hours": "0"},
        follow_redirects=False,
    )
    assert woken.status_code == 303
    assert f'aria-label="Exception {second}: unknown_sku"' in api.get("/console/exceptions").text
