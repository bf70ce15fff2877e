"""Order uploads (phone orders, stores): CSV or JSON in, canonical orders and row errors out.

Pure: no I/O. The service stores each order in the inbox; this module only parses, groups
and validates, so that every valid order is kept and every bad row is reported.

JSON (``application/json``): a list of canonical orders (mapping/schemas/order.v1.json).
An error's ``row`` is the 1-based position of the order in the list, ``column`` the JSON
path inside it.

CSV (``text/csv``, UTF-8, optional BOM): a header row, then one row per order line. Rows with
the same ``order_ref`` form one order (they need not be adjacent). Column names are matched
case-insensitively; an unknown column rejects the file, so a typo cannot drop data.

A file whose structure cannot be read reliably is refused whole (``CsvStructureError``,
naming the line) rather than guessed at: a quote left open or closed mid-cell, a row with
more or fewer cells than the header, a cell over ``MAX_CELL_CHARS`` characters or holding a
NUL, and a cell that spans lines and holds a comma. The last is what a quote left open
looks like when a later quote happens to close it (the rows in between would become one
cell and their orders would be lost); a quoted cell may span lines when it holds no comma.

==================== ====== ===========================================================
column               needed meaning
==================== ====== ===========================================================
order_ref            yes    the order's id (external_id), at most 128 characters
sku                  yes    the channel SKU of the line (resolved through SKU aliases)
quantity             yes    whole number, 1 to 1,000,000 (``MAX_LINE_QUANTITY``)
unit_price                  decimal with a point, e.g. ``12.50``; at most 12 digits each side
title                       line description
line_ref                    the line's own id; default ``<order_ref>-<n>``
order_number                a human order number (external_number)
channel                     channel name; default: the connector's ``default_channel``
created_at                  ISO 8601 date-time with offset, e.g. ``2026-11-27T09:30:00+01:00``
currency             yes*   ISO 4217 code; * unless the connector has ``default_currency``
service_level               ``standard`` (default), ``express`` or ``same_day``
customer_name, customer_email, customer_phone
ship_to_name, ship_to_company, ship_to_address1, ship_to_address2, ship_to_city,
ship_to_region, ship_to_postal_code, ship_to_phone
ship_to_country             ISO 3166-1 alpha-2 (or a common English name); default: the
                            connector's ``default_country`` when any ship_to column is set
note                        free text
tags                        tags separated by ``;``
total, subtotal, discount_total, shipping_total, tax_total, gift_message,
attribute:<name>, line_discount_total, line_tax_total, line_total, line_gift_message,
property:<name>             see ``connectors.generic.upload_fields``
==================== ====== ===========================================================

Order-level columns (all but sku, quantity, unit_price, title and line_ref) may be given on
the order's first row only; when several rows give one, they must agree. An order with any
bad row is rejected whole (shipping half a phone order is worse than fixing the file), and
so is one of more than 1,000 lines (``MAX_ORDER_LINES``). An error's ``row`` counts records
as a spreadsheet shows them (the header is row 1), its ``line`` the line of the file where
the record starts (they differ after a cell that spans lines). At most
``MAX_REPORTED_ERRORS`` errors are reported; ``errors_omitted`` counts the rest.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from omniroute.connectors.base import IMPORTED_TOPIC, PayloadError
from omniroute.connectors.generic import upload_fields as extra
from omniroute.connectors.generic.csv_records import (
    MAX_CELL_CHARS,
    CsvStructureError,
    Record,
    records,
)
from omniroute.connectors.generic.mapping import MAX_EXTERNAL_ID, to_canonical
from omniroute.mapping import MappingError
from omniroute.mapping.engine import MAX_LINE_QUANTITY, MONEY
from omniroute.mapping.transforms import TransformError, country, datetime_, decimal_, str_or_none

CSV_MEDIA_TYPES = frozenset({"text/csv", "application/csv"})
JSON_MEDIA_TYPES = frozenset({"application/json"})
MEDIA_TYPES = CSV_MEDIA_TYPES | JSON_MEDIA_TYPES

#: The inbox topic of an uploaded order; its body is the canonical order JSON.
IMPORT_TOPIC = IMPORTED_TOPIC
DEDUPE_PREFIX = "import:"

LINE_COLUMNS = (
    *("sku", "quantity", "unit_price", "title", "line_ref"),
    *extra.LINE_MONEY_COLUMNS,
    *extra.LINE_TEXT_COLUMNS,
)
ORDER_COLUMNS = (
    "order_ref",
    "order_number",
    "channel",
    "created_at",
    "currency",
    "service_level",
    "customer_name",
    "customer_email",
    "customer_phone",
    "ship_to_name",
    "ship_to_company",
    "ship_to_address1",
    "ship_to_address2",
    "ship_to_city",
    "ship_to_region",
    "ship_to_postal_code",
    "ship_to_country",
    "ship_to_phone",
    "note",
    "tags",
    *extra.MONEY_COLUMNS,
    *extra.ORDER_TEXT_COLUMNS,
)
COLUMNS = frozenset(ORDER_COLUMNS + LINE_COLUMNS)
REQUIRED_COLUMNS = ("order_ref", "sku", "quantity")
SHIP_TO_PREFIX = "ship_to_"
SERVICE_LEVELS = {
    "standard": "standard",
    "express": "express",
    "same_day": "same_day",
    "same-day": "same_day",
    "same day": "same_day",
}
_CURRENCY = re.compile(r"[A-Z]{3}")
_COUNTRY = re.compile(r"[A-Z]{2}")
#: The most errors one upload reports; the rest are counted.
MAX_REPORTED_ERRORS = 100


@dataclass(frozen=True)
class RowError:
    """One problem in an upload: where (row, column) and what to fix."""

    row: int | None
    column: str | None
    message: str
    order_ref: str | None = None
    line: int | None = None  # CSV: the line of the file where the record starts

    def as_dict(self) -> dict[str, Any]:
        """The JSON form used in API answers."""
        return {
            "row": self.row,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "order_ref": self.order_ref,
        }


@dataclass(frozen=True)
class UploadDefaults:
    """What a CSV row may leave out, from the connector's config."""

    channel: str = "generic"
    currency: str | None = None
    country: str | None = None


