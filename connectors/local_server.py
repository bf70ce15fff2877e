"""What the fake servers of the demo and the end-to-end tests share: serving on 127.0.0.1
in a daemon thread, a base URL, a stop that also drops idle keep-alive connections (so a
client's pooled socket fails at once instead of hanging), and use as a context manager."""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

__all__ = ["LocalServer", "TrackingServer"]


class TrackingServer(ThreadingHTTPServer):
    """A threaded HTTP server that knows its open connections, to drop them on stop."""

    daemon_threads = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):  # already closed by the peer
                sock.shutdown(socket.SHUT_RDWR)


class LocalServer:
    """A fake's lifecycle; a subclass says how to ``bind`` its server."""

    #: Named in the error of ``base_url`` asked before ``start``.
    what = "the fake server"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._address = (host, port)
        self._server: TrackingServer | None = None
        self._thread: threading.Thread | None = None

    def bind(self, address: tuple[str, int]) -> TrackingServer:
        raise NotImplementedError

    def start(self) -> str:
        """Bind, serve in a daemon thread and return the base URL (``http://127.0.0.1:<port>``)."""
        if self._server is not None:
            return self.base_url
        server = self.bind(self._address)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        """Stop serving and drop open keep-alive connections."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.drop_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{self.what} is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"
