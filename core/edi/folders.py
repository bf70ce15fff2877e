"""Partners' inbox folders: each file a partner dropped is stored like a posted one, then
moved to ``done/`` (every interchange stored, or stored before) or to ``failed/`` beside a
``<name>.reason`` file saying why (an interchange rejected, or the file unreadable). The
sweeper takes a turn each time it runs. Partners write a file under a temporary name (a
leading dot, or ``.part`` / ``.tmp``) and rename it when complete; such names are left alone.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import select

from omniroute.connectors.files import DONE, FAILED, file_away, finished_files
from omniroute.core.edi.intake import Deps, Entry, import_file
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.errors import DomainError
from omniroute.core.platform.models import Connector

log = logging.getLogger("omniroute.edi.folders")

KINDS = ("edi_x12", "edi_edifact")
__all__ = ["DONE", "FAILED", "KINDS", "sweep_inboxes", "take_folder"]


def sweep_inboxes(deps: Deps) -> int:
    """Take in every finished file of every enabled partner's inbox folder; how many."""
    with unit_of_work(deps.sessions) as session:
        rows = session.execute(
            select(Connector.id, Connector.config).where(
                Connector.kind.in_(KINDS), Connector.enabled.is_(True)
            )
        ).all()
    taken = 0
    for connector_id, config in rows:
        folder = (config or {}).get("inbox_directory")
        if folder:
            taken += take_folder(deps, connector_id, Path(folder))
    return taken


def take_folder(deps: Deps, connector_id: int, folder: Path) -> int:
    try:
        paths = finished_files(folder)
    except OSError as exc:
        log.warning("partner %s: cannot read inbox folder %s: %s", connector_id, folder, exc)
        return 0
    for path in paths:
        _take_file(deps, connector_id, path)
    return len(paths)


def _take_file(deps: Deps, connector_id: int, path: Path) -> None:
    reasons: list[str]
    try:
        body = path.read_bytes()
        entries = import_file(deps, connector_id, body, source=f"folder:{path.name}")
        reasons = _rejections(entries)
    except (DomainError, OSError) as exc:
        reasons = [str(exc)]
    file_away(path, FAILED if reasons else DONE, reasons, reason_suffix=".reason")


def _rejections(entries: list[Entry]) -> list[str]:
    return [
        f"{entry.interchange}: {'; '.join(entry.reasons)}"
        for entry in entries
        if entry.status == "rejected"
    ]
