"""Each invariant has one writer: stock rows and their ledger are written only by
``core/stock/levels.py``, outbox rows only by ``core/outbox/messages.py``.

A statement that writes those tables anywhere else in core/ fails this test; move it into
the writer (or call the writer) instead.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "core"

WRITERS = {
    "core/stock/levels.py": ("StockLevel", "StockLedger"),
    "core/outbox/messages.py": ("OutboxMessage",),
}


def _writes(model: str) -> re.Pattern[str]:
    return re.compile(
        rf"\b(?:insert|update|delete)\(\s*(?:table_of\(\s*)?{model}\b|\b{model}\(\s*[a-z_]+="
    )


@pytest.mark.parametrize(("writer", "models"), WRITERS.items())
def test_only_the_writer_writes_its_tables(writer: str, models: tuple[str, ...]) -> None:
    offenders = []
    for path in sorted(CORE.rglob("*.py")):
        name = str(path.relative_to(CORE.parent))
        if name in (writer, "core/platform/models.py"):
            continue
        text = path.read_text(encoding="utf-8")
        for model in models:
            offenders += [
                f"{name}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}"
                for m in _writes(model).finditer(text)
            ]
    assert offenders == []


def test_the_patterns_find_a_write() -> None:
    sample = "session.execute(update(table_of(StockLevel)).values(reserved=1))"
    assert _writes("StockLevel").search(sample)
    assert _writes("OutboxMessage").search("insert(OutboxMessage).values(kind='x')")
    assert _writes("StockLedger").search("session.add(StockLedger(warehouse_id=1))")
    assert not _writes("StockLevel").search("select(StockLevel.on_hand)")
