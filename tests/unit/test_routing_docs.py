"""docs/routing.md's examples are rule-set documents the parser accepts."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from omniroute.routing.rules import validate_rule_set

DOC = (Path(__file__).resolve().parents[2] / "docs" / "routing.md").read_text()
SNIPPET = re.compile(r"`(\{[^`]*\})`")


def section(title: str) -> str:
    start = DOC.index(f"### {title}")
    return DOC[start : DOC.index("\n#", start + 1)]


def examples(title: str) -> list[Any]:
    rows = [line for line in section(title).splitlines() if line.startswith("| `")]
    return [json.loads(text) for row in rows for text in SNIPPET.findall(row)]


def document(when: Any, then: Any) -> dict[str, Any]:
    return {
        "name": "docs",
        "timezone": "UTC",
        "rules": [{"id": "example", "when": when, "then": then}],
    }


ANY_ORDER = {"field": "line_count", "op": "gte", "value": 1}


def test_every_condition_field_and_outcome_key_has_an_example() -> None:
    fields = {leaf["field"] for leaf in examples("Conditions")}
    assert len(fields) == 16
    keys = {key for outcome in examples("Outcomes") for key in outcome}
    assert keys == {
        "warehouses",
        "ranking",
        "split",
        "on_no_stock",
        "partial_release",
        "priority_boost",
        "consolidate",
        "on_cutoff_missed",
        "downgrade_to",
        "objective",
        "carrier",
    }


@pytest.mark.parametrize("when", examples("Conditions"), ids=json.dumps)
def test_a_condition_example_is_valid(when: Any) -> None:
    assert validate_rule_set(document(when, {"on_no_stock": "hold"})) == []


@pytest.mark.parametrize("then", examples("Outcomes"), ids=json.dumps)
def test_an_outcome_example_is_valid(then: Any) -> None:
    assert validate_rule_set(document(ANY_ORDER, then)) == []


def test_the_full_examples_are_valid() -> None:
    blocks = re.findall(r"```json\n(.*?)```", DOC, flags=re.DOTALL)
    full, combined = json.loads(blocks[0]), json.loads(blocks[1])
    assert validate_rule_set(full) == []
    assert validate_rule_set(json.loads(blocks[2])) == []  # cut-offs
    assert validate_rule_set(document(combined, {"on_no_stock": "hold"})) == []
