"""deploy/prometheus/alerts.yml names only metrics omniroute exports, and each alert has its
runbook in README."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.metrics import MetricWrapperBase

from omniroute.core.platform import metrics
from omniroute.core.platform.telemetry.gauges import Reading, families

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
METRIC = re.compile(r"\bomniroute_[a-z0-9_]+")
# What an expression may call or say besides metric names (PromQL).
FUNCTIONS = {"absent", "rate", "max", "sum", "histogram_quantile"}
KEYWORDS = {"by", "or", "le"}


def exported_names() -> set[str]:
    """Every sample name /metrics can show: this process's counters and histograms (with
    their suffixes) and the database gauges."""
    names: set[str] = set()
    for value in vars(metrics).values():
        if not isinstance(value, MetricWrapperBase):
            continue
        for family in value.describe():
            names.add(family.name)
            if family.type == "histogram":
                names.update(f"{family.name}_{s}" for s in ("bucket", "count", "sum"))
            if family.type == "counter":
                names.add(f"{family.name}_total")
    sample = Reading([], [], [], [], [], [], [], 0.0)
    names.update(family.name for family in families(sample))
    names.add("omniroute_database_gauges_up")
    return names


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_every_expression_names_metrics_omniroute_exports() -> None:
    exported = exported_names()
    assert {"omniroute_tasks_total", "omniroute_inbox_oldest_age_seconds"} <= exported
    for rule in rules():
        expr = rule["expr"]
        named = set(METRIC.findall(expr))
        assert named, rule["alert"]
        assert named <= exported, (rule["alert"], named - exported)
        words = set(re.findall(r"\b([a-z_]+)\s*\(", expr)) | set(
            re.findall(r"\b(by|or|and|unless|on|without)\b", expr)
        )
        assert words <= FUNCTIONS | KEYWORDS, (rule["alert"], words - FUNCTIONS - KEYWORDS)


def test_every_alert_is_labelled_and_has_a_runbook_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    headings = set(re.findall(r"^#### (\w+)$", readme, flags=re.MULTILINE))
    names = [rule["alert"] for rule in rules()]
    assert len(names) == len(set(names))
    for rule in rules():
        name = rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"], name
        assert rule["annotations"]["runbook"] == f"README.md#{name.lower()}", name
        assert name in headings, f"README has no '#### {name}' runbook"
    assert headings >= set(names)
