"""Routing rule sets as ops edit them: draft → validate → simulate → publish, with history.

Versions are numbered once for all rule sets. A published version is immutable; the one in
force at a moment is the published version with the latest ``effective_from`` at or before
it. Rolling back is publishing an older version again, which copies it as a new version so
history reads in the order things happened.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from omniroute.core.access.audit import record
from omniroute.core.order_routing.inputs import rule_error_dicts
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.errors import Conflict, Invalid, NotFound
from omniroute.core.platform.models import RoutingRuleSet
from omniroute.core.platform.ports import Store
from omniroute.routing.rules import validate_rule_set


def check_document(doc: Any) -> list[dict[str, str]]:
    """Every problem in a rule-set document, each with its JSON path."""
    return rule_error_dicts(validate_rule_set(doc))


def _require_valid(doc: Any) -> None:
    errors = check_document(doc)
    if errors:
        raise Invalid("the rule set is not valid", code="invalid_rule_set", errors=errors)


def _next_version(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.max(RoutingRuleSet.version), 0))) or 0) + 1


def create_draft(
    deps: Store, doc: dict[str, Any], *, notes: str | None, actor: str
) -> RoutingRuleSet:
    """Store a draft; it may be invalid (validation reports its problems)."""
    with unit_of_work(deps.sessions) as session:
        row = RoutingRuleSet(
            version=_next_version(session),
            name=str(doc.get("name") or "unnamed"),
            status="draft",
            document=doc,
            notes=notes,
            created_by=actor,
        )
        session.add(row)
        session.flush()
        record(
            session, actor, "rule_set.draft", "routing_rule_set", row.id, {"version": row.version}
        )
        return row


def update_draft(
    deps: Store, rule_set_id: int, doc: dict[str, Any], *, notes: str | None, actor: str
) -> RoutingRuleSet:
    with unit_of_work(deps.sessions) as session:
        row = _get(session, rule_set_id)
        if row.status != "draft":
            raise Conflict(
                f"version {row.version} is published and cannot change; create a new draft",
                code="immutable",
            )
        row.document, row.name = doc, str(doc.get("name") or "unnamed")
        if notes is not None:
            row.notes = notes
        record(session, actor, "rule_set.update", "routing_rule_set", row.id, {})
        return row


def publish(
    deps: Store, rule_set_id: int, *, effective_from: datetime | None, actor: str
) -> RoutingRuleSet:
    """Publish a draft, or re-publish an older version (a rollback) as a new version."""
    with unit_of_work(deps.sessions) as session:
        row = _get(session, rule_set_id)
        _require_valid(row.document)
        now = deps.clock.now()
        if row.status == "published":
            row = RoutingRuleSet(
                version=_next_version(session),
                name=row.name,
                status="draft",
                document=row.document,
                notes=f"republished from version {row.version}",
                created_by=actor,
                copied_from=row.version,
            )
            session.add(row)
        row.status, row.published_at, row.published_by = "published", now, actor
        row.effective_from = effective_from or now
        session.flush()
        record(
            session,
            actor,
            "rule_set.publish",
            "routing_rule_set",
            row.id,
            {"version": row.version, "effective_from": row.effective_from.isoformat()},
        )
        return row


def list_rule_sets(deps: Store) -> list[RoutingRuleSet]:
    with unit_of_work(deps.sessions) as session:
        return list(session.scalars(select(RoutingRuleSet).order_by(RoutingRuleSet.version)))


def get_rule_set(deps: Store, rule_set_id: int) -> RoutingRuleSet:
    with unit_of_work(deps.sessions) as session:
        return _get(session, rule_set_id)


def _get(session: Session, rule_set_id: int) -> RoutingRuleSet:
    row = session.get(RoutingRuleSet, rule_set_id)
    if row is None:
        raise NotFound(f"rule set {rule_set_id} does not exist")
    return row
