"""A small real HTTP fake ERP for the demo and end-to-end tests (127.0.0.1 only).

It speaks what ``connectors.erp_rest`` expects with its default paths::

    with FakeErp() as erp:
        connector = ErpRestConnector({"base_url": erp.base_url}, {}, runtime=runtime)
        erp.fail_next(1, status=503)
        ...

Endpoints: ``POST /sales-orders``, ``POST /invoices``, ``POST /purchase-requests`` (each
needs ``Idempotency-Key``; a repeated key gets the first answer again; the answer is
``{"data": {"name": "SO-00001"}}``, ERPNext style); ``GET /invoices?from=&to=`` (the
invoices it holds, ours and those added with ``add_invoice``, by posting date),
``GET /stock`` and ``GET /items`` (``set_stock`` / ``set_items``; two records a page,
``next`` the page token). ``fail_next(n, status)`` answers the next ``n`` POSTs with that
status; ``set_down(True)`` every request with 503.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from omniroute.connectors.local_server import LocalServer, TrackingServer

__all__ = ["FakeErp"]

PAGE = 2
_PREFIX = {"/sales-orders": "SO", "/invoices": "SINV", "/purchase-requests": "MR"}


class FakeErp(LocalServer):
    what = "the fake ERP"

    def __init__(self, *, host: str = "127.0.0.1") -> None:
        super().__init__(host=host)
        self._lock = threading.Lock()
        self.documents: dict[str, dict[str, Any]] = {}  # by path: {key: body}
        self.numbers: dict[tuple[str, str], str] = {}  # (path, key) -> our number
        self.invoices: list[dict[str, Any]] = []  # what GET /invoices lists
        self.stock: list[dict[str, Any]] = []
        self.items: list[dict[str, Any]] = []
        self.posts: list[tuple[str, str, dict[str, str]]] = []  # (path, key, headers)
        self._failures: list[int] = []
        self._down = False

    def bind(self, address: tuple[str, int]) -> TrackingServer:
        return TrackingServer(address, _handler_for(self))

    # --- behaviour

    def fail_next(self, n: int, status: int = 503) -> None:
        with self._lock:
            self._failures.extend([status] * n)

    def set_down(self, down: bool) -> None:
        with self._lock:
            self._down = down

    def set_stock(self, rows: Iterable[dict[str, Any]]) -> None:
        with self._lock:
            self.stock = list(rows)

    def set_items(self, rows: Iterable[dict[str, Any]]) -> None:
        with self._lock:
            self.items = list(rows)

    def add_invoice(self, number: str, posting_date: str, **fields: Any) -> None:
        """An invoice the ERP made itself (no shipment in omniroute)."""
        with self._lock:
            self.invoices.append({"name": number, "posting_date": posting_date, **fields})

    def bodies(self, path: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.documents.get(path, {}).values())

    # --- the handler's side

    def handle(
        self, method: str, target: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any]:
        url = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        with self._lock:
            if self._down:
                return 503, {"error": "down"}
            if method == "GET":
                return self._get(url.path, query)
            refused = self._refusal(url.path, headers)
            if refused is not None:
                return refused
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                return 400, {"error": "not JSON"}
            key = headers["idempotency-key"]
            self.posts.append((url.path, key, headers))
            return self._post(url.path, key, body)

    def _refusal(self, path: str, headers: dict[str, str]) -> tuple[int, Any] | None:
        if path not in _PREFIX:
            return 404, {"error": "no such resource"}
        if self._failures:
            return self._failures.pop(0), {"error": "injected"}
        if not headers.get("idempotency-key"):
            return 400, {"error": "Idempotency-Key is required"}
        return None

    def _post(self, path: str, key: str, body: Any) -> tuple[int, Any]:
        if (path, key) in self.numbers:
            return 200, {"data": {"name": self.numbers[(path, key)]}}
        held = self.documents.setdefault(path, {})
        number = f"{_PREFIX[path]}-{len(held) + 1:05d}"
        held[key] = body
        self.numbers[(path, key)] = number
        if path == "/invoices":
            self.invoices.append(
                {
                    "name": number,
                    "reference": body.get("reference"),
                    "sales_order_reference": body.get("sales_order_reference"),
                    "posting_date": str(body.get("posting_date") or "")[:10],
                    "grand_total": body.get("grand_total"),
                }
            )
        return 201, {"data": {"name": number}}

    def _get(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
        if path == "/invoices":
            start, end = query.get("from", ""), query.get("to", "9999-12-31")
            listed = [i for i in self.invoices if start <= i["posting_date"] <= end]
            return 200, {"invoices": listed}
        rows = {"/stock": self.stock, "/items": self.items}.get(path)
        if rows is None:
            return 404, {"error": "no such resource"}
        page = int(query.get("page") or 0)
        chunk = rows[page * PAGE : (page + 1) * PAGE]
        following = str(page + 1) if (page + 1) * PAGE < len(rows) else None
        return 200, {"data": chunk, "next": following}


def _handler_for(erp: FakeErp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, body = erp.handle(method, self.path, headers, raw)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
