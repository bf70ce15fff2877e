"""Pure parts of the rule-set lifecycle: states at a moment, the names a document uses, diffs."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from omniroute.core.order_routing.lifecycle import (
    State,
    VersionTimes,
    active_version,
    states_at,
)
from omniroute.core.order_routing.rule_diff import diff_documents, diff_lines
from omniroute.routing.rules import RefKind, rule_references

T0 = datetime(2026, 3, 1, 12, 0)
H = timedelta(hours=1)


def test_states_follow_the_times() -> None:
    versions = [
        VersionTimes(1, T0, T0),
        VersionTimes(2, T0 + H, T0 + H),
        VersionTimes(3, T0 + H, T0 + 5 * H),  # scheduled for later
        VersionTimes(4, T0 + H, T0 + 6 * H, withdrawn_at=T0 + 2 * H),  # withdrawn before
        VersionTimes(5, None, None),  # a draft
    ]
    assert states_at(versions, T0 + 3 * H) == {
        1: State.SUPERSEDED,
        2: State.ACTIVE,
        3: State.SCHEDULED,
        4: State.WITHDRAWN,
        5: State.DRAFT,
    }
    assert active_version(versions, T0 + 5 * H) == 3
    assert active_version(versions, T0 + 7 * H) == 3  # 4 never takes over
    # Asked about a moment before a withdrawal, the version shows as it was then.
    assert states_at(versions, T0 + H + timedelta(minutes=30))[4] == State.SCHEDULED
    # Before anything was published: drafts everywhere, the default routes.
    assert set(states_at(versions, T0 - H).values()) == {State.DRAFT}
    assert active_version(versions, T0 - H) is None


def test_withdrawing_the_active_version_hands_over_to_the_one_before() -> None:
    versions = [VersionTimes(1, T0, T0), VersionTimes(2, T0, T0 + H, withdrawn_at=T0 + 2 * H)]
    assert active_version(versions, T0 + H) == 2
    assert states_at(versions, T0 + 3 * H) == {1: State.ACTIVE, 2: State.WITHDRAWN}


moments = st.integers(min_value=0, max_value=48).map(lambda n: T0 + n * H)


@st.composite
def histories(draw: st.DrawFn) -> list[VersionTimes]:
    found = []
    for version in range(1, draw(st.integers(1, 8)) + 1):
        published = draw(st.none() | moments)
        effective = None if published is None else published + draw(st.integers(0, 24)) * H
        withdrawn = draw(st.none() | moments) if published is not None else None
        found.append(VersionTimes(version, published, effective, withdrawn))
    return found


@settings(max_examples=300, deadline=None)  # no timing: the machine may be loaded
@given(histories(), moments)
def test_at_most_one_version_is_active_at_any_instant(
    versions: list[VersionTimes], now: datetime
) -> None:
    states = states_at(versions, now)
    active = [v for v, s in states.items() if s is State.ACTIVE]
    assert active == (
        [] if active_version(versions, now) is None else [active_version(versions, now)]
    )
    in_force = [v for v, s in states.items() if s in (State.ACTIVE, State.SUPERSEDED)]
    assert bool(in_force) == bool(active)


def test_references_are_collected_with_their_paths() -> None:
    doc = {
        "name": "n",
        "timezone": "UTC",
        "default": {"priority_boost": {"WEST": 3}, "split": {"keep_together": [["K1", "K2"]]}},
        "rules": [
            {
                "id": "r",
                "when": {
                    "all": [
                        {"field": "channel", "op": "eq", "value": "shopify"},
                        {"not": {"field": "sku_tag", "op": "contains_any", "value": ["cold"]}},
                        {"field": "connector_id", "op": "in", "value": [4, True]},
                        {"field": "country", "op": "eq", "value": "US"},
                    ]
                },
                "then": {"warehouses": {"exclude": ["EAST"], "exclude_tags": ["hazmat"]}},
            }
        ],
    }
    found = [(r.kind, r.value, r.path) for r in rule_references(doc)]
    assert found == [
        (RefKind.WAREHOUSE, "WEST", "default.priority_boost.WEST"),
        (RefKind.SKU, "K1", "default.split.keep_together[0][0]"),
        (RefKind.SKU, "K2", "default.split.keep_together[0][1]"),
        (RefKind.CHANNEL, "shopify", "rules[0].when.all[0].value"),
        (RefKind.SKU_TAG, "cold", "rules[0].when.all[1].not.value[0]"),
        (RefKind.CONNECTOR, 4, "rules[0].when.all[2].value[0]"),
        (RefKind.WAREHOUSE, "EAST", "rules[0].then.warehouses.exclude[0]"),
        (RefKind.WAREHOUSE_TAG, "hazmat", "rules[0].then.warehouses.exclude_tags[0]"),
    ]
    assert rule_references("not a document") == []
    assert rule_references({"rules": [{"then": {"warehouses": {"include": "NYC"}}}]}) == []


def rule(rule_id: str, country: str, **then: object) -> dict[str, object]:
    return {
        "id": rule_id,
        "when": {"field": "country", "op": "eq", "value": country},
        "then": then or {"on_no_stock": "hold"},
    }


def test_diff_names_added_removed_changed_and_moved_rules() -> None:
    before = {
        "name": "a",
        "timezone": "UTC",
        "rules": [rule("one", "US"), rule("two", "CA"), rule("three", "MX"), rule("gone", "DE")],
    }
    after = {
        "name": "a",
        "timezone": "UTC",
        "default": {"ranking": ["priority"]},
        "rules": [
            rule("two", "CA"),
            rule("one", "US"),
            rule("three", "MX", warehouses={"include": ["NYC"]}),
            rule("new", "FR"),
        ],
    }
    diff = diff_documents(before, after)
    assert diff["counts"] == {"added": 1, "removed": 1, "changed": 1, "moved": 1, "unchanged": 1}
    assert diff["settings"][0]["text"] == 'default: set to {"ranking": ["priority"]}'
    texts = diff_lines(diff)
    assert "+ rule new added at position 4: when country eq FR: " in texts[1]
    assert texts[2].startswith("- rule gone removed (was at position 4)")
    # Swapping two neighbours is one move (the fewest that explain the new order).
    assert sum(line.startswith("^ rule ") for line in texts) == 1
    assert (
        '~ rule three: then.on_no_stock: removed (was "hold"); then.warehouses: set to '
        '{"include": ["NYC"]}' in texts
    )
    assert texts[-1] == "1 added, 1 removed, 1 changed, 1 moved, 1 unchanged"
    assert diff_documents(before, before)["rules"] == []
