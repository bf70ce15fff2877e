"""The install claims only the import name ``omniroute``.

The card's folders stay at the top of the repository; ``omniroute/`` links to them, and an
install copies them in as subpackages of ``omniroute``. Nothing else may land in
site-packages, and nothing in the repository may import the folders by their bare names.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = sorted(p.name for p in (ROOT / "omniroute").iterdir() if p.is_symlink())


def _python_files(folder: Path) -> set[str]:
    return {
        str(p.relative_to(folder)) for p in folder.rglob("*.py") if "__pycache__" not in p.parts
    }


def test_the_package_links_every_card_folder() -> None:
    assert FOLDERS == [
        "api", "cli", "connectors", "core", "mapping", "migrations", "routing", "worker",
    ]  # fmt: skip
    for name in FOLDERS:
        assert (ROOT / "omniroute" / name).resolve() == ROOT / name


def test_the_image_copies_every_folder_the_package_links() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
    copied = {line.split()[1] for line in dockerfile if line.startswith("COPY ")}
    assert {*FOLDERS, "omniroute"} <= copied


def _copy_of_the_tree(dest: Path) -> Path:
    """The repository's files (links kept as links), so the build leaves no trace in it."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for raw in filter(None, listed):
        name = raw.decode()
        source, copy = ROOT / name, dest / name
        if not source.is_symlink() and not source.is_file():
            continue  # deleted in the work tree
        copy.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            copy.symlink_to(source.readlink())
        else:
            shutil.copy2(source, copy)
    return dest


def test_an_install_adds_only_omniroute(tmp_path: Path) -> None:
    source = _copy_of_the_tree(tmp_path / "source")
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
            "--no-build-isolation", "--target", str(target), str(source),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    top = {p.name for p in target.iterdir()}
    dist_info = {name for name in top if name.endswith(".dist-info")}
    assert [name.split("-")[0] for name in dist_info] == ["omniroute"]
    assert top - dist_info - {"bin"} == {"omniroute"}
    installed = target / "omniroute"
    for name in FOLDERS:
        # Real files, every module of the folder, and the data files they read.
        assert not (installed / name).is_symlink()
        assert _python_files(installed / name) == _python_files(ROOT / name), name
    specs = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("connectors/*/mapping_spec.json"))
    assert len(specs) >= 4, specs
    for data in ("mapping/schemas/order.v1.json", "routing/schemas/ruleset.v1.json", *specs):
        assert (installed / data).is_file(), data
    assert (installed / "migrations" / "script.py.mako").is_file()
    console = sorted(
        str(p.relative_to(ROOT))
        for p in (ROOT / "api" / "console").rglob("*")
        if p.suffix in {".html", ".js", ".css"}
    )
    assert len(console) >= 10, console
    for data in console:
        assert (installed / data).is_file(), data


def _bare_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        found += [n for n in names if n.split(".")[0] in FOLDERS]
    return found


def test_nothing_imports_a_folder_by_its_bare_name() -> None:
    offenders = {
        str(path.relative_to(ROOT)): bare
        for folder in [*FOLDERS, "tests", "bench"]
        for path in (ROOT / folder).rglob("*.py")
        if (bare := _bare_imports(path))
    }
    assert offenders == {}


@pytest.mark.parametrize("name", FOLDERS)
def test_a_folder_refuses_to_be_imported_by_its_bare_name(name: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", f"import {name}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert f"import omniroute.{name}, not {name}" in result.stderr
