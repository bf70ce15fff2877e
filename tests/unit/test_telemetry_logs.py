"""Structured logs and the correlation id rule (pure: no database)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from omniroute.core.platform.telemetry import correlation
from omniroute.core.platform.telemetry.logs import (
    JsonFormatter,
    bind,
    configure_logging,
    correlation_id,
    log_context,
)


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def lines() -> Iterator[_Lines]:
    configure_logging(level="INFO", fmt="json")  # installs the record factory
    handler = _Lines()
    logger = logging.getLogger("omniroute.test-logs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)


def test_a_json_line_carries_the_ids_bound_around_it(lines: _Lines) -> None:
    log = logging.getLogger("omniroute.test-logs")
    with log_context(task="process_inbound"):
        bind(correlation_id="req-1", connector_id=3, inbound_id=7)
        bind(order_id=42)
        log.info("order %s routed", 42)
    log.info("after")
    first, after = lines.lines
    assert first == {
        "ts": first["ts"],
        "level": "INFO",
        "logger": "omniroute.test-logs",
        "message": "order 42 routed",
        "correlation_id": "req-1",
        "order_id": 42,
        "connector_id": 3,
        "inbound_id": 7,
        "task": "process_inbound",
    }
    assert str(first["ts"]).endswith("+00:00")
    assert "correlation_id" not in after and "order_id" not in after  # nothing leaks out


def test_an_error_logged_outside_its_context_still_names_its_work(lines: _Lines) -> None:
    log = logging.getLogger("omniroute.test-logs")
    try:
        with log_context(task="deliver_outbox"):
            bind(correlation_id="req-9", order_id=5)
            raise ValueError("the warehouse said no")
    except ValueError:
        log.exception("task failed")  # as the embedded runner logs it, outside the task
    (line,) = lines.lines
    assert line["correlation_id"] == "req-9" and line["order_id"] == 5
    assert line["error"] == "ValueError"
    assert "the warehouse said no" in str(line["traceback"])


def test_contexts_are_per_thread() -> None:
    seen: list[str | None] = []
    with log_context(correlation_id="main"):
        thread = threading.Thread(target=lambda: seen.append(correlation_id()))
        thread.start()
        thread.join()
        assert correlation_id() == "main"
    assert seen == [None]
    assert correlation_id() is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([("X-Request-ID", "abc-123")], "abc-123"),
        ([("x-correlation-id", "c.1_2")], "c.1_2"),
        ([("X-Request-ID", "not sane"), ("X-Correlation-ID", "ok-2")], "ok-2"),
        ([("X-Correlation-ID", "second"), ("X-Request-ID", "first")], "first"),
        (
            [("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")],
            "4bf92f3577b34da6a3ce929d0e0e4736",
        ),
        ([("traceparent", "00-" + "0" * 32 + "-00f067aa0ba902b7-01")], None),
        ([("traceparent", "garbage")], None),
        ([("X-Request-ID", "A" * 129)], None),
        ([("X-Request-ID", "line\nbreak")], None),
        ([], None),
    ],
)
def test_the_callers_id_is_taken_only_when_sane(
    headers: list[tuple[str, str]], expected: str | None
) -> None:
    assert correlation.incoming(headers) == expected


def test_without_a_callers_id_a_new_one_is_made() -> None:
    made = {correlation.of_request([]) for _ in range(3)}
    assert len(made) == 3
    assert all(correlation.SANE.fullmatch(m) for m in made)


def test_the_solver_banner_never_reaches_stdout() -> None:
    """A command's stdout is only its own output: HiGHS's banner goes to stderr."""
    code = (
        "from omniroute.core.platform.telemetry.logs import configure_logging\n"
        "configure_logging(level='INFO', fmt='text')\n"
        "import highspy\n"
        "highspy.Highs()\n"
        "print('payload')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout == "payload\n"
    assert "HiGHS" in done.stderr  # still shown, where diagnostics belong
