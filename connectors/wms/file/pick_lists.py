"""The files a file-based warehouse is sent: a pick list per release, a cancel per cancel.

Pure: a request in, a file name and bytes out. UTF-8 without a BOM, a header row, RFC 4180
quoting (every field that needs it quoted, doubled quotes inside), CRLF line ends.

Pick list (``pick-<release key>.csv``), one row per fulfilment line, columns ``PICK_COLUMNS``:
the order's fields repeat on every row, so each row can be read alone. The file name carries
the fulfilment order id and the release's idempotency key (``fo-<id>-<hex>``), which the
outbox keeps across retries and redrives: a retried delivery rewrites the same file.

Cancel (``cancel-<cancel key>.csv``), one row per line to cancel, columns ``CANCEL_COLUMNS``;
``entire`` is ``true`` when every unit still open is to be cancelled.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

from omniroute.connectors.base import CancelRequest, ReleaseLine, ReleaseRequest

SHIP_TO_FIELDS = (
    "name",
    "company",
    "address1",
    "address2",
    "city",
    "region",
    "postal_code",
    "country",
    "phone",
)
PICK_COLUMNS = (
    "fulfilment_order_id",
    "order_id",
    "order_number",
    "warehouse_code",
    "line_id",
    "sku",
    "quantity",
    *(f"ship_to_{name}" for name in SHIP_TO_FIELDS),
    "service_level",
    "carrier",
    "note",
    "gift_message",
    "line_gift_message",
    "line_properties",
)
CANCEL_COLUMNS = (
    "fulfilment_order_id",
    "order_id",
    "order_number",
    "warehouse_code",
    "external_ref",
    "entire",
    "line_id",
    "sku",
    "quantity",
    "reason",
)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def file_stem(key: str) -> str:
    """An idempotency key made safe as a file name (no separators, no leading dot)."""
    return _UNSAFE.sub("_", key).lstrip(".") or "_"


def pick_list_name(request: ReleaseRequest) -> str:
    return f"pick-{file_stem(request.idempotency_key)}.csv"


def cancel_name(request: CancelRequest) -> str:
    return f"cancel-{file_stem(request.idempotency_key)}.csv"


def render_pick_list(request: ReleaseRequest) -> bytes:
    """The pick list of a release (see the module)."""
    ship_to = request.ship_to
    carrier = request.extra.get("carrier")
    rows = [
        [
            request.fulfilment_order_id,
            line.order_id or request.order_id,
            line.order_reference or request.order_reference,
            request.warehouse_code,
            line.line_id,
            line.sku,
            line.quantity,
            *(_text(ship_to.get(name)) for name in SHIP_TO_FIELDS),
            request.service_level,
            _text(carrier),
            _order_note(request, line),
            _order_gift(request, line),
            line.gift_message or "",
            _properties(line.properties),
        ]
        for line in request.lines
    ]
    return _csv(PICK_COLUMNS, rows)


def render_cancel(request: CancelRequest) -> bytes:
    """The cancel file of a cancel request (see the module)."""
    rows = [
        [
            request.fulfilment_order_id,
            request.order_id,
            request.order_reference,
            request.warehouse_code,
            request.external_ref or "",
            "true" if request.entire else "false",
            line.line_id,
            line.sku,
            line.quantity,
            request.reason,
        ]
        for line in request.lines
    ]
    return _csv(CANCEL_COLUMNS, rows)


def _order_note(request: ReleaseRequest, line: ReleaseLine) -> str:
    """The note of the order the line is from (a consolidated order has several)."""
    for order in request.orders:
        if order.order_id == line.order_id:
            return order.note or ""
    return request.note or ""


def _order_gift(request: ReleaseRequest, line: ReleaseLine) -> str:
    for order in request.orders:
        if order.order_id == line.order_id:
            return order.gift_message or ""
    return request.gift_message or ""


def _properties(pairs: Sequence[Mapping[str, str]]) -> str:
    """A line's options as ``name: value`` joined by ``; `` (quoted by the CSV writer)."""
    return "; ".join(f"{p.get('name', '')}: {p.get('value', '')}" for p in pairs)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, dialect="excel", lineterminator="\r\n")  # RFC 4180
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")