@dataclass(frozen=True)
class ParsedUpload:
    """Valid canonical orders, the errors found (the first ``MAX_REPORTED_ERRORS``; how many
    more in ``errors_omitted``), and how many orders (or stray rows) failed."""

    orders: tuple[dict[str, Any], ...]
    errors: tuple[RowError, ...]
    failed: int
    errors_omitted: int = 0


def _parsed(
    orders: Sequence[dict[str, Any]], errors: Sequence[RowError], failed: int
) -> ParsedUpload:
    shown = tuple(errors[:MAX_REPORTED_ERRORS])
    return ParsedUpload(tuple(orders), shown, failed, errors_omitted=len(errors) - len(shown))


@dataclass(frozen=True)
class InboxEntry:
    """How one uploaded order is stored in the inbox."""

    external_id: str
    dedupe_key: str
    body: bytes


def parse_upload(body: bytes, media_type: str, defaults: UploadDefaults) -> ParsedUpload:
    """Parse an upload by its media type; raises ``PayloadError`` when the whole file is bad."""
    kind = media_type.split(";", 1)[0].strip().lower()
    if kind in CSV_MEDIA_TYPES:
        return parse_csv(_text(body), defaults)
    if kind in JSON_MEDIA_TYPES:
        return parse_json(body)
    raise PayloadError(f"upload as text/csv or application/json, not {kind or 'no type'}")


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PayloadError(
            f"the file is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from exc


def inbox_entry(order: Mapping[str, Any], *, now: datetime) -> InboxEntry:
    """The dedupe key and body of one order: the same content again is a duplicate.

    The digest covers everything but ``updated_at``; an order without one is stamped with the
    upload time, so that a changed re-upload is a newer version of the order.
    """
    content = {key: value for key, value in order.items() if key != "updated_at"}
    digest = hashlib.sha256(_canonical_json(content)).hexdigest()
    stored = dict(order)
    if not stored.get("updated_at"):
        stored["updated_at"] = now.isoformat()
    external_id = str(order["external_id"])
    return InboxEntry(
        external_id, f"{DEDUPE_PREFIX}{external_id}:{digest}", _canonical_json(stored)
    )


def _canonical_json(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# --- JSON -------------------------------------------------------------------------------


def parse_json(body: bytes) -> ParsedUpload:
    """A JSON list of canonical orders; each item is checked on its own."""
    try:
        document = json.loads(_text(body), parse_constant=_reject_constant)
    except ValueError as exc:
        raise PayloadError(f"the file is not valid JSON: {exc}") from exc
    except RecursionError:
        raise PayloadError("the JSON is nested too deeply") from None
    if not isinstance(document, list):
        raise PayloadError(f"upload a JSON list of orders, not a {type(document).__name__}")
    orders: list[dict[str, Any]] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for number, item in enumerate(document, start=1):
        problem = _json_problem(number, item, seen)
        if problem is not None:
            errors.append(problem)
            continue
        orders.append(to_canonical(item))
        seen[item["external_id"]] = number
    return _parsed(orders, errors, failed=len(errors))


def _json_problem(number: int, item: Any, seen: Mapping[str, int]) -> RowError | None:
    if not isinstance(item, dict):
        return RowError(number, None, f"an order must be a JSON object, not {type(item).__name__}")
    try:
        to_canonical(item)
    except MappingError as exc:
        return RowError(number, exc.path, exc.detail, _ref_of(item))
    ref = item["external_id"]
    if ref in seen:
        return RowError(number, "external_id", f"already given by order {seen[ref]}", ref)
    return None


def _ref_of(item: Mapping[str, Any]) -> str | None:
    ref = item.get("external_id")
    return ref if isinstance(ref, str) else None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


# --- CSV --------------------------------------------------------------------------------

Row = tuple[int, dict[str, str]]


class _Problems(Exception):
    """The errors of one order, collected before it is rejected."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        super().__init__(f"{len(errors)} errors")
        self.errors = tuple(errors)


def parse_csv(text: str, defaults: UploadDefaults) -> ParsedUpload:
    """One order per distinct ``order_ref``; see the module docstring for the columns.

    Raises ``CsvStructureError`` (a ``PayloadError``) when the file cannot be read reliably.
    """
    read = records(text.removeprefix("\ufeff"))
    header = _header(next(read, None))
    groups: dict[str, list[Row]] = {}
    lines: dict[int, int] = {}  # row -> the line it starts on
    errors: list[RowError] = []
    stray = 0
    for number, line, record in read:
        if not any(cell.strip() for cell in record):
            continue  # a blank row, however many empty cells it has
        if len(record) != len(header):
            problem = f"{len(record)} cells where the header has {len(header)} columns"
            raise CsvStructureError(line, problem)
        row = _row(header, record)
        lines[number] = line
        ref = row.get("order_ref", "")
        if not ref:
            errors.append(RowError(number, "order_ref", "every row needs the order's order_ref"))
            stray += 1
            continue
        groups.setdefault(ref, []).append((number, row))
    orders: list[dict[str, Any]] = []
    for ref, rows in groups.items():
        try:
            orders.append(_order(ref, rows, defaults))
        except _Problems as problems:
            errors.extend(problems.errors)
    errors.sort(key=lambda error: error.row or 0)
    located = [replace(error, line=lines.get(error.row or 0)) for error in errors]
    return _parsed(orders, located, failed=stray + len(groups) - len(orders))


def _header(record: Record | None) -> list[str]:
    cells = [] if record is None else record[2]
    if not any(cell.strip() for cell in cells):
        raise PayloadError("the file is empty; the first row must name the columns")
    names = [extra.column_name(cell) for cell in cells]
    unknown = sorted(
        {name for name in names if name not in COLUMNS and not extra.is_named_column(name)}
    )
    if unknown:
        raise PayloadError(
            f"unknown columns {unknown}; allowed: {sorted(COLUMNS)}, and "
            "attribute:<name> and property:<name> columns"
        )
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        raise PayloadError(f"missing required columns {missing}")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise PayloadError(f"columns given more than once: {repeated}")
    return names


def _row(header: Sequence[str], record: Sequence[str]) -> dict[str, str]:
    """The row's non-blank cells by column name (as many cells as columns)."""
    cells = {name: value.strip() for name, value in zip(header, record, strict=True)}
    return {name: value for name, value in cells.items() if value}


def _order(ref: str, rows: Sequence[Row], defaults: UploadDefaults) -> dict[str, Any]:
    errors: list[RowError] = []
    first = rows[0][0]
    if len(ref) > MAX_EXTERNAL_ID:
        errors.append(RowError(first, "order_ref", f"at most {MAX_EXTERNAL_ID} characters", ref))
    fields = _order_fields(ref, rows, errors)
    lines = _lines(ref, rows, errors)
    if errors:
        raise _Problems(errors)
    order = _assemble(ref, fields, lines, defaults, first)
    try:
        return to_canonical(order)
    except MappingError as exc:
        raise _Problems([RowError(first, exc.path, exc.detail, ref)]) from None


# --- CSV: order-level columns -----------------------------------------------------------


def _order_fields(ref: str, rows: Sequence[Row], errors: list[RowError]) -> dict[str, Any]:
    """Each order-level column's converted value, checked to agree across the order's rows."""
    values: dict[str, Any] = {}
    given_on: dict[str, tuple[int, str]] = {}
    columns = ORDER_COLUMNS[1:] + extra.attribute_columns(list(rows[0][1]) if rows else [])
    for number, row in rows:
        for column in columns + extra.attribute_columns(list(row)):
            raw = row.get(column)
            if raw is None:
                continue
            if column in given_on:
                earlier, text = given_on[column]
                if raw != text:
                    message = f"{raw!r} differs from {text!r} given on row {earlier}"
                    errors.append(RowError(number, column, message, ref))
                continue
            given_on[column] = (number, raw)
            convert = ORDER_CONVERTERS.get(column, _text_value)  # attribute:<name>: text
            converted = _convert(convert, raw, errors, at=(number, column, ref))
            if converted is not None:
                values[column] = converted
    return values


def _convert(
    converter: Callable[[str], Any], raw: str, errors: list[RowError], *, at: tuple[int, str, str]
) -> Any:
    """``converter(raw)``, or None with an error at ``at`` (row, column, order_ref)."""
    try:
        return converter(raw)
    except (TransformError, ValueError) as exc:
        number, column, ref = at
        errors.append(RowError(number, column, str(exc), ref))
        return None


def _text_value(raw: str) -> str | None:
    return str_or_none(raw)


def _currency(raw: str) -> str:
    code = raw.strip().upper()
    if not _CURRENCY.fullmatch(code):
        raise ValueError(f"expected a 3-letter ISO 4217 code such as USD, got {raw!r}")
    return code


def _country(raw: str) -> str:
    code = country(raw)
    if code is None or not _COUNTRY.fullmatch(code):
        raise ValueError(f"expected a 2-letter ISO 3166-1 code such as US, got {raw!r}")
    return code


def _service_level(raw: str) -> str:
    level = SERVICE_LEVELS.get(raw.strip().lower())
    if level is None:
        raise ValueError(f"expected standard, express or same_day, got {raw!r}")
    return level


def _email(raw: str) -> str:
    text = raw.strip()
    if "@" not in text or any(ch.isspace() for ch in text):
        raise ValueError(f"not an email address: {raw!r}")
    return text


def _tags(raw: str) -> list[str]:
    return [tag.strip() for tag in raw.split(";") if tag.strip()]


def _created_at(raw: str) -> str | None:
    return datetime_(raw)


def _money(raw: str) -> str:
    return _price(raw)


ORDER_CONVERTERS: Mapping[str, Callable[[str], Any]] = {
    "order_number": _text_value,
    "channel": _text_value,
    "created_at": _created_at,
    "currency": _currency,
    "service_level": _service_level,
    "customer_name": _text_value,
    "customer_email": _email,
    "customer_phone": _text_value,
    "ship_to_name": _text_value,
    "ship_to_company": _text_value,
    "ship_to_address1": _text_value,
    "ship_to_address2": _text_value,
    "ship_to_city": _text_value,
    "ship_to_region": _text_value,
    "ship_to_postal_code": _text_value,
    "ship_to_country": _country,
    "ship_to_phone": _text_value,
    "note": _text_value,
    "tags": _tags,
    **dict.fromkeys(extra.MONEY_COLUMNS, _money),
    **dict.fromkeys(extra.ORDER_TEXT_COLUMNS, _text_value),
}


# --- CSV: lines -------------------------------------------------------------------------


def _lines(ref: str, rows: Sequence[Row], errors: list[RowError]) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    line_ids: dict[str, int] = {}
    for position, (number, row) in enumerate(rows, start=1):
        line = _line(ref, position, number, row, errors)
        if line is None:
            continue
        earlier = line_ids.get(line["external_line_id"])
        if earlier is not None:
            message = f"line_ref {line['external_line_id']!r} already used on row {earlier}"
            errors.append(RowError(number, "line_ref", message, ref))
        line_ids[line["external_line_id"]] = number
        lines.append(line)
    return lines


def _line(
    ref: str, position: int, number: int, row: Mapping[str, str], errors: list[RowError]
) -> dict[str, Any] | None:
    before = len(errors)
    sku = row.get("sku")
    if sku is None:
        errors.append(RowError(number, "sku", "every row needs the line's sku", ref))
    quantity = _convert(_quantity, row.get("quantity", ""), errors, at=(number, "quantity", ref))
    price = None
    if "unit_price" in row:
        price = _convert(_price, row["unit_price"], errors, at=(number, "unit_price", ref))
    amounts = {
        field: _convert(_price, row[column], errors, at=(number, column, ref))
        if column in row
        else None
        for column, field in extra.LINE_MONEY_COLUMNS.items()
    }
    if len(errors) > before:
        return None
    return {
        "external_line_id": row.get("line_ref") or f"{ref}-{position}",
        "channel_sku": sku,
        "variant_id": None,
        "sku": None,
        "title": row.get("title"),
        "quantity": quantity,
        "unit_price": price,
        "requires_shipping": True,
        **amounts,
        **{field: row.get(column) for column, field in extra.LINE_TEXT_COLUMNS.items()},
        "properties": extra.properties(row),
    }


def _quantity(raw: str) -> int:
    text = raw.strip()
    if not text:
        raise ValueError("every row needs the line's quantity")
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ValueError(f"expected a whole number of at least 1, got {_short(raw)}")
    if int(text) > MAX_LINE_QUANTITY:
        raise ValueError(f"at most {MAX_LINE_QUANTITY:,} a line, got {_short(raw)}")
    return int(text)


def _price(raw: str) -> str:
    if "," in raw:
        raise ValueError(f"write prices with a decimal point and no separators, got {raw!r}")
    value = decimal_(raw)
    if value is None or value.startswith("-"):
        raise ValueError(f"expected a price of 0 or more, got {raw!r}")
    if not MONEY.fullmatch(value):
        raise ValueError(f"at most 12 digits before the point and 12 after, got {_short(raw)}")
    return value


def _short(raw: str) -> str:
    return repr(raw) if len(raw) <= 40 else repr(raw[:37] + "...")


# --- CSV: the canonical order -----------------------------------------------------------


def _assemble(
    ref: str,
    fields: Mapping[str, Any],
    lines: list[dict[str, Any]],
    defaults: UploadDefaults,
    first: int,
) -> dict[str, Any]:
    currency = fields.get("currency") or defaults.currency
    if currency is None:
        message = "give a currency (or set default_currency on the connector)"
        raise _Problems([RowError(first, "currency", message, ref)])
    return {
        "external_id": ref,
        "external_number": fields.get("order_number"),
        "channel": fields.get("channel") or defaults.channel,
        "created_at": fields.get("created_at"),
        "updated_at": None,
        "currency": currency,
        "total": None,
        "financial_status": None,
        "cancelled": False,
        "service_level": fields.get("service_level", "standard"),
        "customer": {
            "name": fields.get("customer_name"),
            "email": fields.get("customer_email"),
            "phone": fields.get("customer_phone"),
        },
        "ship_to": _ship_to(fields, defaults),
        "bill_to": None,
        "lines": lines,
        "tags": fields.get("tags", []),
        "note": fields.get("note"),
        **{column: fields.get(column) for column in extra.MONEY_COLUMNS},
        **{column: fields.get(column) for column in extra.ORDER_TEXT_COLUMNS},
        "attributes": extra.attributes(fields),
    }


def _ship_to(fields: Mapping[str, Any], defaults: UploadDefaults) -> dict[str, Any] | None:
    parts = {
        column[len(SHIP_TO_PREFIX) :]: fields.get(column)
        for column in ORDER_COLUMNS
        if column.startswith(SHIP_TO_PREFIX)
    }
    if all(value is None for value in parts.values()):
        return None
    if parts["country"] is None:
        parts["country"] = defaults.country
    return parts


__all__ = [
    "COLUMNS",
    "IMPORT_TOPIC",
    "MAX_CELL_CHARS",
    "MAX_REPORTED_ERRORS",
    "MEDIA_TYPES",
    "CsvStructureError",
    "InboxEntry",
    "ParsedUpload",
    "RowError",
    "UploadDefaults",
    "inbox_entry",
    "parse_csv",
    "parse_json",
    "parse_upload",
]
