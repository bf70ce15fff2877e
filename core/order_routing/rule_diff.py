"""What changed between two rule-set documents, rule by rule, in words. Pure.

Rules are matched by ``id``: a rule only in the newer document is added, one only in the
older is removed, one in both whose ``when``, ``then``, ``continue`` or ``description``
differ is changed (each differing leaf with its path, before and after), and one that lost
its place among the rules both have is moved (order decides which rule applies first; the
fewest rules that explain the new order are called moved). The document's own keys (name,
timezone, default, ...) are compared the same way. Conditions are shown as the router
describes them (``country in [US, CA]``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from omniroute.routing.condition_parser import read_condition
from omniroute.routing.conditions import RuleError

SETTINGS = ("name", "description", "timezone", "schema_version", "default")
RULE_KEYS = ("description", "when", "then", "continue")


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    return json.dumps(value, sort_keys=True, separators=(", ", ": "))


def _condition_text(value: Any) -> str:
    errors: list[RuleError] = []
    condition = read_condition(value, "when", errors)
    return _show(value) if condition is None else condition.describe()


def _leaf_changes(before: Any, after: Any, path: str) -> Iterator[dict[str, Any]]:
    """Each leaf that differs; objects are compared key by key, conditions and anything else
    whole."""
    if before == after:
        return
    condition = path == "when"  # shown whole, in words
    if isinstance(before, dict) and isinstance(after, dict) and not condition:
        for key in [*before, *(k for k in after if k not in before)]:
            yield from _leaf_changes(before.get(key), after.get(key), f"{path}.{key}")
        return
    shown = _condition_text if condition else _show
    text = f"{path}: {shown(before)} -> {shown(after)}"
    if before is None:
        text = f"{path}: set to {shown(after)}"
    elif after is None:
        text = f"{path}: removed (was {shown(before)})"
    yield {"path": path, "before": before, "after": after, "text": text}


def _rules(doc: Any) -> dict[str, tuple[int, dict[str, Any]]]:
    rules = doc.get("rules") if isinstance(doc, dict) else None
    found: dict[str, tuple[int, dict[str, Any]]] = {}
    for n, rule in enumerate(rules if isinstance(rules, list) else []):
        if isinstance(rule, dict) and isinstance(rule.get("id"), str):
            found.setdefault(rule["id"], (n, rule))
    return found


def _longest_common(first: list[str], second: list[str]) -> set[str]:
    """The ids of a longest common subsequence: the rules that kept their order; the others
    are the fewest that moved."""
    m, n = len(first), len(second)
    best = [[0] * (n + 1) for _ in range(m + 1)]
    for i in range(m - 1, -1, -1):
        for j in range(n - 1, -1, -1):
            best[i][j] = (
                best[i + 1][j + 1] + 1
                if first[i] == second[j]
                else max(best[i + 1][j], best[i][j + 1])
            )
    kept: set[str] = set()
    i = j = 0
    while i < m and j < n:
        if first[i] == second[j]:
            kept.add(first[i])
            i, j = i + 1, j + 1
        elif best[i + 1][j] >= best[i][j + 1]:
            i += 1
        else:
            j += 1
    return kept


def _rule_text(rule: dict[str, Any]) -> str:
    go_on = ", then continue" if rule.get("continue") else ""
    return f"when {_condition_text(rule.get('when'))}: {_show(rule.get('then'))}{go_on}"


def diff_documents(before: Any, after: Any) -> dict[str, Any]:
    """The changes from ``before`` to ``after``: ``settings``, ``rules`` and counts."""
    old = before if isinstance(before, dict) else {}
    new = after if isinstance(after, dict) else {}
    settings = [
        change for key in SETTINGS for change in _leaf_changes(old.get(key), new.get(key), key)
    ]
    old_rules, new_rules = _rules(old), _rules(new)
    kept_old = [rid for rid in old_rules if rid in new_rules]
    kept_new = sorted(kept_old, key=lambda rid: new_rules[rid][0])
    in_place = _longest_common(kept_old, kept_new)
    rules: list[dict[str, Any]] = []
    for rid, (n, rule) in new_rules.items():
        if rid not in old_rules:
            text = f"+ rule {rid} added at position {n + 1}: {_rule_text(rule)}"
            rules.append({"rule": rid, "change": "added", "position": n + 1, "text": text})
    for rid, (n, rule) in old_rules.items():
        if rid not in new_rules:
            text = f"- rule {rid} removed (was at position {n + 1}): {_rule_text(rule)}"
            rules.append({"rule": rid, "change": "removed", "position": n + 1, "text": text})
    for rid in kept_new:
        (was, old_rule), (now, new_rule) = old_rules[rid], new_rules[rid]
        details = [
            change
            for key in RULE_KEYS
            for change in _leaf_changes(old_rule.get(key), new_rule.get(key), key)
        ]
        moved = rid not in in_place
        if details:
            lines = "; ".join(d["text"] for d in details)
            rules.append(
                {
                    "rule": rid,
                    "change": "changed",
                    "position": now + 1,
                    "details": details,
                    "text": f"~ rule {rid}: {lines}",
                }
            )
        if moved:
            text = f"^ rule {rid} moved from position {was + 1} to {now + 1}"
            rules.append({"rule": rid, "change": "moved", "position": now + 1, "text": text})
    counts = {
        kind: sum(r["change"] == kind for r in rules)
        for kind in ("added", "removed", "changed", "moved")
    }
    counts["unchanged"] = sum(1 for rid in kept_new if not any(r["rule"] == rid for r in rules))
    return {"counts": counts, "settings": settings, "rules": rules}


def diff_lines(diff: dict[str, Any]) -> list[str]:
    """The diff as lines of text, settings first."""
    lines = [f"~ {change['text']}" for change in diff["settings"]]
    lines += [rule["text"] for rule in diff["rules"]]
    counts = diff["counts"]
    lines.append(", ".join(f"{n} {kind}" for kind, n in counts.items()))
    return lines
