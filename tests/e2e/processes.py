"""Real omniroute processes for end-to-end tests: start them, wait for them, kill them.

Every process runs in its own session (process group), so one ``os.killpg`` reaches the
Celery prefork children too; its stdout and stderr go to one log file in the test's tmp dir,
and every bounded wait fails with the tail of every log in its message.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

import httpx

T = TypeVar("T")

# The same interpreter as the tests, whatever is on PATH.
OMNIROUTE = [sys.executable, "-c", "from omniroute.cli.main import app; app()"]
LOG_TAIL_LINES = 60


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def omniroute_env(settings: Mapping[str, object], tmp_dir: Path) -> dict[str, str]:
    """The parent's environment without its OMNIROUTE_ settings, plus ``settings``.

    ``settings`` keys are Settings field names (``database_url``); TMPDIR points into the
    test's directory so Celery beat's schedule file is private to this test.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIROUTE_")}
    env.update({f"OMNIROUTE_{key.upper()}": str(value) for key, value in settings.items()})
    env["PYTHONUNBUFFERED"] = "1"
    env["TMPDIR"] = str(tmp_dir)
    return env


@dataclass
class ManagedProcess:
    name: str
    args: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes]
    _log_file: IO[bytes]
    _killed: bool = False

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = LOG_TAIL_LINES) -> str:
        text = self.log_text().splitlines()[-lines:]
        state = "running" if self.alive() else f"exited with {self.popen.returncode}"
        header = f"----- {self.name} (pid {self.pid}, {state}) {self.log_path} -----"
        return "\n".join([header, *text])

    def signal_group(self, sig: int) -> None:
        """Send ``sig`` to the whole process group (the worker and its pool children)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL the process group now and reap the leader (once: never a stale group)."""
        if self._killed:
            return
        self._killed = True
        self.signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)
        self._log_file.close()

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the leader (it shuts its children down), then SIGKILL the group: pool
        children may outlive a leader that did not stop within ``grace`` seconds."""
        if self._killed:
            return
        if self.alive():
            self.popen.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=grace)
        self.kill()


@dataclass
class ProcessStack:
    """The processes of one test; ``stop_all`` (fixture teardown) ends every one of them."""

    tmp_dir: Path
    env: dict[str, str]
    processes: list[ManagedProcess] = field(default_factory=list)
    # Processes that the test ended on purpose; their death is not a failure.
    expected_dead: set[int] = field(default_factory=set)

    def start(self, name: str, *args: str) -> ManagedProcess:
        index = sum(1 for p in self.processes if p.name.split("#")[0] == name)
        label = f"{name}#{index + 1}" if index else name
        log_path = self.tmp_dir / f"{label.replace('#', '-')}.log"
        log_file = log_path.open("wb")
        argv = [*OMNIROUTE, *args]
        popen = subprocess.Popen(
            argv,
            env=self.env,
            cwd=self.tmp_dir,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        proc = ManagedProcess(label, list(args), log_path, popen, log_file)
        self.processes.append(proc)
        return proc

    def kill(self, proc: ManagedProcess) -> None:
        self.expected_dead.add(proc.pid)
        proc.kill()

    def stop_all(self) -> None:
        for proc in reversed(self.processes):
            self.expected_dead.add(proc.pid)
            proc.stop()

    def logs(self, lines: int = LOG_TAIL_LINES) -> str:
        return "\n".join(p.tail(lines) for p in self.processes)

    def assert_logs_clean(self) -> None:
        """No process logged a traceback (a task that raised, a crash at start or stop)."""
        dirty = [
            p.name for p in self.processes if "Traceback (most recent call last)" in p.log_text()
        ]
        assert not dirty, f"tracebacks in the logs of {dirty}\n{self.logs(lines=200)}"

    def check_alive(self) -> None:
        dead = [p for p in self.processes if not p.alive() and p.pid not in self.expected_dead]
        if dead:
            names = ", ".join(f"{p.name} (exit {p.popen.returncode})" for p in dead)
            raise AssertionError(f"process died unexpectedly: {names}\n{self.logs()}")

    def wait_for(
        self,
        what: str,
        probe: Callable[[], T | None],
        *,
        timeout: float,
        interval: float = 0.1,
        describe: Callable[[], str] | None = None,
    ) -> T:
        """Poll ``probe`` until it returns something truthy; fail with the logs after
        ``timeout`` seconds, or at once when one of our processes dies."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            result = probe()
            if result:
                return result
            if time.monotonic() > deadline:
                state = f"\nlast state: {describe()}" if describe else ""
                raise AssertionError(
                    f"timed out after {timeout:.0f}s waiting for {what}{state}\n{self.logs()}"
                )
            time.sleep(interval)

    def wait_http_ready(self, base_url: str, *, timeout: float = 30.0) -> None:
        last: list[str] = ["no answer yet"]

        def ready() -> bool:
            try:
                response = httpx.get(f"{base_url}/readyz", timeout=2)
            except httpx.HTTPError as exc:
                last[0] = repr(exc)
                return False
            last[0] = f"{response.status_code} {response.text[:500]}"
            return response.status_code == 200

        self.wait_for(
            f"{base_url}/readyz to answer 200",
            ready,
            timeout=timeout,
            interval=0.1,
            describe=lambda: last[0],
        )

    def wait_log_line(self, proc: ManagedProcess, needle: str, *, timeout: float = 30.0) -> None:
        self.wait_for(
            f"{proc.name} to log {needle!r}",
            lambda: needle in proc.log_text(),
            timeout=timeout,
            interval=0.05,
        )

    # --- the omniroute commands ------------------------------------------------------------

    def serve(self, port: int, *, timeout: float = 30.0) -> str:
        self.start("serve", "serve", "--host", "127.0.0.1", "--port", str(port))
        base_url = f"http://127.0.0.1:{port}"
        self.wait_http_ready(base_url, timeout=timeout)
        return base_url

    def worker(
        self, concurrency: int = 2, *, pool: str = "prefork", timeout: float = 30.0
    ) -> ManagedProcess:
        proc = self.start("worker", "worker", "--concurrency", str(concurrency), "--pool", pool)
        # Celery logs "<hostname> ready." once it consumes from the broker.
        self.wait_log_line(proc, " ready.", timeout=timeout)
        return proc

    def beat(self) -> ManagedProcess:
        return self.start("beat", "beat")


