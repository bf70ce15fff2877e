"""Fault drills: real processes (API, Celery workers, beat) against PostgreSQL, Redis and a
fake WMS on 127.0.0.1, with a server crashed or a process killed in the middle of a burst.

After each drill: every order the channel sent exists once and was released once (one
routing, one WMS order per fulfilment order under its idempotency key, stock reserved for
exactly what was ordered), every invariant of tests/invariants holds, and nothing is left
pending, claimed or open. Each drill is bounded in time.

Run: OMNIROUTE_TEST_PG_URL=postgresql://postgres@127.0.0.1:5432/postgres pytest tests/faults
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context, bootstrap
from omniroute.core.platform.migrate import upgrade
from omniroute.core.platform.security import Role
from tests.conftest import make_settings
from tests.e2e.flows import (
    ClientFactory,
    OrderSpec,
    assert_released_exactly_once,
    make_world,
    order_body,
    order_specs,
    post_orders,
    released_count,
    signed_headers,
    status_counts,
    unfinished,
    webhook_id,
)
from tests.e2e.processes import ProcessStack, ProcessStackFactory, free_port
from tests.faults.services import PrivatePostgres, PrivateRedis
from tests.integration.builders import World
from tests.invariants.checks import assert_invariants

pytestmark = [pytest.mark.celery, pytest.mark.postgres]

# Recovery settings for every drill: stale claims after 5 s, a sweep every second that
# nudges rows whose nudge is 2 s old and nudges again after 5 s; quick outbox retries.
RECOVERY = {"claim_timeout": 5, "sweep_interval": 1, "sweep_grace": 2, "renudge_interval": 5}


def deliver(client: httpx.Client, world: World, spec: OrderSpec, *, within: float) -> int:
    """Send one order as a channel does: again and again until it is acknowledged (2xx), for
    at most ``within`` seconds; returns how many tries it took. Every try must end in a
    bounded time: an answer (2xx, 429, 5xx) or a connection error, never a hang."""
    body = order_body(spec.shopify_id, list(spec.lines))
    deadline = time.monotonic() + within
    tries = 0
    while True:
        tries += 1
        started = time.monotonic()
        try:
            response = client.post(
                f"/webhooks/{world.shopify_id}",
                content=body,
                headers=signed_headers(body, webhook_id=webhook_id(spec)),
            )
            if response.status_code == 200:
                assert response.json()["status"] in {"accepted", "duplicate"}, response.text
                return tries
            assert response.status_code in {429, 500, 502, 503}, response.text
        except httpx.TransportError:
            pass
        assert time.monotonic() - started < 20, "a webhook try hung for 20 s"
        assert time.monotonic() < deadline, f"order {spec.shopify_id} never acknowledged"
        time.sleep(0.2)


def deliver_all(
    client: httpx.Client, world: World, specs: list[OrderSpec], *, within: float = 90
) -> int:
    """Every order delivered (with retries), 4 at a time; the tries beyond the first."""
    with ThreadPoolExecutor(4) as pool:
        tries = list(pool.map(lambda s: deliver(client, world, s, within=within), specs))
    return sum(tries) - len(specs)


def wait_all_released(stack: ProcessStack, ctx: Context, total: int, timeout: float) -> float:
    started = time.monotonic()
    stack.wait_for(
        f"all {total} orders to be released",
        lambda: released_count(ctx) == total,
        timeout=timeout,
        interval=0.2,
        describe=lambda: unfinished(ctx),
    )
    return time.monotonic() - started


def start_api_and_beat(stack: ProcessStack, port: int | None = None) -> str:
    base_url = stack.serve(port or free_port())
    stack.beat()
    return base_url


def test_redis_crash_with_tasks_in_flight(
    *,
    fault_stack: ProcessStackFactory,
    e2e_db: str,
    e2e_ctx: Context,
    wms: FakeWms,
    api: ClientFactory,
    private_redis: PrivateRedis,
) -> None:
    """The broker dies with nudges queued and tasks running: the queued nudges are lost with
    it; webhooks keep being acknowledged meanwhile (committed first); once Redis is back,
    the sweeper's nudges finish every order, once."""
    specs = order_specs(120)
    world = make_world(e2e_ctx, wms.base_url)
    stack = fault_stack(database_url=e2e_db, broker_url=private_redis.url, **RECOVERY)
    client = api(start_api_and_beat(stack))
    post_orders(client, world, specs[:60])  # queued while no worker runs
    stack.worker(concurrency=2, timeout=90)
    stack.wait_for(
        "the worker to release 10 orders",
        lambda: released_count(e2e_ctx) >= 10,
        timeout=60,
        interval=0.05,
    )
    queued_at_crash = private_redis.queued()
    private_redis.crash()
    # The broker is down: the API still takes webhooks (the inbox is the truth).
    redelivered = deliver_all(client, world, specs[60:90], within=30)
    during = status_counts(e2e_ctx)
    time.sleep(2)
    private_redis.start()
    post_orders(client, world, specs[90:])
    took = wait_all_released(stack, e2e_ctx, len(specs), timeout=120)
    print(
        f"\nRedis crashed with {queued_at_crash} queued message(s); webhooks during the "
        f"outage needed {redelivered} extra tries; states then: {during}; all released "
        f"{took:.1f}s after the restart"
    )
    assert redelivered == 0, "webhooks must be acknowledged while the broker is down"
    assert queued_at_crash > 0, "the crash should have lost queued nudges"
    assert_released_exactly_once(e2e_ctx, wms, specs)
    assert_invariants(e2e_ctx, wms)


