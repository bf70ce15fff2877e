"""`omniroute demo` as a user runs it: a fresh folder, SQLite, the embedded worker."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_demo_routes_and_releases_its_orders(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIROUTE_")}
    cli = Path(sys.executable).with_name("omniroute")
    command = [str(cli)] if cli.exists() else [sys.executable, "-m", "omniroute.cli.main"]
    done = subprocess.run(
        [*command, "demo", "--send-orders", "8", "--exit-when-done", "--port", str(_free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "admin token: omr_" in out
    assert "sent 8 signed Shopify orders" in out
    assert "8 released" in out, out
    assert (tmp_path / "omniroute-demo.db").exists()
