"""/metrics in the Celery deployment: the API serves the counters its worker processes write
(prometheus-client's multiprocess directory) and the gauges it reads from the database; a
worker's restart loses no count. Real processes on PostgreSQL and Redis.

Run: OMNIROUTE_TEST_PG_URL=postgresql://postgres@127.0.0.1:5432/postgres pytest tests/e2e
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.bootstrap import Context
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import InboundMessage, OutboxMessage
from tests.e2e.processes import ProcessStackFactory, free_port
from tests.e2e.test_celery_flow import make_world, released_count, status_counts
from tests.integration.builders import order_body, signed_headers

pytestmark = [pytest.mark.celery, pytest.mark.postgres]

FIRST_ORDER_ID = 7_300_000


def scrape(base_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_the_api_serves_every_worker_process_counters_and_the_database_gauges(
    make_stack: ProcessStackFactory, e2e_ctx: Context, wms: FakeWms, tmp_path: Path
) -> None:
    world = make_world(e2e_ctx, wms.base_url)
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    stack = make_stack(log_format="json")
    stack.env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    base_url = stack.serve(free_port())
    stack.beat()
    worker = stack.worker(concurrency=2, pool="prefork")

    def post(n: int) -> None:
        with httpx.Client(base_url=base_url, timeout=10) as client:
            for i in range(n):
                order_id = FIRST_ORDER_ID + i
                body = order_body(order_id, [("E2E-A", 1), ("E2E-B", 1)])
                answer = client.post(
                    f"/webhooks/{world.shopify_id}",
                    content=body,
                    headers={**signed_headers(body), "X-Request-ID": f"req-{order_id}"},
                )
                assert answer.status_code == 200, answer.text

    post(3)
    stack.wait_for(
        "3 orders released",
        lambda: released_count(e2e_ctx) == 3,
        timeout=60,
        describe=lambda: str(status_counts(e2e_ctx)),
    )
    samples = scrape(base_url)
    # Counted in the worker's pool processes, served by the API process.
    processed = value(samples, "omniroute_tasks_total", task="process_inbound", outcome="ok")
    assert processed >= 3
    assert value(samples, "omniroute_routing_seconds_count") >= 3
    assert (
        value(
            samples,
            "omniroute_intake_total",
            connector_id=str(world.shopify_id),
            outcome="accepted",
        )
        == 3
    )
    # Read from the database.
    assert value(samples, "omniroute_database_gauges_up") == 1
    assert value(samples, "omniroute_inbox_messages", status="pending") == 0
    assert ("omniroute_stock_push_lag_seconds", ()) in samples

    # The correlation id went through the queue: inbox row, outbox row, the WMS's header.
    with unit_of_work(e2e_ctx.sessions) as s:
        inbound = set(s.scalars(select(InboundMessage.correlation_id)))
        outbox = set(s.scalars(select(OutboxMessage.correlation_id)))
    expected = {f"req-{FIRST_ORDER_ID + i}" for i in range(3)}
    assert inbound == outbox == expected
    assert {r.headers.get("x-correlation-id") for r in wms.requests} == expected

    # OMNIROUTE_LOG_FORMAT=json: Celery's own lines go through omniroute's JSON handler too.
    logged = [json.loads(line) for line in worker.log_text().splitlines() if line.startswith("{")]
    assert any(entry["message"].endswith(" ready.") for entry in logged), worker.log_text()[-2000:]
    assert all({"ts", "level", "logger", "message"} <= set(entry) for entry in logged)

    # A worker that stops takes none of its counts with it.
    stack.expected_dead.add(worker.pid)
    worker.stop()
    after_stop = scrape(base_url)
    assert (
        value(after_stop, "omniroute_tasks_total", task="process_inbound", outcome="ok")
        == processed
    )
    stack.worker(concurrency=1, pool="solo")
    post_more = 2
    with httpx.Client(base_url=base_url, timeout=10) as client:
        for i in range(3, 3 + post_more):
            order_id = FIRST_ORDER_ID + i
            body = order_body(order_id, [("E2E-A", 1)])
            answer = client.post(
                f"/webhooks/{world.shopify_id}", content=body, headers=signed_headers(body)
            )
            assert answer.status_code == 200, answer.text
    stack.wait_for(
        "5 orders released",
        lambda: released_count(e2e_ctx) == 5,
        timeout=60,
        describe=lambda: str(status_counts(e2e_ctx)),
    )
    final = scrape(base_url)
    assert (
        value(final, "omniroute_tasks_total", task="process_inbound", outcome="ok")
        >= processed + post_more
    )
