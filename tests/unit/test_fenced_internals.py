"""Speed-ups that lean on a library's private behaviour are fenced: each lives in one adapter
module, the library is bounded above in pyproject.toml, and a test of that module runs
against the real library, so an upgrade that changes the behaviour fails there first."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]

# adapter module -> (libraries whose private behaviour it uses, the tests that pin it)
FENCES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "api/nudge_publisher.py": (
        ("celery", "kombu"),
        ("tests/e2e/test_nudge_publisher.py", "tests/unit/test_nudge_publisher.py"),
    ),
    "worker/broker_probe.py": (("celery", "kombu"), ("tests/e2e/test_intake_hint.py",)),
    "core/platform/inbox_insert.py": (("sqlalchemy",), ("tests/integration/test_intake_path.py",)),
}
# Library modules only a fence may import.
PRIVATE = {
    "sqlalchemy.sql.schema": {"core/platform/inbox_insert.py"},
    "kombu.serialization": {"api/nudge_publisher.py"},
    "kombu.utils.json": {"api/nudge_publisher.py"},
}


def _requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {(r := Requirement(spec)).name.lower(): r for spec in project["dependencies"]}


@pytest.mark.parametrize("library", sorted({lib for libs, _ in FENCES.values() for lib in libs}))
def test_a_fenced_library_is_bounded_above(library: str) -> None:
    requirement = _requirements()[library]
    assert any(s.operator in ("<", "<=", "==", "~=") for s in requirement.specifier), requirement


@pytest.mark.parametrize("module", sorted(FENCES))
def test_a_fence_is_pinned_by_tests_of_it(module: str) -> None:
    import_name = "omniroute." + module.removesuffix(".py").replace("/", ".")
    for test in FENCES[module][1]:
        assert import_name in (ROOT / test).read_text(encoding="utf-8"), (module, test)


def test_private_library_modules_are_imported_only_by_their_fence() -> None:
    found: dict[str, set[str]] = {name: set() for name in PRIVATE}
    for folder in ("api", "cli", "connectors", "core", "mapping", "routing", "worker"):
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else []
                )
                for name in names:
                    if name in found:
                        found[name].add(str(path.relative_to(ROOT)))
    assert found == PRIVATE
