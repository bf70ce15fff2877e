"""Files handed to another system through a folder: written whole or not at all.

A reader polling the folder must never see half a file: the bytes go to a temporary name in
the same directory (a leading dot and a ``.part`` suffix, which watched-folder readers skip),
are flushed to disk, then renamed over the final name. Writing the same name again replaces
the file with the new bytes, so a retried delivery leaves one file, not two.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

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
