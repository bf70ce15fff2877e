"""Files exchanged with another system through folders.

Out: written whole or not at all. In: a watched folder's finished files, each filed away under
``done/`` or ``failed/`` (beside a file of reasons) once read. EDI partners and file-based
warehouses share these.

A reader polling the folder must never see half a file: the bytes go to a temporary name in
the same directory (a leading dot and a ``.part`` suffix, which watched-folder readers skip),
are flushed to disk, then renamed over the final name. Writing the same name again replaces
the file with the new bytes, so a retried delivery leaves one file, not two.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

DONE = "done"
FAILED = "failed"
#: Name endings a writer uses while a file is incomplete; readers leave such files alone.
UNFINISHED_SUFFIXES = (".part", ".tmp")


def is_unfinished(name: str) -> bool:
    """Whether a file name is one a writer has not finished (hidden, ``.part``, ``.tmp``)."""
    return name.startswith(".") or name.endswith(UNFINISHED_SUFFIXES)


def write_atomically(directory: Path, filename: str, body: bytes) -> Path:
    """Write ``body`` as ``directory/filename`` (temp file, fsync, rename); the path.

    Raises ``OSError`` as the file system does; the temporary file never stays behind.
    """
    directory.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".part")
    target = directory / filename
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target


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
