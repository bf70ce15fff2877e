"""`omniroute rules validate` (pure: reads a file, prints each problem with its path)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from omniroute.cli.main import app


def test_validate_accepts_a_good_rule_set_and_names_each_problem(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"name": "n", "timezone": "UTC", "default": {}, "rules": []}))
    ok = CliRunner().invoke(app, ["rules", "validate", str(good)])
    assert ok.exit_code == 0 and "valid" in ok.output

    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "name": "n",
                "timezone": "UTC",
                "default": {"ranking": ["vibes"]},
                "rules": [
                    {"id": "r", "when": {"field": "country", "op": "gt", "value": "US"}, "then": {}}
                ],
            }
        )
    )
    result = CliRunner().invoke(app, ["rules", "validate", str(bad)])
    assert result.exit_code == 1
    assert "default.ranking[0]" in result.output
    assert "rules[0].when" in result.output

    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert CliRunner().invoke(app, ["rules", "validate", str(broken)]).exit_code == 2