def test_api_sigkill_mid_intake(
    *,
    fault_stack: ProcessStackFactory,
    e2e_db: str,
    e2e_ctx: Context,
    wms: FakeWms,
    api: ClientFactory,
    broker_url: str,
) -> None:
    """The API is SIGKILLed while webhooks pour in: what it acknowledged is committed, what
    it did not is redelivered by the channel after the restart; each order exists once."""
    specs = order_specs(150)
    world = make_world(e2e_ctx, wms.base_url)
    stack = fault_stack(database_url=e2e_db, broker_url=broker_url, **RECOVERY)
    port = free_port()
    client = api(start_api_and_beat(stack, port))
    stack.worker(concurrency=2, timeout=90)
    api_proc = next(p for p in stack.processes if p.name == "serve")
    with ThreadPoolExecutor(1) as sender:
        pouring = sender.submit(deliver_all, client, world, specs, within=120)
        stack.wait_for(
            "40 orders in the inbox",
            lambda: sum(status_counts(e2e_ctx)["inbound"].values()) >= 40,
            timeout=60,
            interval=0.02,
        )
        stack.kill(api_proc)
        time.sleep(1)
        stack.serve(port, timeout=60)
        redelivered = pouring.result(timeout=150)
    took = wait_all_released(stack, e2e_ctx, len(specs), timeout=120)
    print(f"\nAPI SIGKILLed mid-intake: {redelivered} redeliveries; released {took:.1f}s later")
    assert redelivered > 0, "the kill should have cut some webhooks off"
    assert_released_exactly_once(e2e_ctx, wms, specs)
    assert_invariants(e2e_ctx, wms)


def test_wms_storm_and_slow_answers(
    *,
    fault_stack: ProcessStackFactory,
    e2e_db: str,
    e2e_ctx: Context,
    wms: FakeWms,
    api: ClientFactory,
    broker_url: str,
) -> None:
    """The WMS answers 503 to 60 releases in a row, then slower than the caller's timeout
    (it takes each order but the answer comes too late): every release reaches it once
    (the late answers are asked again under the same key), none is dead-lettered."""
    specs = order_specs(60)
    world = make_world(e2e_ctx, wms.base_url)
    stack = fault_stack(
        database_url=e2e_db,
        broker_url=broker_url,
        http_timeout=0.5,
        outbox_max_attempts=30,
        **RECOVERY,
    )
    client = api(start_api_and_beat(stack))
    stack.worker(concurrency=2, timeout=90)
    wms.fail_next(60, status=503)
    post_orders(client, world, specs[:30])
    stack.wait_for(
        "the 503 storm to pass",
        lambda: not wms.failures_left,
        timeout=60,
        interval=0.1,
        describe=lambda: unfinished(e2e_ctx),
    )
    wms.answer_late(0.8)
    post_orders(client, world, specs[30:50])
    time.sleep(3)
    wms.answer_late(None)
    post_orders(client, world, specs[50:])
    took = wait_all_released(stack, e2e_ctx, len(specs), timeout=120)
    print(f"\nWMS storm: all released {took:.1f}s after the last post")
    assert_released_exactly_once(e2e_ctx, wms, specs)
    assert_invariants(e2e_ctx, wms)


@pytest.fixture
def pg_world(private_pg: PrivatePostgres) -> Iterator[tuple[str, Context]]:
    """A migrated database on the private cluster, and a context on it."""
    url = private_pg.create_database("drill")
    upgrade(url)
    ctx = bootstrap(make_settings(url))
    yield url, ctx
    ctx.close()


def test_postgres_crash_mid_run(
    *,
    fault_stack: ProcessStackFactory,
    pg_world: tuple[str, Context],
    private_pg: PrivatePostgres,
    wms: FakeWms,
    broker_url: str,
    tmp_path: Path,
) -> None:
    """PostgreSQL crashes (immediate stop) with orders at every stage and comes back 5 s
    later: requests meanwhile fail fast (503/500 or a closed connection, never a hang), the
    pools drop their dead connections, and every order the channel sent is released once."""
    url, ctx = pg_world
    specs = order_specs(100)
    world = make_world(ctx, wms.base_url)
    token = create_token(ctx, role=Role.ADMIN, name="drill")
    stack = fault_stack(database_url=url, broker_url=broker_url, request_timeout=10, **RECOVERY)
    base_url = start_api_and_beat(stack)
    stack.worker(concurrency=2, timeout=90)
    with httpx.Client(
        base_url=base_url, timeout=30, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        post_orders(client, world, specs[:50])
        stack.wait_for(
            "10 orders released",
            lambda: released_count(ctx) >= 10,
            timeout=60,
            interval=0.05,
        )
        private_pg.crash()
        started = time.monotonic()
        try:
            ready = client.get("/readyz").status_code
        except httpx.TransportError:
            ready = 0
        assert time.monotonic() - started < 15, "readiness hung while PostgreSQL was down"
        assert ready != 200, "ready while the database is down"
        with ThreadPoolExecutor(1) as sender:
            # The channel keeps sending: tries fail until the database is back.
            pouring = sender.submit(deliver_all, client, world, specs[50:], within=120)
            time.sleep(5)
            private_pg.start()
            redelivered = pouring.result(timeout=150)
        took = wait_all_released(stack, ctx, len(specs), timeout=120)
    print(
        f"\nPostgreSQL crashed for ~5 s: {redelivered} webhook tries refused meanwhile; "
        f"all released {took:.1f}s after the restart"
    )
    ctx.engine.dispose()  # the test's own pool lost its connections in the crash too
    assert_released_exactly_once(ctx, wms, specs)
    assert_invariants(ctx, wms)
