"""Order uploads: each valid order of a CSV/JSON file goes into the inbox like a polled order.

Every order becomes one ``inbound_message`` row (topic ``import``, body the canonical order
JSON, dedupe key ``import:<external_id>:<content digest>``), inserted with ON CONFLICT DO
NOTHING and committed before the worker is nudged; so a re-upload of the same file stores
nothing new, a changed order is a newer version, and processing is the one every order gets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from omniroute.connectors.base import PayloadError
from omniroute.connectors.generic.connector import GenericWebhookConnector
from omniroute.connectors.generic.upload import (
    IMPORT_TOPIC,
    CsvStructureError,
    ParsedUpload,
    RowError,
    inbox_entry,
)
from omniroute.core.access import audit
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.errors import Conflict, Invalid, NotFound
from omniroute.core.platform.models import Connector, InboundMessage
from omniroute.core.platform.ports import HasConnectors, HasDispatcher, Store
from omniroute.core.platform.sql import insert_ignoring_conflict


class Deps(Store, HasDispatcher, HasConnectors, Protocol):
    """What an upload of orders uses."""


@dataclass(frozen=True)
class ImportedOrder:
    external_id: str
    inbound_id: int | None  # None: the same order was uploaded before
    duplicate: bool


@dataclass(frozen=True)
class ImportOutcome:
    connector_id: int
    created: int
    duplicates: int
    failed: int
    orders: tuple[ImportedOrder, ...]
    errors: tuple[RowError, ...]
    errors_omitted: int = 0  # errors past the first MAX_REPORTED_ERRORS, counted only


def import_orders(
    deps: Deps,
    connector_id: int,
    body: bytes,
    media_type: str,
    *,
    actor: str,
    now: datetime | None = None,
) -> ImportOutcome:
    """Parse an upload for a generic connector and store its valid orders in the inbox."""
    now = now or deps.clock.now().replace(tzinfo=UTC)
    parsed = _parse(_source(deps, connector_id), body, media_type)
    stored: list[ImportedOrder] = []
    with unit_of_work(deps.sessions) as session:
        for order in parsed.orders:
            entry = inbox_entry(order, now=now)
            inbound_id = insert_ignoring_conflict(
                session,
                InboundMessage.__table__,  # type: ignore[arg-type]
                {
                    "connector_id": connector_id,
                    "dedupe_key": entry.dedupe_key,
                    "topic": IMPORT_TOPIC,
                    "headers": {},
                    "body": entry.body,
                    "status": "pending",
                    "attempts": 0,
                },
                ["connector_id", "dedupe_key"],
            )
            stored.append(ImportedOrder(entry.external_id, inbound_id, inbound_id is None))
        outcome = _outcome(connector_id, parsed, stored)
        audit.record(session, actor, "orders.import", "connector", connector_id, _summary(outcome))
    for item in stored:  # only after the commit: the worker must find the row
        if item.inbound_id is not None:
            deps.dispatcher.enqueue(Task.PROCESS_INBOUND, item.inbound_id)
    return outcome


def _source(deps: Deps, connector_id: int) -> GenericWebhookConnector:
    with unit_of_work(deps.sessions) as session:
        row = session.get(Connector, connector_id)
        if row is None:
            raise NotFound(f"connector {connector_id} does not exist")
        if not row.enabled:
            raise Conflict(f"connector {connector_id} is disabled", code="connector_disabled")
        source = deps.connectors.for_row(row)
    if not isinstance(source, GenericWebhookConnector):
        raise Invalid(
            f"connector {connector_id} is a {row.kind} connector; upload orders to a "
            f"{GenericWebhookConnector.kind} connector",
            code="not_an_import_connector",
        )
    return source


def _parse(source: GenericWebhookConnector, body: bytes, media_type: str) -> ParsedUpload:
    try:
        parsed = source.parse_upload(body, media_type)
    except PayloadError as exc:
        # The whole file is refused (a CSV structure error names the line to fix).
        line = exc.line if isinstance(exc, CsvStructureError) else None
        error = RowError(None, None, str(exc), line=line)
        raise Invalid(
            str(exc), code="invalid_import", errors=[error.as_dict()], errors_omitted=0
        ) from None
    if not parsed.orders:
        errors = [e.as_dict() for e in parsed.errors] or [
            RowError(None, None, "the file holds no orders").as_dict()
        ]
        raise Invalid(
            f"no valid order in the upload ({len(errors) + parsed.errors_omitted} errors)",
            code="invalid_import",
            errors=errors,
            errors_omitted=parsed.errors_omitted,
        )
    return parsed


def _outcome(connector_id: int, parsed: ParsedUpload, stored: list[ImportedOrder]) -> ImportOutcome:
    duplicates = sum(1 for item in stored if item.duplicate)
    return ImportOutcome(
        connector_id=connector_id,
        created=len(stored) - duplicates,
        duplicates=duplicates,
        failed=parsed.failed,
        orders=tuple(stored),
        errors=parsed.errors,
        errors_omitted=parsed.errors_omitted,
    )


def _summary(outcome: ImportOutcome) -> dict[str, Any]:
    return {
        "created": outcome.created,
        "duplicates": outcome.duplicates,
        "failed": outcome.failed,
    }
