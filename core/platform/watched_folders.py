"""Watched inbox folders, shared by EDI partners and file-based warehouses: which files are
finished, and filing a read file under ``done/`` or ``failed/`` (beside a reason file)."""

from __future__ import annotations

import os
from pathlib import Path

from omniroute.connectors.files import is_unfinished

DONE = "done"
FAILED = "failed"


def finished_files(folder: Path) -> list[Path]:
    """The files a sender has finished writing, by name; ``OSError`` if unreadable."""
    names = sorted(entry.name for entry in os.scandir(folder) if entry.is_file())
    return [folder / name for name in names if not is_unfinished(name)]


def file_away(path: Path, where: str, reasons: list[str], *, reason_suffix: str) -> Path:
    """Move ``path`` into ``where`` (a folder beside it, made if missing) under a free name;
    with ``reasons``, write them first into ``<new name><reason_suffix>``. The new path."""
    target_dir = path.parent / where
    target_dir.mkdir(exist_ok=True)
    target = _free_name(target_dir, path.name)
    if reasons:
        reason = target.with_name(target.name + reason_suffix)
        reason.write_text("\n".join(reasons) + "\n", encoding="utf-8")
    os.replace(path, target)
    return target


def _free_name(directory: Path, name: str) -> Path:
    """``name`` in ``directory``, or ``name.1``, ``name.2``... when a file of it is there."""
    candidate = directory / name
    n = 0
    while candidate.exists():
        n += 1
        candidate = directory / f"{name}.{n}"
    return candidate
