"""The bare baseline for webhook intake: verify the Shopify HMAC, INSERT the raw body, 200.

A plain ASGI app with no framework, run by uvicorn exactly as ``omniroute serve`` runs the
API (one process, default event loop and HTTP parser). It runs the blocking database call
in a plain thread pool of BENCH_BASELINE_THREADS (10) threads, the same cheap hop as
omniroute's webhook handler (a pool of OMNIROUTE_DB_POOL_SIZE = 10 threads). Each thread
keeps its own psycopg connection in autocommit mode, so the row is committed before the 200
goes out (omniroute also inserts in autocommit, on a pooled connection).

  BENCH_PG_DSN=postgresql://postgres@127.0.0.1:5432/omniroute_bench \
  BENCH_WEBHOOK_SECRET=... uvicorn --app-dir bench baseline_app:app --port 8732

The table ``baseline_inbox(id bigserial primary key, body bytea not null,
received_at timestamptz not null default now())`` must exist (webhook_intake.py creates it).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import os
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

DSN = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/omniroute_bench")
SECRET = os.environ.get("BENCH_WEBHOOK_SECRET", "").encode()
INSERT = "INSERT INTO baseline_inbox (body) VALUES (%s) RETURNING id"

_local = threading.local()
_threads = ThreadPoolExecutor(
    max_workers=int(os.environ.get("BENCH_BASELINE_THREADS", "10")), thread_name_prefix="insert"
)


def verified(body: bytes, header: bytes | None) -> bool:
    """Constant-time check of ``X-Shopify-Hmac-Sha256`` over the raw body."""
    if not SECRET or not header:
        return False
    try:
        received = base64.b64decode(header.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(hmac.new(SECRET, body, hashlib.sha256).digest(), received)


def insert(body: bytes) -> int:
    """INSERT and commit (autocommit) on this thread's own connection; the new id."""
    conn: psycopg.Connection[Any] | None = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = psycopg.connect(DSN, autocommit=True)
        _local.conn = conn
    row = conn.execute(INSERT, (body,)).fetchone()
    assert row is not None
    return int(row[0])


async def respond(send: Send, status: int, payload: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "http":
        return
    if scope["method"] == "GET" and scope["path"] == "/healthz":
        await respond(send, 200, b'{"status":"ok"}')
        return
    if scope["method"] != "POST":
        await respond(send, 405, b'{"error":"method not allowed"}')
        return
    body = await read_body(receive)
    header = dict(scope["headers"]).get(b"x-shopify-hmac-sha256")
    if not verified(body, header):
        await respond(send, 401, b'{"error":"bad signature"}')
        return
    row_id = await asyncio.get_running_loop().run_in_executor(_threads, insert, body)
    await respond(send, 200, b'{"status":"accepted","inbound_id":%d}' % row_id)
