"""A small real HTTP fake WMS for the demo and end-to-end tests (127.0.0.1 only).

It speaks the REST WMS protocol of ``connectors.wms.rest``::

    with FakeWms() as wms:
        connector = RestWmsConnector({"base_url": wms.base_url}, {}, runtime=dev_runtime)
        wms.fail_next(1, status=503)
        connector.release(request)        # TransientError: the outbox tries again later
        connector.release(request)        # accepted
        assert wms.accepted_count == 1

Endpoints: ``POST /fulfilment-orders`` (needs ``Idempotency-Key``; a replayed key gets the
stored response again, marked ``Idempotent-Replayed: true``; the same key with a different
body gets 409), ``POST /fulfilment-orders/{id}/cancel`` (the REST WMS cancel contract:
200 ``cancelled``, 409 ``picked`` once ``pick(id)`` was called, 404 ``unknown_order`` for an
id never accepted; keyed and replayed like a release), ``POST /returns`` (an expected return,
keyed and replayed like a release: 201 with the WMS's id) and ``GET /healthz``.
Standalone: ``python -m omniroute.connectors.wms.demo_server``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, NamedTuple

from omniroute.connectors.local_server import LocalServer, TrackingServer

__all__ = ["FakeWms", "RecordedRequest"]

logger = logging.getLogger("omniroute.demo_wms")

RELEASE_PATH = "/fulfilment-orders"
CANCEL_SUFFIX = "/cancel"
RETURN_PATH = "/returns"
HEALTH_PATH = "/healthz"


class RecordedRequest(NamedTuple):
    """One request as received; header names are lower-cased, ``body`` is None if not JSON."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class _Reply:
    status: int
    body: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class _State:
    """Everything the handlers share; guarded by ``lock``."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    accepted: dict[str, Any] = field(default_factory=dict)
    replies: dict[str, _Reply] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    failures_left: int = 0
    failure_status: int = 500
    failure_retry_after: float | None = None
    down: bool = False
    answer_delay: float | None = None
    rejected_skus: frozenset[str] = frozenset()
    counter: int = 0
    picked: set[int] = field(default_factory=set)
    cancelled: dict[str, Any] = field(default_factory=dict)
    cancel_replies: dict[str, _Reply] = field(default_factory=dict)
    returns: dict[str, Any] = field(default_factory=dict)
    return_replies: dict[str, _Reply] = field(default_factory=dict)


class FakeWms(LocalServer):
    """A threaded HTTP fake WMS with failure injection and thread-safe introspection."""

    what = "FakeWms"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self._state = _State()

    def bind(self, address: tuple[str, int]) -> TrackingServer:
        return _Server(address, _Handler, self._state)

    # --- failure injection -------------------------------------------------------------------

    def fail_next(self, n: int, status: int = 500, retry_after: float | None = None) -> None:
        """Answer the next ``n`` requests (any path) with ``status``, plus Retry-After if given."""
        with self._state.lock:
            self._state.failures_left = n
            self._state.failure_status = status
            self._state.failure_retry_after = retry_after

    @property
    def failures_left(self) -> int:
        """How many of the failures asked for with :meth:`fail_next` are still to come."""
        with self._state.lock:
            return self._state.failures_left

    def set_down(self, down: bool) -> None:
        """While down, every request is answered 503."""
        with self._state.lock:
            self._state.down = down

    def answer_late(self, seconds: float | None) -> None:
        """Take each request at once but answer it ``seconds`` late (None: on time again).

        A WMS slower than its caller's timeout: the order is accepted, and the answer
        arrives after the caller has given up (if it waited that long, it would get it).
        """
        with self._state.lock:
            self._state.answer_delay = seconds

    def reject_skus(self, skus: Iterable[str]) -> None:
        """Answer 422 to orders with any of these SKUs (replaces the previous set)."""
        with self._state.lock:
            self._state.rejected_skus = frozenset(skus)

    def pick(self, fulfilment_order_id: int) -> None:
        """The warehouse has picked this order: a cancel of it is now too late."""
        with self._state.lock:
            self._state.picked.add(fulfilment_order_id)

    # --- introspection -----------------------------------------------------------------------

    @property
    def accepted(self) -> dict[str, Any]:
        """Idempotency key → payload of every order accepted (a copy)."""
        with self._state.lock:
            return dict(self._state.accepted)

    @property
    def accepted_count(self) -> int:
        with self._state.lock:
            return len(self._state.accepted)

    @property
    def cancelled(self) -> dict[str, Any]:
        """Idempotency key → body of every cancel that cancelled something (a copy)."""
        with self._state.lock:
            return dict(self._state.cancelled)

    @property
    def returns(self) -> dict[str, Any]:
        """Idempotency key → body of every expected return taken (a copy)."""
        with self._state.lock:
            return dict(self._state.returns)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, failed ones included, oldest first (a copy)."""
        with self._state.lock:
            return list(self._state.requests)


