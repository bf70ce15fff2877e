"""Routing rule sets as ops edit them: draft → validate → simulate → publish, with history.

Versions are numbered once for all rule sets. A published version is immutable; which one
routes at a moment, and the state of every version then (scheduled, active, superseded,
withdrawn), is derived from their times (:mod:`order_routing.lifecycle`). A version can be
withdrawn (a scheduled one then never takes effect; an active one hands over to the version
in force before it). Rolling back is activating an older version: it is copied as a new
version effective now, so history reads in the order things happened, and every version
still scheduled is withdrawn with it, so none takes over later. Publishing checks the names a
rule set uses against the configuration (:mod:`order_routing.rule_references`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from omniroute.core.access.audit import record
from omniroute.core.order_routing.inputs import rule_error_dicts
from omniroute.core.order_routing.lifecycle import State, VersionTimes, states_at
from omniroute.core.order_routing.rule_diff import diff_documents, diff_lines
from omniroute.core.order_routing.rule_references import ReferenceCheck, check_references
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.errors import Conflict, Invalid, NotFound
from omniroute.core.platform.models import RoutingRuleSet
from omniroute.core.platform.ports import HasConnectors, Store
from omniroute.core.platform.sql import serialize_writers
from omniroute.routing.rules import validate_rule_set


class Deps(Store, HasConnectors, Protocol):
    """What checking names against the configuration needs besides a store."""


@dataclass(frozen=True)
class Version:
    """A version with its state at the moment it was read."""

    row: RoutingRuleSet
    state: State
    warnings: list[dict[str, Any]] | None = None  # name warnings, when this answer checked
    withdrawn: list[int] = field(default_factory=list)  # versions a rollback cancelled


def check_document(doc: Any) -> list[dict[str, str]]:
    """Every problem in a rule-set document, each with its JSON path."""
    return rule_error_dicts(validate_rule_set(doc))


def validate_document(deps: Deps, doc: Any) -> ReferenceCheck:
    """Every problem of a document: its form, then (when the form is right) the names it uses
    that the configuration lacks (errors) or cannot serve yet (warnings)."""
    errors = check_document(doc)
    if errors:
        return ReferenceCheck(errors=list(errors))
    with unit_of_work(deps.sessions) as session:
        return check_references(session, doc, deps.connectors.kinds)


def _require_valid(session: Session, deps: Deps, doc: Any) -> list[dict[str, Any]]:
    """Refuse a document with a problem or an unknown name; its warnings otherwise."""
    errors = check_document(doc)
    if errors:
        raise Invalid("the rule set is not valid", code="invalid_rule_set", errors=errors)
    names = check_references(session, doc, deps.connectors.kinds)
    if names.errors:
        bad = ", ".join(sorted({str(e["reference"]) for e in names.errors}))
        raise Invalid(
            f"the rule set names what the configuration does not have: {bad}",
            code="unknown_reference",
            errors=names.errors,
            warnings=names.warnings,
        )
    return names.warnings


# Versions are numbered max + 1 and a rollback reads every version's state before it writes:
# one writer of rule sets at a time, so two at once neither collide nor both roll back.
WRITERS = "routing_rule_set"


def _next_version(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.max(RoutingRuleSet.version), 0))) or 0) + 1


def create_draft(
    deps: Store, doc: dict[str, Any], *, notes: str | None, actor: str
) -> RoutingRuleSet:
    """Store a draft; it may be invalid (validation reports its problems)."""
    with unit_of_work(deps.sessions) as session:
        serialize_writers(session, WRITERS)
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
        serialize_writers(session, WRITERS)
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
    deps: Deps, rule_set_id: int, *, effective_from: datetime | None, actor: str
) -> Version:
    """Publish a draft, now or at ``effective_from``. For a version already published this
    is a rollback (:func:`activate`), or with a later ``effective_from`` a copy scheduled then."""
    now = deps.clock.now()
    with unit_of_work(deps.sessions) as session:
        serialize_writers(session, WRITERS)
        row = _get(session, rule_set_id)
        if row.status == "published" and (effective_from is None or effective_from <= now):
            return _activate(session, deps, row, actor=actor, now=now)
        warnings = _require_valid(session, deps, row.document)
        if row.status == "published":
            row = _copy(session, row, actor, f"republished from version {row.version}")
        row.status, row.published_at, row.published_by = "published", now, actor
        row.effective_from = effective_from or now
        session.flush()
        record(
            session,
            actor,
            "rule_set.publish",
            "routing_rule_set",
            row.id,
            {
                "version": row.version,
                "effective_from": row.effective_from.isoformat(),
                "warnings": len(warnings),
            },
        )
        return Version(row, _states(session, now)[row.version], warnings)


def activate(deps: Deps, rule_set_id: int, *, actor: str) -> Version:
    """Roll back: make a published version the active one now, withdrawing every version
    still scheduled so that none takes over later."""
    now = deps.clock.now()
    with unit_of_work(deps.sessions) as session:
        serialize_writers(session, WRITERS)
        return _activate(session, deps, _get(session, rule_set_id), actor=actor, now=now)


def _activate(
    session: Session, deps: Deps, target: RoutingRuleSet, *, actor: str, now: datetime
) -> Version:
    if target.status != "published":
        raise Conflict(
            f"version {target.version} is a draft; publish it instead", code="not_published"
        )
    states = _states(session, now)
    if states[target.version] is State.ACTIVE:
        scheduled = sorted(v for v, s in states.items() if s is State.SCHEDULED)
        hint = f"; withdraw version {scheduled[0]} to stop it" if scheduled else ""
        raise Conflict(f"version {target.version} is already active{hint}", code="already_active")
    active = [v for v, s in states.items() if s is State.ACTIVE]
    copy_of = {row.version: row.copied_from for row in _rows(session)}
    if active and copy_of.get(active[0]) == target.version:
        raise Conflict(
            f"version {target.version} is already active, as version {active[0]}",
            code="already_active",
        )
    warnings = _require_valid(session, deps, target.document)
    copy = _copy(session, target, actor, f"rollback to version {target.version}")
    copy.status, copy.published_at, copy.published_by = "published", now, actor
    copy.effective_from = now
    session.flush()
    reason = f"cancelled by the rollback to version {target.version} (as version {copy.version})"
    cancelled = [
        _withdraw(session, row, actor=actor, now=now, reason=reason, was=State.SCHEDULED)
        for row in _rows(session)
        if states.get(row.version) is State.SCHEDULED
    ]
    record(
        session,
        actor,
        "rule_set.activate",
        "routing_rule_set",
        copy.id,
        {"version": copy.version, "copied_from": target.version, "withdrew": cancelled},
    )
    return Version(copy, _states(session, now)[copy.version], warnings, cancelled)


def withdraw(deps: Store, rule_set_id: int, *, reason: str | None, actor: str) -> Version:
    """Withdraw a published version: from now on it routes nothing and never will."""
    now = deps.clock.now()
    with unit_of_work(deps.sessions) as session:
        serialize_writers(session, WRITERS)
        row = _get(session, rule_set_id)
        state = _states(session, now)[row.version]
        if state in (State.DRAFT, State.WITHDRAWN):
            raise Conflict(
                f"version {row.version} is {state.value}; only a published version can be "
                "withdrawn, once",
                code=f"rule_set_{state.value}",
            )
        _withdraw(session, row, actor=actor, now=now, reason=reason or "withdrawn", was=state)
        return Version(row, _states(session, now)[row.version])


def _withdraw(
    session: Session, row: RoutingRuleSet, *, actor: str, now: datetime, reason: str, was: State
) -> int:
    row.withdrawn_at, row.withdrawn_by, row.withdraw_reason = now, actor, reason
    record(
        session,
        actor,
        "rule_set.withdraw",
        "routing_rule_set",
        row.id,
        {"version": row.version, "was": was.value, "reason": reason},
    )
    return row.version


def _copy(session: Session, row: RoutingRuleSet, actor: str, notes: str) -> RoutingRuleSet:
    copy = RoutingRuleSet(
        version=_next_version(session),
        name=row.name,
        status="draft",
        document=row.document,
        notes=notes,
        created_by=actor,
        copied_from=row.version,
    )
    session.add(copy)
    return copy


def _rows(session: Session) -> list[RoutingRuleSet]:
    return list(session.scalars(select(RoutingRuleSet).order_by(RoutingRuleSet.version)))


def _states(session: Session, now: datetime) -> dict[int, State]:
    session.flush()
    return states_at((_times(row) for row in _rows(session)), now)


def _times(row: RoutingRuleSet) -> VersionTimes:
    return VersionTimes(row.version, row.published_at, row.effective_from, row.withdrawn_at)


def list_rule_sets(deps: Store) -> list[Version]:
    """Every version, oldest first, with its state now."""
    now = deps.clock.now()
    with unit_of_work(deps.sessions) as session:
        rows = _rows(session)
        states = states_at((_times(row) for row in rows), now)
        return [Version(row, states[row.version]) for row in rows]


def get_rule_set(deps: Store, rule_set_id: int) -> Version:
    with unit_of_work(deps.sessions) as session:
        row = _get(session, rule_set_id)
        return Version(row, _states(session, deps.clock.now())[row.version])


def _get(session: Session, rule_set_id: int) -> RoutingRuleSet:
    row = session.get(RoutingRuleSet, rule_set_id)
    if row is None:
        raise NotFound(f"rule set {rule_set_id} does not exist")
    return row


def diff_versions(deps: Store, rule_set_id: int, *, against: int | None) -> dict[str, Any]:
    """What changed from version ``against`` (default: the active one) to ``rule_set_id``."""
    with unit_of_work(deps.sessions) as session:
        row = _get(session, rule_set_id)
        if against is None:
            states = _states(session, deps.clock.now())
            active = next((v for v, s in states.items() if s is State.ACTIVE), None)
            if active is None:
                raise Invalid(
                    "no version is active; say which to compare with (against)",
                    code="nothing_to_compare",
                )
            base = session.scalars(
                select(RoutingRuleSet).where(RoutingRuleSet.version == active)
            ).one()
        else:
            base = _get(session, against)
        diff = diff_documents(base.document, row.document)
        return {
            "from": {"id": base.id, "version": base.version, "name": base.name},
            "to": {"id": row.id, "version": row.version, "name": row.name},
            **diff,
            "lines": diff_lines(diff),
        }
