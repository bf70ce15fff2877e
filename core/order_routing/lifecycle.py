"""The lifecycle state of each rule-set version at a moment, derived from its times. Pure.

Only ``draft``/``published`` and four times are stored; the state at ``now`` follows:

* ``draft``: not published (or published after ``now``);
* ``withdrawn``: withdrawn at or before ``now``; it never routes again;
* ``scheduled``: published, taking effect after ``now``;
* ``active``: of the versions in force (published, effective at or before ``now``, not
  withdrawn), the one with the latest ``effective_from`` (then the highest version); the
  only one that routes orders at ``now``. None in force: the built-in default routes;
* ``superseded``: in force but not the active one. Should the active version be withdrawn,
  the newest superseded one is active again.

So there is at most one active version at any instant, and asking about a past ``now``
tells what the states were then (a withdrawal after it does not show yet).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class State(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    ACTIVE = "active"
    SUPERSEDED = "superseded"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class VersionTimes:
    """What a version's state depends on (all naive UTC, as stored)."""

    version: int
    published_at: datetime | None
    effective_from: datetime | None
    withdrawn_at: datetime | None = None


def _in_force(v: VersionTimes, now: datetime) -> bool:
    return (
        v.published_at is not None
        and v.published_at <= now
        and v.effective_from is not None
        and v.effective_from <= now
        and (v.withdrawn_at is None or v.withdrawn_at > now)
    )


def active_version(versions: Iterable[VersionTimes], now: datetime) -> int | None:
    """The version that routes orders at ``now``; None: the built-in default does."""
    live = [v for v in versions if _in_force(v, now)]
    if not live:
        return None
    best = max(live, key=lambda v: (v.effective_from, v.version))
    return best.version


def state_of(v: VersionTimes, now: datetime, active: int | None) -> State:
    """The state of one version at ``now``, given the active version then."""
    if v.published_at is None or v.published_at > now:
        return State.DRAFT
    if v.withdrawn_at is not None and v.withdrawn_at <= now:
        return State.WITHDRAWN
    if v.effective_from is None or v.effective_from > now:
        return State.SCHEDULED
    return State.ACTIVE if v.version == active else State.SUPERSEDED


def states_at(versions: Iterable[VersionTimes], now: datetime) -> dict[int, State]:
    """Every version's state at ``now``, by version number."""
    listed = list(versions)
    active = active_version(listed, now)
    return {v.version: state_of(v, now, active) for v in listed}
