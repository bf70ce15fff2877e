"""Bad orders through the real API: a clear 4xx or a kept exception, never a 500 or a loss.

Uploads whose structure cannot be read reliably are refused whole (422, naming the line),
before anything is stored; orders over the bounds of the canonical schema (quantity per line,
lines per order, money) are refused at upload and, when they come by webhook, kept as an
``invalid_payload`` exception without a line being written.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select

from omniroute.connectors.generic.webhooks import decode_secret, sign
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context
from omniroute.core.channels import connector_admin
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.models import (
    InboundMessage,
    OrderException,
    OrderLine,
    SalesOrder,
)
from omniroute.core.platform.security import Role
from omniroute.mapping.engine import MAX_LINE_QUANTITY, MAX_ORDER_LINES
from omniroute.worker.handlers import drain, run_task

URL = "/api/v1/orders/import"
CSV = {"Content-Type": "text/csv"}
JSON = {"Content-Type": "application/json"}
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
HEADER = "order_ref,sku,quantity,currency,note\n"


def ops(ctx: Context) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(ctx, role=Role.OPS, name='ops')}"}


def generic(ctx: Context, *, secret: str | None = None) -> int:
    """The generic connector for uploads ("phone") or signed webhooks ("pos"), made once."""
    name = "pos" if secret else "phone"
    for existing in connector_admin.list_connectors(ctx):
        if existing.name == name:
            return existing.id
    row = connector_admin.create_connector(
        ctx,
        kind="generic_webhook",
        name=name,
        config={"default_channel": "phone"},
        secrets={"webhook_secret": secret} if secret else {},
        enabled=True,
        actor="test",
    )
    return row.id


def post_upload(
    client: TestClient, ctx: Context, body: str | bytes, kind: dict[str, str]
) -> httpx.Response:
    content = body.encode() if isinstance(body, str) else body
    return client.post(
        URL, params={"connector_id": generic(ctx)}, headers={**ops(ctx), **kind}, content=content
    )


def count(ctx: Context, model: Any) -> int:
    with unit_of_work(ctx.sessions) as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def assert_refused(response: httpx.Response, line: int | None = None) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["code"] == "invalid_import"
    if line is not None:
        assert problem["errors"][0]["line"] == line
        assert f"line {line}" in problem["detail"]
    return problem


# --- CSV structure ------------------------------------------------------------------------


def test_a_quote_left_open_is_422_naming_the_line_and_stores_nothing(
    client: TestClient, ctx: Context
) -> None:
    text = HEADER + "A,MUG,1,USD,\n" + 'B,TEA,1,USD,"ring\n' + "C,MUG,2,USD,\n"
    assert_refused(post_upload(client, ctx, text, CSV), line=3)
    assert count(ctx, InboundMessage) == 0


def test_rows_swallowed_by_a_quote_closed_later_are_422_not_a_merged_order(
    client: TestClient, ctx: Context
) -> None:
    text = HEADER + 'A,MUG,1,USD,"ring\n' + 'B,TEA,2,USD,back door"\n'
    assert_refused(post_upload(client, ctx, text, CSV), line=2)
    assert count(ctx, InboundMessage) == 0


def test_a_row_with_a_missing_cell_is_422_naming_the_line(client: TestClient, ctx: Context) -> None:
    text = HEADER + "A,MUG,1,USD,\n" + "B,TEA,1,USD\n"
    problem = assert_refused(post_upload(client, ctx, text, CSV), line=3)
    assert "4 cells" in problem["detail"]
    assert count(ctx, InboundMessage) == 0


def test_a_cell_over_128_kib_is_422_not_500(client: TestClient, ctx: Context) -> None:
    text = HEADER + "A,MUG,1,USD,\n" + f"B,TEA,1,USD,{'n' * (129 * 1024)}\n"
    assert_refused(post_upload(client, ctx, text, CSV), line=3)
    assert count(ctx, InboundMessage) == 0


def test_a_row_error_in_the_outcome_names_its_line(client: TestClient, ctx: Context) -> None:
    text = HEADER + 'A,MUG,1,USD,"two\nlines"\n' + "B,TEA,lots,USD,\n"
    r = post_upload(client, ctx, text, CSV)
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["created"], report["failed"], report["errors_omitted"]) == (1, 1, 0)
    (error,) = report["errors"]
    assert (error["row"], error["line"], error["column"]) == (3, 4, "quantity")


# --- quantities -----------------------------------------------------------------------------


def test_a_quantity_over_the_maximum_is_422_at_upload(client: TestClient, ctx: Context) -> None:
    problem = assert_refused(post_upload(client, ctx, HEADER + f"A,MUG,{10**20},USD,\n", CSV))
    assert [(e["row"], e["column"]) for e in problem["errors"]] == [(2, "quantity")]
    order = {
        "external_id": "J-1",
        "channel": "phone",
        "currency": "USD",
        "cancelled": False,
        "lines": [{"external_line_id": "1", "channel_sku": "MUG", "quantity": 10**20}],
    }
    problem = assert_refused(post_upload(client, ctx, json.dumps([order]), JSON))
    assert [(e["row"], e["column"]) for e in problem["errors"]] == [(1, "lines[0].quantity")]
    assert count(ctx, InboundMessage) == 0


def signed(connector_id: int, body: bytes, message_id: str) -> dict[str, str]:
    stamp = int(time.time())
    return {
        "Content-Type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(decode_secret(SECRET), message_id, stamp, body),
    }


def webhook_order(lines: list[dict[str, Any]], external_id: str = "W-1") -> bytes:
    order = {
        "external_id": external_id,
        "channel": "pos",
        "currency": "USD",
        "cancelled": False,
        "ship_to": {"address1": "1 Main St", "postal_code": "10001", "country": "US"},
        "lines": lines,
    }
    return json.dumps({"type": "order.created", "data": order}).encode()


def kept_exception(ctx: Context) -> tuple[InboundMessage, OrderException]:
    with unit_of_work(ctx.sessions) as s:
        (msg,) = s.scalars(select(InboundMessage)).all()
        (exc,) = s.scalars(select(OrderException)).all()
        s.expunge_all()
    return msg, exc


@pytest.mark.parametrize("quantity", [10**20, MAX_LINE_QUANTITY + 1, -(10**20)])
def test_a_webhook_quantity_out_of_bounds_is_kept_as_invalid_payload_at_once(
    client: TestClient, ctx: Context, quantity: int
) -> None:
    connector_id = generic(ctx, secret=SECRET)
    body = webhook_order([{"external_line_id": "1", "channel_sku": "MUG", "quantity": quantity}])
    r = client.post(
        f"/webhooks/{connector_id}", headers=signed(connector_id, body, "m1"), content=body
    )
    assert r.status_code == 200, r.text
    drain(ctx)
    msg, exc = kept_exception(ctx)
    assert (msg.status, msg.attempts) == ("failed", 1)  # taken once, never retried
    assert (exc.reason, exc.status) == ("invalid_payload", "open")
    assert exc.detail["path"] == "lines[0].quantity"
    assert "INSERT" not in json.dumps(exc.detail) and "SQL" not in json.dumps(exc.detail)
    assert count(ctx, SalesOrder) == 0 and count(ctx, OrderLine) == 0


def test_a_webhook_quantity_at_the_maximum_is_an_order(client: TestClient, ctx: Context) -> None:
    connector_id = generic(ctx, secret=SECRET)
    line = {"external_line_id": "1", "channel_sku": "MUG", "quantity": MAX_LINE_QUANTITY}
    body = webhook_order([line])
    r = client.post(
        f"/webhooks/{connector_id}", headers=signed(connector_id, body, "m1"), content=body
    )
    assert r.status_code == 200, r.text
    drain(ctx)
    with unit_of_work(ctx.sessions) as s:
        (stored,) = s.scalars(select(OrderLine)).all()
        assert stored.quantity == MAX_LINE_QUANTITY
        reasons = set(s.scalars(select(OrderException.reason)))
    assert "invalid_payload" not in reasons and "processing_error" not in reasons


def test_a_nul_character_is_kept_as_invalid_payload_at_once(
    client: TestClient, ctx: Context
) -> None:
    """PostgreSQL refuses NUL in text and JSONB: refused by the mapping, body kept raw."""
    connector_id = generic(ctx, secret=SECRET)
    line = {"external_line_id": "1", "channel_sku": "MUG", "quantity": 1, "title": "Mug\u0000"}
    body = webhook_order([line])
    r = client.post(
        f"/webhooks/{connector_id}", headers=signed(connector_id, body, "m1"), content=body
    )
    assert r.status_code == 200, r.text
    drain(ctx)
    msg, exc = kept_exception(ctx)
    assert (msg.status, msg.attempts, msg.body) == ("failed", 1, body)
    assert (exc.reason, exc.detail["path"]) == ("invalid_payload", "lines[0].title")
    assert count(ctx, SalesOrder) == 0


def test_a_title_longer_than_its_column_is_clipped_and_kept_whole_in_the_order(
    client: TestClient, ctx: Context
) -> None:
    connector_id = generic(ctx, secret=SECRET)
    title = "Engraved mug, " + "x" * 2000
    line = {"external_line_id": "1", "channel_sku": "MUG", "quantity": 1, "title": title}
    body = webhook_order([line])
    r = client.post(
        f"/webhooks/{connector_id}", headers=signed(connector_id, body, "m1"), content=body
    )
    assert r.status_code == 200, r.text
    drain(ctx)
    with unit_of_work(ctx.sessions) as s:
        (stored,) = s.scalars(select(OrderLine)).all()
        order = s.scalars(select(SalesOrder)).one()
        assert stored.title is not None and len(stored.title) == 300
        assert stored.title.startswith("Engraved mug, ") and stored.title.endswith("…")
        assert order.canonical["lines"][0]["title"] == title
        reasons = set(s.scalars(select(OrderException.reason)))
    assert "processing_error" not in reasons and "invalid_payload" not in reasons


# --- lines per order --------------------------------------------------------------------------


def test_a_webhook_with_100000_lines_fails_fast_without_a_statement_per_line(
    client: TestClient, ctx: Context
) -> None:
    """The oversized order is refused before any line is mapped, checked or inserted: the
    worker's transaction runs a handful of statements, however many lines were sent, so it
    holds SQLite's write lock for no longer than any other bad payload."""
    connector_id = generic(ctx, secret=SECRET)
    body = webhook_order([{}] * 100_000)
    assert len(body) < ctx.settings.max_body_bytes
    r = client.post(
        f"/webhooks/{connector_id}", headers=signed(connector_id, body, "big"), content=body
    )
    assert r.status_code == 200, r.text
    (inbound_id,) = (row_id for _task, row_id in ctx.dispatcher.drain())  # type: ignore[attr-defined]

    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append(statement)
        rows = len(parameters) if isinstance(parameters, list) else 1
        assert rows < 10, f"a statement ran for {rows} rows: {statement[:80]}"

    event.listen(ctx.engine, "before_cursor_execute", seen)
    try:
        run_task(ctx, Task.PROCESS_INBOUND, inbound_id)
    finally:
        event.remove(ctx.engine, "before_cursor_execute", seen)
    assert len(statements) < 15, statements
    assert not any("order_line" in s for s in statements)
    msg, exc = kept_exception(ctx)
    assert (msg.status, msg.attempts) == ("failed", 1)
    assert exc.reason == "invalid_payload" and exc.detail["path"] == "lines"
    assert f"{MAX_ORDER_LINES:,}" in exc.detail["message"]
    assert count(ctx, SalesOrder) == 0 and count(ctx, OrderLine) == 0


def test_an_order_at_the_line_cap_is_processed(client: TestClient, ctx: Context) -> None:
    connector_id = generic(ctx, secret=SECRET)
    lines = [{"external_line_id": str(n), "channel_sku": "MUG", "quantity": 1} for n in range(1000)]
    assert len(lines) == MAX_ORDER_LINES
    body = webhook_order(lines)
    r = client.post(
        f"/webhooks/{connector_id}", headers=signed(connector_id, body, "cap"), content=body
    )
    assert r.status_code == 200, r.text
    drain(ctx)
    assert count(ctx, OrderLine) == MAX_ORDER_LINES
