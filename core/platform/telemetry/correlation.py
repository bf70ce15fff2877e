"""The correlation id: one per order's journey, taken from the caller when it sends one.

A webhook's caller may name the request (``X-Request-ID``, ``X-Correlation-ID``, or a W3C
``traceparent``, whose trace id is taken); a sane value is kept, anything else is replaced
by a new id, so a header can never inject text into logs or another system's headers.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable

#: The header omniroute sends it in (to a warehouse) and answers with.
HEADER = "X-Correlation-ID"
SANE = re.compile(r"[A-Za-z0-9._-]{1,128}")
# version-traceid-parentid-flags; an all-zero trace id is invalid (W3C Trace Context).
TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")
_NAMED = ("x-request-id", "x-correlation-id")


def new_id() -> str:
    return uuid.uuid4().hex


def incoming(headers: Iterable[tuple[str, str]]) -> str | None:
    """The caller's id for this request, when it sent a sane one (named ids before a
    traceparent, in the order of ``_NAMED``)."""
    named: dict[str, str] = {}
    trace: str | None = None
    for name, value in headers:
        lowered = name.lower()
        if lowered in _NAMED:
            named.setdefault(lowered, value.strip())
        elif lowered == "traceparent" and trace is None:
            found = TRACEPARENT.fullmatch(value.strip().lower())
            if found and found.group(1) != "0" * 32:
                trace = found.group(1)
    for name in _NAMED:
        sent = named.get(name)
        if sent is not None and SANE.fullmatch(sent):
            return sent
    return trace


def of_request(headers: Iterable[tuple[str, str]]) -> str:
    """The caller's id, else a new one."""
    return incoming(headers) or new_id()
