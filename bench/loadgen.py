"""Load generator: replays pre-signed webhook requests over keep-alive HTTP/1.1 connections.

It runs in its own process so that its CPU does not count against the server's. Requests come
from a JSON-lines file (``{"headers": {...}, "body": "..."}``) written before timing; each is
encoded to raw bytes before the clock starts, so the loop only writes, reads and times.

  --mode max    ``--concurrency`` connections, each sending its next request as soon as the
                previous answer arrived (closed loop); latency = send to full response.
  --mode rate   open loop at ``--rate`` requests/s for ``--duration`` s over up to
                ``--connections`` connections; latency is measured from each request's
                scheduled send time, so a stalled server is not hidden (no coordinated omission).

Prints one JSON object on stdout (counts, requests/s, latency percentiles in ms, CPU used).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import resource
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TIMEOUT = 10.0
OK = {200, 201, 202}
# Reopen a connection idle this long, before the server's keep-alive timeout (uvicorn: 5 s)
# closes it under us, as HTTP clients do (httpx: keepalive_expiry).
KEEPALIVE_EXPIRY = 4.0


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    first_send: float = 0.0
    last_done: float = 0.0


class Conn:
    """One keep-alive HTTP/1.1 connection; reconnects after an error."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.last_used = 0.0

    async def request(self, raw: bytes) -> int:
        if self.writer is not None and time.monotonic() - self.last_used > KEEPALIVE_EXPIRY:
            self.close()
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(raw)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        pairs = (ln.partition(":") for ln in lines[1:])
        fields = {k.strip().lower(): v.strip() for k, _, v in pairs}
        if "content-length" not in fields:
            raise RuntimeError("response without Content-Length")
        await self.reader.readexactly(int(fields["content-length"]))
        self.last_used = time.monotonic()
        if fields.get("connection", "").lower() == "close":
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def load_requests(path: Path, host: str, port: int, target: str) -> list[bytes]:
    raws = []
    for line in path.read_text().splitlines():
        item = json.loads(line)
        body = item["body"].encode()
        head = [f"POST {target} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in item["headers"].items()]
        raws.append(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    return raws


async def timed(conn: Conn, raw: bytes, tally: Tally, started: float) -> None:
    try:
        status = await asyncio.wait_for(conn.request(raw), TIMEOUT)
    except (
        OSError,
        asyncio.IncompleteReadError,
        asyncio.LimitOverrunError,
        RuntimeError,
        ValueError,
        TimeoutError,
    ) as exc:
        conn.close()
        tally.errors[type(exc).__name__] += 1
        return
    done = time.perf_counter()
    tally.last_done = max(tally.last_done, done)
    if status in OK:
        tally.latencies.append(done - started)
    else:
        tally.errors[f"HTTP {status}"] += 1


async def run_max(raws: list[bytes], host: str, port: int, concurrency: int) -> Tally:
    tally = Tally()
    queue = iter(raws)

    async def worker() -> None:
        conn = Conn(host, port)
        for raw in queue:
            await timed(conn, raw, tally, time.perf_counter())
        conn.close()

    tally.first_send = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return tally


async def run_rate(raws: list[bytes], host: str, port: int, rate: float, connections: int) -> Tally:
    tally = Tally()
    idle: asyncio.LifoQueue[Conn] = asyncio.LifoQueue()
    for _ in range(connections):
        idle.put_nowait(Conn(host, port))

    async def one(raw: bytes, scheduled: float) -> None:
        conn = await idle.get()
        try:
            await timed(conn, raw, tally, scheduled)
        finally:
            idle.put_nowait(conn)

    tasks = []
    start = tally.first_send = time.perf_counter() + 0.05
    for i, raw in enumerate(raws):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(raw, scheduled)))
    await asyncio.gather(*tasks)
    while not idle.empty():
        idle.get_nowait().close()
    return tally


def summary(tally: Tally, mode: str, sent: int) -> dict[str, Any]:
    lat = sorted(x * 1000 for x in tally.latencies)
    elapsed = max(tally.last_done - tally.first_send, 1e-9)

    def pct(q: float) -> float:
        return round(lat[max(0, math.ceil(q / 100 * len(lat)) - 1)], 2) if lat else 0.0

    usage = resource.getrusage(resource.RUSAGE_SELF)
    wall_offset = time.time() - time.perf_counter()
    return {
        "mode": mode,
        "sent": sent,
        "ok": len(lat),
        "errors": sum(tally.errors.values()),
        "error_kinds": dict(tally.errors),
        "elapsed_s": round(elapsed, 3),
        "rps": round(len(lat) / elapsed, 1),
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "max_ms": round(lat[-1], 2) if lat else 0.0,
        "first_send_epoch": tally.first_send + wall_offset,
        "last_done_epoch": tally.last_done + wall_offset,
        "loadgen_cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True, help="request target, e.g. /webhooks/1")
    parser.add_argument("--requests", type=Path, required=True, help="JSON-lines requests file")
    parser.add_argument("--mode", choices=["max", "rate"], default="max")
    parser.add_argument("--concurrency", type=int, default=32, help="max mode: connections")
    parser.add_argument("--rate", type=float, default=200.0, help="rate mode: requests/s")
    parser.add_argument("--duration", type=float, default=15.0, help="rate mode: seconds")
    parser.add_argument("--connections", type=int, default=64, help="rate mode: pool size")
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("load is only ever sent to this machine (127.0.0.1)")
    raws = load_requests(args.requests, args.host, args.port, args.path)
    if args.mode == "rate":
        raws = raws[: int(args.rate * args.duration)]
        tally = asyncio.run(run_rate(raws, args.host, args.port, args.rate, args.connections))
    else:
        tally = asyncio.run(run_max(raws, args.host, args.port, args.concurrency))
    print(json.dumps(summary(tally, args.mode, len(raws))))


if __name__ == "__main__":
    main()