class ProcessStackFactory(Protocol):
    """The ``make_stack`` fixture: a stack whose processes get these setting overrides."""

    def __call__(self, **overrides: object) -> ProcessStack: ...


class GatedProxy:
    """An HTTP proxy in front of the fake WMS that can hold answers back.

    Requests are always forwarded at once; while the gate is closed, the answers wait. So a
    worker killed meanwhile leaves orders that the WMS accepted and omniroute never heard
    of: the lost-answer case an idempotency key exists for.
    """

    def __init__(self, target: str) -> None:
        self._server = _ProxyServer(("127.0.0.1", 0), _ProxyHandler, target)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def held(self) -> int:
        """How many answers are waiting at the closed gate."""
        with self._server.lock:
            return self._server.held

    def start(self) -> str:
        self._thread.start()
        return self.base_url

    def close_gate(self) -> None:
        self._server.gate.clear()

    def open_gate(self) -> None:
        self._server.gate.set()

    def stop(self) -> None:
        self.open_gate()
        self._server.shutdown()
        self._server.server_close()
        self._server.client.close()
        self._thread.join(timeout=5)


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: Any, target: str) -> None:
        self.client = httpx.Client(base_url=target, timeout=10)
        self.gate = threading.Event()
        self.gate.set()
        self.lock = threading.Lock()
        self.held = 0
        super().__init__(address, handler)


class _ProxyHandler(BaseHTTPRequestHandler):
    server: _ProxyServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 15
    DROPPED = frozenset(
        {
            "host",
            "content-length",
            "connection",
            "transfer-encoding",
            "content-encoding",
            "keep-alive",
        }
    )

    def do_GET(self) -> None:
        self._forward("GET")

    def do_POST(self) -> None:
        self._forward("POST")

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _forward(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {k: v for k, v in self.headers.items() if k.lower() not in self.DROPPED}
        answer = self.server.client.request(method, self.path, content=body, headers=headers)
        if not self.server.gate.is_set():
            with self.server.lock:
                self.server.held += 1
            self.server.gate.wait(timeout=60)
            with self.server.lock:
                self.server.held -= 1
        with contextlib.suppress(OSError):  # the caller may have been killed meanwhile
            self.send_response(answer.status_code)
            for name, value in answer.headers.items():
                if name.lower() not in self.DROPPED:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)