class _Server(TrackingServer):
    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], state: _State
    ) -> None:
        self.state = state
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, so clients exercise connection reuse
    disable_nagle_algorithm = True  # headers and body go out in two writes; avoid 40 ms stalls
    timeout = 30  # idle keep-alive connections give their thread back after this

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    def _handle(self, method: str) -> None:
        body = _parse_json(self._read_body())
        headers = {name.lower(): value for name, value in self.headers.items()}
        path = self.path.split("?", 1)[0]
        state = self.server.state
        with state.lock:
            state.requests.append(RecordedRequest(method, path, headers, body))
            reply = _injected_failure(state) or _route(state, method, path, headers, body)
            delay = state.answer_delay
        if delay is None:
            self._send(reply)
            return
        time.sleep(delay)
        # The caller may have given up and closed the connection; say so in the answer too,
        # or a patient caller would reuse a connection this side is about to close.
        self.close_connection = True
        with contextlib.suppress(OSError):
            self._send(reply, close=True)

    def _read_body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, reply: _Reply, *, close: bool = False) -> None:
        data = json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if close:
            self.send_header("Connection", "close")
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _parse_json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _injected_failure(state: _State) -> _Reply | None:
    if state.down:
        return _Reply(503, {"error": "service unavailable"})
    if state.failures_left <= 0:
        return None
    state.failures_left -= 1
    headers: tuple[tuple[str, str], ...] = ()
    if state.failure_retry_after is not None:
        headers = (("Retry-After", _format_seconds(state.failure_retry_after)),)
    return _Reply(state.failure_status, {"error": "injected failure"}, headers)


def _route(state: _State, method: str, path: str, headers: dict[str, str], body: Any) -> _Reply:
    if path == HEALTH_PATH and method == "GET":
        return _Reply(200, {"status": "ok"})
    if path == RELEASE_PATH and method == "POST":
        return _create_order(state, headers, body)
    if path == RETURN_PATH and method == "POST":
        return _expect_return(state, headers, body)
    fo_id = _cancel_target(path)
    if fo_id is not None and method == "POST":
        return _cancel_order(state, fo_id, headers, body)
    if path in (HEALTH_PATH, RELEASE_PATH, RETURN_PATH) or fo_id is not None:
        return _Reply(405, {"error": "method not allowed"})
    return _Reply(404, {"error": "not found"})


def _create_order(state: _State, headers: dict[str, str], body: Any) -> _Reply:
    key = headers.get("idempotency-key", "").strip()
    if not key:
        return _Reply(400, {"error": "missing Idempotency-Key"})
    if not isinstance(body, dict):
        return _Reply(400, {"error": "body must be a JSON object"})
    if key in state.replies:
        if state.accepted[key] != body:
            return _Reply(409, {"error": "Idempotency-Key reused with a different body"})
        stored = state.replies[key]
        return _Reply(stored.status, stored.body, (("Idempotent-Replayed", "true"),))
    unknown = sorted(_skus(body) & state.rejected_skus)
    if unknown:
        return _Reply(422, {"error": "unknown sku", "skus": unknown})
    state.counter += 1
    reply = _Reply(201, {"id": f"WMS-{state.counter}", "status": "accepted"})
    state.accepted[key] = body
    state.replies[key] = reply
    return reply


def _expect_return(state: _State, headers: dict[str, str], body: Any) -> _Reply:
    key = headers.get("idempotency-key", "").strip()
    if not key:
        return _Reply(400, {"error": "missing Idempotency-Key"})
    if not isinstance(body, dict):
        return _Reply(400, {"error": "body must be a JSON object"})
    if key in state.return_replies:
        if state.returns[key] != body:
            return _Reply(409, {"error": "Idempotency-Key reused with a different body"})
        stored = state.return_replies[key]
        return _Reply(stored.status, stored.body, (("Idempotent-Replayed", "true"),))
    state.counter += 1
    reply = _Reply(201, {"id": f"RET-{state.counter}", "status": "expected"})
    state.returns[key] = body
    state.return_replies[key] = reply
    return reply


def _cancel_target(path: str) -> int | None:
    """The fulfilment order id of ``/fulfilment-orders/{id}/cancel``; None for other paths."""
    prefix = RELEASE_PATH + "/"
    if not (path.startswith(prefix) and path.endswith(CANCEL_SUFFIX)):
        return None
    middle = path[len(prefix) : -len(CANCEL_SUFFIX)]
    return int(middle) if middle.isdigit() else None


def _cancel_order(state: _State, fo_id: int, headers: dict[str, str], body: Any) -> _Reply:
    key = headers.get("idempotency-key", "").strip()
    if not key:
        return _Reply(400, {"error": "missing Idempotency-Key"})
    if not isinstance(body, dict):
        return _Reply(400, {"error": "body must be a JSON object"})
    if key in state.cancel_replies:
        stored = state.cancel_replies[key]
        return _Reply(stored.status, stored.body, (("Idempotent-Replayed", "true"),))
    known = {
        order.get("fulfilment_order_id")
        for order in state.accepted.values()
        if isinstance(order, dict)
    }
    if fo_id not in known:
        reply = _Reply(404, {"status": "unknown_order"})
    elif fo_id in state.picked:
        reply = _Reply(409, {"status": "picked"})
    else:
        reply = _Reply(200, {"status": "cancelled"})
        state.cancelled[key] = body
    state.cancel_replies[key] = reply
    return reply


def _skus(body: dict[str, Any]) -> set[str]:
    lines = body.get("lines")
    if not isinstance(lines, list):
        return set()
    return {str(line.get("sku")) for line in lines if isinstance(line, dict)}


def _format_seconds(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else repr(float(seconds))


def main(argv: list[str] | None = None) -> None:
    """Run the fake WMS in the foreground until interrupted."""
    parser = argparse.ArgumentParser(description="Fake REST WMS for trying omniroute by hand.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8099, help="port (default 8099; 0 = any)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    wms = FakeWms(host=args.host, port=args.port)
    url = wms.start()
    logger.info("fake WMS listening on %s (POST %s, GET %s)", url, RELEASE_PATH, HEALTH_PATH)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        wms.stop()


if __name__ == "__main__":
    main()
