"""Partners' inbox folders: each file a partner dropped is stored like a posted one, then
moved to ``done/`` (every interchange stored, or stored before) or to ``failed/`` beside a
``<name>.reason`` file saying why (an interchange rejected, or the file unreadable). The
sweeper takes a turn each time it runs. Partners write a file under a temporary name (a
leading dot, or ``.part`` / ``.tmp``) and rename it when complete; such names are left alone.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sqlalchemy import select

from omniroute.core.edi.intake import Deps, Entry, import_file
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.errors import DomainError
from omniroute.core.platform.models import Connector

log = logging.getLogger("omniroute.edi.folders")

KINDS = ("edi_x12", "edi_edifact")
DONE = "done"
FAILED = "failed"
_UNFINISHED = (".part", ".tmp")


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
        names = sorted(entry.name for entry in os.scandir(folder) if entry.is_file())
    except OSError as exc:
        log.warning("partner %s: cannot read inbox folder %s: %s", connector_id, folder, exc)
        return 0
    taken = 0
    for name in names:
        if name.startswith(".") or name.endswith(_UNFINISHED):
            continue
        _take_file(deps, connector_id, folder / name)
        taken += 1
    return taken


def _take_file(deps: Deps, connector_id: int, path: Path) -> None:
    reasons: list[str]
    try:
        body = path.read_bytes()
        entries = import_file(deps, connector_id, body, source=f"folder:{path.name}")
        reasons = _rejections(entries)
    except (DomainError, OSError) as exc:
        reasons = [str(exc)]
    _move(path, FAILED if reasons else DONE, reasons)


def _rejections(entries: list[Entry]) -> list[str]:
    return [
        f"{entry.interchange}: {'; '.join(entry.reasons)}"
        for entry in entries
        if entry.status == "rejected"
    ]


def _move(path: Path, where: str, reasons: list[str]) -> None:
    target_dir = path.parent / where
    target_dir.mkdir(exist_ok=True)
    target = _free_name(target_dir, path.name)
    if reasons:
        reason = target.with_name(target.name + ".reason")
        reason.write_text("\n".join(reasons) + "\n", encoding="utf-8")
    os.replace(path, target)


def _free_name(directory: Path, name: str) -> Path:
    """``name`` in ``directory``, or ``name.1``, ``name.2``... when a file of it is there."""
    candidate = directory / name
    n = 0
    while candidate.exists():
        n += 1
        candidate = directory / f"{name}.{n}"
    return candidate
