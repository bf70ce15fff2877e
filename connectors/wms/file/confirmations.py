"""Reading a file-based warehouse's confirmation file: shipments and rejections.

Pure: bytes in, ``Confirmation`` values (or the reasons the file cannot be taken) out.
UTF-8, with or without a BOM; CRLF or LF; RFC 4180 quoting; a header row naming the columns
(in any order and case; columns not listed here are ignored). One row per shipped line, or
one row per rejected fulfilment order:

==================== =====================================================================
``type``             ``ship`` (the default when empty or absent) or ``reject``
``fulfilment_order_id`` omniroute's fulfilment order id, as the pick list gave it (required)
``shipment_ref``     the warehouse's id for the parcel / shipment; rows sharing it (and the
                     fulfilment order) are one shipment. Empty: the tracking number is used;
                     neither: the file's digest, so the file itself is the shipment
``line_id``          the pick list's line id (kept for the warehouse's reference)
``sku``              the SKU shipped (required on ``ship`` rows)
``quantity``         units shipped, a whole number above 0 (required on ``ship`` rows); a
                     shipment may ship part of the order: the rest stays open
``tracking_number``, ``carrier``, ``tracking_url``   optional, per shipment
``shipped_at``       ISO 8601; a time without an offset is UTC; empty: when it was read
``reason``           why a fulfilment order is refused (required on ``reject`` rows)
==================== =====================================================================

A file with any bad row is refused as a whole, each reason naming its row (the header is
row 1), so a warehouse never has half a file applied and the rest to guess at.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

_T = TypeVar("_T")

SHIP = "ship"
REJECT = "reject"
COLUMNS = (
    "type",
    "fulfilment_order_id",
    "shipment_ref",
    "line_id",
    "sku",
    "quantity",
    "tracking_number",
    "carrier",
    "tracking_url",
    "shipped_at",
    "reason",
)
REQUIRED = ("fulfilment_order_id",)
MAX_ROWS = 50_000
_LIMITS = {
    "shipment_ref": 200,
    "sku": 128,
    "tracking_number": 200,
    "carrier": 100,
    "tracking_url": 1000,
    "reason": 2000,
}


@dataclass(frozen=True)
class ShippedLine:
    sku: str
    quantity: int
    line_id: int | None = None


@dataclass(frozen=True)
class Confirmation:
    """One shipment or one rejection of a fulfilment order, with the rows it came from."""

    kind: str  # SHIP or REJECT
    fulfilment_order_id: int
    rows: tuple[int, ...]
    shipment_ref: str = ""
    lines: tuple[ShippedLine, ...] = ()
    tracking_number: str | None = None
    carrier: str | None = None
    tracking_url: str | None = None
    shipped_at: datetime | None = None  # naive UTC
    reason: str = ""


@dataclass(frozen=True)
class Reading:
    confirmations: tuple[Confirmation, ...] = ()
    problems: tuple[str, ...] = field(default=())


class _RowError(ValueError):
    pass


def read_confirmations(body: bytes, *, digest: str) -> Reading:
    """The file's confirmations, or its problems (then no confirmation). ``digest``: the
    file's SHA-256, the shipment reference of rows that name neither one nor a tracking
    number."""
    try:
        header, records = _records(body)
    except _FileError as exc:
        return Reading(problems=(str(exc),))
    problems: list[str] = []
    items: list[tuple[int, _Row]] = []
    for number, record in records:
        if len(record) > len(header):
            problems.append(f"row {number}: {len(record)} fields, the header has {len(header)}")
            continue
        values = {name: cell.strip() for name, cell in zip(header, record, strict=False)}
        try:
            items.append((number, _row(values, digest)))
        except _RowError as exc:
            problems.append(f"row {number}: {exc}")
    if problems:
        return Reading(problems=tuple(problems))
    return Reading(confirmations=_grouped(items))


class _FileError(ValueError):
    pass


def _records(body: bytes) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header (names trimmed, lower case) and the non-blank rows with their numbers."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _FileError(f"the file is not UTF-8: byte {exc.start} cannot be read") from None
    try:
        records = list(enumerate(csv.reader(io.StringIO(text, newline=""), strict=True), 1))
    except csv.Error as exc:
        raise _FileError(f"the file is not valid CSV: {exc}") from None
    records = [(n, r) for n, r in records if any(cell.strip() for cell in r)]
    if not records:
        raise _FileError("the file is empty: a header row and rows are expected")
    if len(records) > MAX_ROWS + 1:
        raise _FileError(f"the file has more than {MAX_ROWS} rows; split it")
    number, first = records[0]
    header = [name.strip().lower() for name in first]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise _FileError(f"row {number}: the header has no column {', '.join(missing)}")
    if len(records) == 1:
        raise _FileError("the file has a header row and no confirmation rows")
    return header, records[1:]


@dataclass(frozen=True)
class _Row:
    kind: str
    fo_id: int
    ref: str
    line: ShippedLine | None
    tracking_number: str | None
    carrier: str | None
    tracking_url: str | None
    shipped_at: datetime | None
    reason: str


def _row(values: dict[str, str], digest: str) -> _Row:
    for name, limit in _LIMITS.items():
        if len(values.get(name, "")) > limit:
            raise _RowError(f"{name} is longer than {limit} characters")
    kind = (values.get("type") or SHIP).lower()
    if kind not in (SHIP, REJECT):
        raise _RowError(f"type {values.get('type')!r} is neither {SHIP!r} nor {REJECT!r}")
    fo_id = _whole(values.get("fulfilment_order_id", ""), "fulfilment_order_id")
    if kind == REJECT:
        reason = values.get("reason", "")
        if not reason:
            raise _RowError("a reject row needs a reason")
        return _Row(REJECT, fo_id, "", None, None, None, None, None, reason)
    sku = values.get("sku", "")
    if not sku:
        raise _RowError("sku is empty")
    line_id = values.get("line_id", "")
    line = ShippedLine(
        sku=sku,
        quantity=_whole(values.get("quantity", ""), "quantity"),
        line_id=_whole(line_id, "line_id") if line_id else None,
    )
    tracking = values.get("tracking_number") or None
    ref = values.get("shipment_ref") or tracking or f"file-{digest[:16]}"
    return _Row(
        SHIP,
        fo_id,
        ref,
        line,
        tracking,
        values.get("carrier") or None,
        values.get("tracking_url") or None,
        _when(values.get("shipped_at", "")),
        "",
    )


def _whole(text: str, name: str) -> int:
    if not text:
        raise _RowError(f"{name} is empty")
    if not text.isdigit() or len(text) > 12:
        raise _RowError(f"{name} {text!r} is not a whole number")
    number = int(text)
    if number <= 0:
        raise _RowError(f"{name} must be above 0")
    return number


def _when(text: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _RowError(f"shipped_at {text!r} is not an ISO 8601 date and time") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _grouped(items: Sequence[tuple[int, _Row]]) -> tuple[Confirmation, ...]:
    """Rows of one shipment (fulfilment order and reference) together, in file order;
    each rejection once per fulfilment order."""
    groups: dict[tuple[str, int, str], list[tuple[int, _Row]]] = {}
    for number, row in items:
        groups.setdefault((row.kind, row.fo_id, row.ref), []).append((number, row))
    out: list[Confirmation] = []
    for (kind, fo_id, ref), members in groups.items():
        numbers = tuple(n for n, _ in members)
        if kind == REJECT:
            reason = "; ".join(dict.fromkeys(r.reason for _, r in members))
            out.append(Confirmation(REJECT, fo_id, numbers, reason=reason))
            continue
        out.append(
            Confirmation(
                SHIP,
                fo_id,
                numbers,
                shipment_ref=ref,
                lines=tuple(r.line for _, r in members if r.line is not None),
                tracking_number=_first(r.tracking_number for _, r in members),
                carrier=_first(r.carrier for _, r in members),
                tracking_url=_first(r.tracking_url for _, r in members),
                shipped_at=_first(r.shipped_at for _, r in members),
            )
        )
    return tuple(out)


def _first(values: Iterable[_T | None]) -> _T | None:
    for value in values:
        if value is not None:
            return value
    return None
