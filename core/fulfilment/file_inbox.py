"""File-based warehouses' inbound folders: a sweeper turn (and ``omniroute wms file-turn``).

Each finished file (writers use a temporary name — a leading dot, ``.part`` or ``.tmp`` —
and rename it when complete; such names are left alone) is stored raw as an inbox row first,
committed, keyed by its SHA-256 (the same file twice is one row), then applied
(``file_confirmations``), then moved: to ``done/`` when every confirmation in it applied (or
it was applied before), to ``failed/`` beside ``<name>.reason.txt`` otherwise. A failed file
also has its inbox row failed with an ``invalid_payload`` exception, which ops retry from the
queue once the cause is fixed (the stored bytes are replayed; the file in ``failed/`` is for
people to read).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pydantic import ValidationError
from sqlalchemy import select

from omniroute.connectors.files import DONE, FAILED, file_away, finished_files
from omniroute.connectors.wms.file.connector import FileWmsConfig, FileWmsConnector
from omniroute.core.fulfilment import file_confirmations
from omniroute.core.fulfilment.file_confirmations import FILE_HEADER, TOPIC, apply_file
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.errors import Invalid, NotFound
from omniroute.core.platform.inbox_insert import insert_committed
from omniroute.core.platform.models import Connector, InboundMessage, Warehouse
from omniroute.core.platform.ports import HasEngine

log = logging.getLogger("omniroute.fulfilment.files")

KIND = FileWmsConnector.kind
REASON_SUFFIX = ".reason.txt"
STORED = "stored"  # kept as an inbox row, not applied yet: the file stays for the next turn


class Deps(file_confirmations.Deps, HasEngine, Protocol):
    """What a folder turn uses."""


@dataclass(frozen=True)
class Taken:
    """What became of one file of a turn."""

    name: str
    status: str  # done, failed, duplicate, or stored (applied later)
    inbound_id: int | None
    reasons: tuple[str, ...] = ()


def sweep_folders(deps: Deps) -> int:
    """Take in every finished file of every enabled ``wms_file`` connector; how many."""
    with unit_of_work(deps.sessions) as session:
        rows = session.execute(
            select(Connector.id, Connector.config).where(
                Connector.kind == KIND, Connector.enabled.is_(True)
            )
        ).all()
    taken = 0
    for connector_id, config in rows:
        try:
            folder = Path(FileWmsConfig.model_validate(config).inbound_directory)
        except ValidationError as exc:
            log.warning("file WMS %s: its config is not valid: %s", connector_id, exc)
            continue
        taken += len(take_folder(deps, connector_id, folder))
    return taken


def turn_for_warehouse(deps: Deps, warehouse_code: str) -> list[Taken]:
    """One turn of the inbound folder of the warehouse with this code (the CLI)."""
    with unit_of_work(deps.sessions) as session:
        row = session.execute(
            select(Connector.id, Connector.kind, Connector.config)
            .join(Warehouse, Warehouse.wms_connector_id == Connector.id)
            .where(Warehouse.code == warehouse_code)
        ).first()
        known = row is not None or session.scalar(
            select(Warehouse.id).where(Warehouse.code == warehouse_code)
        )
    if not known:
        raise NotFound(f"warehouse {warehouse_code} does not exist")
    if row is None or row.kind != KIND:
        raise Invalid(f"warehouse {warehouse_code} has no {KIND} connector", code="not_file_wms")
    folder = Path(FileWmsConfig.model_validate(row.config).inbound_directory)
    return take_folder(deps, row.id, folder)


def take_folder(deps: Deps, connector_id: int, folder: Path) -> list[Taken]:
    try:
        paths = finished_files(folder)
    except OSError as exc:
        log.warning("file WMS %s: cannot read inbound folder %s: %s", connector_id, folder, exc)
        return []
    taken = []
    for path in paths:
        outcome = _take_file(deps, connector_id, path)
        taken.append(outcome)
        if outcome.status == STORED:
            continue  # left for the next turn, which finds it stored (see ``_take_file``)
        try:
            file_away(
                path,
                FAILED if outcome.status == "failed" else DONE,
                list(outcome.reasons),
                reason_suffix=REASON_SUFFIX,
            )
        except OSError as exc:  # stored already: the next turn finds it a duplicate
            log.warning("file WMS %s: cannot move %s: %s", connector_id, path, exc)
    return taken


def _take_file(deps: Deps, connector_id: int, path: Path) -> Taken:
    try:
        body = path.read_bytes()
    except OSError as exc:
        return Taken(path.name, "failed", None, (f"the file cannot be read: {exc}",))
    key = file_confirmations.dedupe_key(body)
    inbound_id = insert_committed(
        deps.engine,
        {
            "connector_id": connector_id,
            "dedupe_key": key,
            "topic": TOPIC,
            "headers": {FILE_HEADER: path.name},
            "body": body,
            "status": "pending",
            "attempts": 0,
        },
    )
    if inbound_id is None:
        return _duplicate(deps, connector_id, key, path.name)
    try:
        outcome = apply_file(deps, inbound_id)
    except Exception:
        # Stored and still claimed: once the claim is stale the sweeper hands the row to
        # ``intake.processing``, which applies it; the file waits here until then.
        log.exception(
            "file WMS %s: %s stored as inbox row %s, not applied yet",
            connector_id,
            path.name,
            inbound_id,
        )
        return Taken(path.name, STORED, inbound_id)
    if outcome is None:  # another process took the row first: it is stored, it will apply
        return Taken(path.name, "done", inbound_id)
    return Taken(path.name, outcome.status, inbound_id, outcome.reasons)


def _duplicate(deps: Deps, connector_id: int, key: str, name: str) -> Taken:
    """A file read before: nothing is applied again; it goes where its first copy went."""
    with unit_of_work(deps.sessions) as session:
        first = session.execute(
            select(InboundMessage.id, InboundMessage.status, InboundMessage.last_error).where(
                InboundMessage.connector_id == connector_id, InboundMessage.dedupe_key == key
            )
        ).one()
    if first.status == "failed":
        reason = (
            f"the same file was read before as inbox row {first.id}, which failed "
            f"(retry it from the exception queue): {first.last_error}"
        )
        return Taken(name, "failed", first.id, (reason,))
    return Taken(name, "duplicate", first.id)
