"""``omniroute demo``: API, embedded worker, a fake WMS and signed demo orders on one machine."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import Counter

import httpx
import typer
import uvicorn

from omniroute.api.app import create_app
from omniroute.cli.demo.orders import shopify_order
from omniroute.cli.demo.seed import DemoSetup, seed
from omniroute.connectors.shopify.webhooks import sign
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.bootstrap import bootstrap
from omniroute.core.platform.migrate import upgrade
from omniroute.core.platform.settings import Settings
from omniroute.worker.embedded import EmbeddedRunner


def run_demo(
    settings: Settings, *, host: str, port: int, send_orders: int, exit_when_done: bool
) -> None:
    upgrade(settings.database_url)
    ctx = bootstrap(settings)
    wms = FakeWms()
    wms_url = wms.start()
    setup = seed(ctx, wms_url=wms_url)
    runner = EmbeddedRunner(ctx)
    ctx.dispatcher = runner
    app = create_app(ctx, on_startup=runner.start, on_shutdown=runner.stop)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    base = f"http://{host}:{port}"
    typer.echo(f"omniroute demo: API {base}  (OpenAPI: {base}/docs)")
    typer.echo(f"admin token: {setup.admin_token}")
    typer.echo(f"fake WMS: {wms_url}   database: {settings.database_url}")
    typer.echo(f"Shopify webhook URL: {base}/webhooks/{setup.shopify_connector_id}")
    if send_orders:
        threading.Thread(
            target=_send_and_report,
            daemon=True,
            args=(server, base, setup, send_orders, exit_when_done),
        ).start()
    try:
        server.run()
    finally:
        wms.stop()
        ctx.close()


def _send_and_report(
    server: uvicorn.Server, base: str, setup: DemoSetup, count: int, exit_when_done: bool
) -> None:
    while not server.started:
        time.sleep(0.05)
    rng = random.Random()  # noqa: S311 - demo data, not security
    first_id = int(time.time() * 1000) % 10**12
    headers = {"Authorization": f"Bearer {setup.admin_token}"}
    with httpx.Client(base_url=base, timeout=10) as client:
        started = time.perf_counter()
        order_ids = []
        for i in range(count):
            body = json.dumps(shopify_order(first_id + i, setup.skus, rng)).encode()
            client.post(
                f"/webhooks/{setup.shopify_connector_id}",
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Shopify-Topic": "orders/create",
                    "X-Shopify-Webhook-Id": str(uuid.uuid4()),
                    "X-Shopify-Hmac-Sha256": sign(setup.webhook_secret.encode(), body),
                },
            ).raise_for_status()
            order_ids.append(str(first_id + i))
        typer.echo(f"sent {count} signed Shopify orders")
        statuses = _wait_settled(client, headers, set(order_ids), timeout=60)
        elapsed = time.perf_counter() - started
        summary = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
        typer.echo(f"after {elapsed:.1f}s: {summary}")
        typer.echo(
            f"see them: curl -H 'Authorization: Bearer {setup.admin_token}' {base}/api/v1/orders"
        )
    if exit_when_done:
        server.should_exit = True


def _wait_settled(
    client: httpx.Client, headers: dict[str, str], external_ids: set[str], timeout: float
) -> Counter[str]:
    deadline = time.monotonic() + timeout
    settled = {"released", "exception", "backordered", "cancelled"}
    statuses: Counter[str] = Counter()
    while time.monotonic() < deadline:
        statuses = Counter()
        after = 0
        while True:
            page = client.get(
                "/api/v1/orders", headers=headers, params={"after_id": after, "limit": 1000}
            ).json()
            for order in page:
                if order["external_id"] in external_ids:
                    statuses[order["status"]] += 1
            if len(page) < 1000:
                break
            after = page[-1]["id"]
        if sum(n for s, n in statuses.items() if s in settled) >= len(external_ids):
            break
        time.sleep(0.2)
    return statuses
