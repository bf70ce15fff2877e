"""Structured logs: every record carries the ids of the work it is about.

The standard library's logging with a JSON formatter, not structlog: every library omniroute
uses (uvicorn, Celery, SQLAlchemy, httpx) already logs through the standard library, so one
formatter on the root handler shapes all of it, and no second logging system needs bridging.

What a record carries beyond its message comes from a context variable, bound where the
work is known: ``log_context`` around a task (worker/handlers), ``bind`` once the row is read
(the inbox row's connector and correlation id, its order; an outbox row's). Context
variables follow threads and asyncio tasks, and ``log_context`` restores the previous
context on exit, so one task's ids never leak into the next one on the same thread. An
exception leaving a ``log_context`` takes that context with it, so a failure logged by the
runner, outside the task, still names the order and correlation id it failed on.

Only ids go into the context, never names, addresses or payloads: a record's own message
is the caller's to keep free of secrets and personal data (``core.access.pii`` masks data
shown to people; logs name rows by id).
"""

from __future__ import annotations

import ctypes
import functools
import json
import logging
import os
import sys
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import highspy

#: The fields a record may carry from its context, in the order a JSON line shows them.
FIELDS = ("correlation_id", "order_id", "connector_id", "inbound_id", "outbox_id", "task")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(correlation_id)s] %(message)s"

CONTEXT_ATTRIBUTE = "omniroute_log_context"  # set on an exception leaving a log_context

_EMPTY: Mapping[str, Any] = {}
_context: ContextVar[Mapping[str, Any]] = ContextVar("omniroute_log_context", default=_EMPTY)


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Bind ``fields`` (and whatever ``bind`` adds inside) until the block ends."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    except BaseException as exc:
        # Logged further out, where this context is gone, the error still names its work.
        if not hasattr(exc, CONTEXT_ATTRIBUTE):
            with suppress(AttributeError):
                setattr(exc, CONTEXT_ATTRIBUTE, _context.get())
        raise
    finally:
        _context.reset(token)


def bind(**fields: Any) -> None:
    """Add ``fields`` to the current context (undone when the enclosing ``log_context``
    ends; outside one, they stay with the thread)."""
    _context.set({**_context.get(), **fields})


def current(name: str) -> Any:
    """A field of the current context, or None."""
    return _context.get().get(name)


def correlation_id() -> str | None:
    """The correlation id of the work this thread is doing, if any."""
    value = _context.get().get("correlation_id")
    return None if value is None else str(value)


_installed_factory: list[Any] = []


def _install_record_factory() -> None:
    """Give every LogRecord the context's fields, whichever handler formats it (once)."""
    if _installed_factory:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = previous(*args, **kwargs)
        context = _context.get()
        record.context = context
        record.correlation_id = context.get("correlation_id") or "-"
        return record

    _installed_factory.append(factory)
    logging.setLogRecordFactory(factory)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, the context's
    ids, and the exception's type and traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context: Mapping[str, Any] = getattr(record, "context", _EMPTY)
        if record.exc_info and record.exc_info[1] is not None:
            raised = getattr(record.exc_info[1], CONTEXT_ATTRIBUTE, None)
            if raised:
                context = {**context, **raised}
        for name in FIELDS:
            value = context.get(name)
            if value is not None:
                entry[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
            entry["traceback"] = "".join(traceback.format_exception(*record.exc_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(*, level: str, fmt: str) -> None:
    """The root handler in the format asked for (``json`` or ``text``). A process whose root
    logger has handlers already (a test runner, an embedding application) keeps them; every
    record gets the context's fields either way."""
    _install_record_factory()
    root = logging.getLogger()
    if not root.handlers:
        root.setLevel(level.upper())
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
        root.addHandler(handler)
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    solver_banner_to_stderr()


@functools.cache
def solver_banner_to_stderr() -> None:
    """HiGHS (the optimiser's solver) prints a copyright banner on stdout, from C++, the first
    time a process builds a solver; build that first one now with stdout pointed at stderr, so
    a command's output (``rules backtest --format csv``, JSON) is only its own. Once a process."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        highspy.Highs()  # type: ignore[no-untyped-call]  # highspy's __init__ is untyped
        with suppress(OSError, AttributeError):
            ctypes.CDLL(None).fflush(None)  # C's stdout buffer, while it still points at stderr
    finally:
        os.dup2(saved, 1)
        os.close(saved)
