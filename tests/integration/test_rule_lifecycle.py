"""Rule-set lifecycle through the API: states at a moment, withdraw, roll back, names checked
against the configuration, and the diff between two versions."""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from omniroute.api.app import create_app
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context
from omniroute.core.order_routing import rule_sets
from omniroute.core.order_routing.inputs import active_rules
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.errors import Conflict
from omniroute.core.platform.security import Role
from tests.clocks import MovableClock
from tests.integration.test_routing_rules_api import WEST_FIRST, world


@pytest.fixture
def clock(ctx: Context) -> MovableClock:
    return MovableClock(ctx.clock.now())


@pytest.fixture
def timed(ctx: Context, clock: MovableClock) -> Context:
    return dataclasses.replace(ctx, clock=clock)


@pytest.fixture
def api(timed: Context) -> TestClient:
    return TestClient(create_app(timed))


@pytest.fixture
def ops(ctx: Context) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(ctx, role=Role.OPS, name='ops')}"}


NYC_ONLY = {
    **WEST_FIRST,
    "name": "east-only",
    "rules": [
        {
            "id": "east",
            "when": {"field": "country", "op": "eq", "value": "US"},
            "then": {"warehouses": {"include": ["NYC"]}},
        }
    ],
}


def draft(api: TestClient, ops: dict[str, str], doc: dict[str, Any]) -> int:
    made = api.post("/api/v1/routing/rule-sets", headers=ops, json={"document": doc})
    assert made.status_code == 201, made.text
    rule_set_id: int = made.json()["id"]
    return rule_set_id


def publish(
    api: TestClient, ops: dict[str, str], rule_set_id: int, at: datetime | None = None
) -> httpx.Response:
    body = {} if at is None else {"effective_from": at.isoformat()}
    answer: httpx.Response = api.post(
        f"/api/v1/routing/rule-sets/{rule_set_id}/publish", headers=ops, json=body
    )
    return answer


def states(api: TestClient, ops: dict[str, str]) -> dict[int, str]:
    listed = api.get("/api/v1/routing/rule-sets", headers=ops).json()
    return {v["version"]: v["state"] for v in listed}


def routing_label(ctx: Context, now: datetime) -> str:
    with unit_of_work(ctx.sessions) as session:
        return active_rules(session, ctx.routing, now, "exception").label


def audit(api: TestClient, headers: dict[str, str], action: str) -> list[dict[str, Any]]:
    found = api.get(f"/api/v1/audit?action={action}", headers=headers)
    assert found.status_code == 200, found.text
    rows: list[dict[str, Any]] = found.json()
    return rows


def test_a_scheduled_version_withdrawn_never_becomes_active(
    api: TestClient, ctx: Context, clock: MovableClock, ops: dict[str, str], wms: FakeWms
) -> None:
    world(api, ctx, wms.base_url)
    first = draft(api, ops, WEST_FIRST)
    assert publish(api, ops, first).json()["state"] == "active"
    second = draft(api, ops, NYC_ONLY)
    later = clock.at + timedelta(hours=1)
    scheduled = publish(api, ops, second, later)
    assert scheduled.status_code == 200, scheduled.text
    assert scheduled.json()["state"] == "scheduled"
    assert states(api, ops) == {1: "active", 2: "scheduled"}

    gone = api.post(
        f"/api/v1/routing/rule-sets/{second}/withdraw", headers=ops, json={"reason": "not yet"}
    )
    assert gone.status_code == 200, gone.text
    assert gone.json()["state"] == "withdrawn"
    assert gone.json()["withdraw_reason"] == "not yet" and gone.json()["withdrawn_by"]
    again = api.post(f"/api/v1/routing/rule-sets/{second}/withdraw", headers=ops)
    assert (again.status_code, again.json()["code"]) == (409, "rule_set_withdrawn")

    clock.at = later + timedelta(hours=1)  # past the time it would have taken effect
    assert states(api, ops) == {1: "active", 2: "withdrawn"}
    assert routing_label(ctx, clock.at) == "west-first@v1"
    (row,) = audit(api, ops, "rule_set.withdraw")
    assert row["detail"]["was"] == "scheduled" and row["detail"]["version"] == 2


def test_rolling_back_to_version_1_while_version_3_is_scheduled(
    api: TestClient, ctx: Context, clock: MovableClock, ops: dict[str, str], wms: FakeWms
) -> None:
    world(api, ctx, wms.base_url)
    one = draft(api, ops, WEST_FIRST)
    publish(api, ops, one)
    clock.at += timedelta(minutes=5)
    two = draft(api, ops, NYC_ONLY)
    publish(api, ops, two)
    three = draft(api, ops, {**NYC_ONLY, "name": "tomorrow"})
    tomorrow = clock.at + timedelta(days=1)
    publish(api, ops, three, tomorrow)
    assert states(api, ops) == {1: "superseded", 2: "active", 3: "scheduled"}

    clock.at += timedelta(minutes=5)
    rolled = api.post(f"/api/v1/routing/rule-sets/{one}/activate", headers=ops)
    assert rolled.status_code == 200, rolled.text
    body = rolled.json()
    assert (body["version"], body["copied_from"], body["state"]) == (4, 1, "active")
    assert body["withdrew"] == [3] and body["document"] == WEST_FIRST
    assert states(api, ops) == {1: "superseded", 2: "superseded", 3: "withdrawn", 4: "active"}
    three_now = api.get(f"/api/v1/routing/rule-sets/{three}", headers=ops).json()
    assert "rollback to version 1" in three_now["withdraw_reason"]

    clock.at = tomorrow + timedelta(hours=1)  # version 3 would have taken over by now
    assert states(api, ops)[4] == "active"
    assert routing_label(ctx, clock.at) == "west-first@v4"
    (activation,) = audit(api, ops, "rule_set.activate")
    assert activation["detail"] == {"version": 4, "copied_from": 1, "withdrew": [3]}
    assert activation["actor"] == body["published_by"]

    same = api.post(f"/api/v1/routing/rule-sets/{body['id']}/activate", headers=ops)
    assert (same.status_code, same.json()["code"]) == (409, "already_active")
    again = api.post(f"/api/v1/routing/rule-sets/{one}/activate", headers=ops)
    assert (again.status_code, again.json()["code"]) == (409, "already_active")
    assert "as version 4" in again.json()["detail"]
    # Withdrawing the active version hands over to the one in force before it.
    api.post(f"/api/v1/routing/rule-sets/{body['id']}/withdraw", headers=ops)
    assert states(api, ops)[2] == "active"
    assert routing_label(ctx, clock.at) == "east-only@v2"
    unpublished = draft(api, ops, WEST_FIRST)
    refused = api.post(f"/api/v1/routing/rule-sets/{unpublished}/activate", headers=ops)
    assert (refused.status_code, refused.json()["code"]) == (409, "not_published")
    viewer = {"Authorization": f"Bearer {create_token(ctx, role=Role.VIEWER, name='v')}"}
    assert api.post(f"/api/v1/routing/rule-sets/{one}/activate", headers=viewer).status_code == 403
    assert api.get("/api/v1/routing/rule-sets", headers=viewer).status_code == 200


def typo_rules(tag: str = "cold-chian", code: str = "NYCC") -> dict[str, Any]:
    return {
        "name": "typos",
        "timezone": "UTC",
        "rules": [
            {
                "id": "cold",
                "when": {"field": "sku_tag", "op": "contains_any", "value": ["frozen"]},
                "then": {"warehouses": {"include": [code], "require_tags": [tag]}},
            }
        ],
    }


def test_unknown_names_are_refused_with_their_paths_and_empty_ones_warned(
    api: TestClient, ctx: Context, ops: dict[str, str], wms: FakeWms
) -> None:
    ids = world(api, ctx, wms.base_url)
    admin = {"Authorization": f"Bearer {create_token(ctx, role=Role.ADMIN, name='a')}"}
    changed = api.patch(
        f"/api/v1/warehouses/{ids['NYC']}", headers=admin, json={"tags": ["cold-chain"]}
    )
    assert changed.status_code == 200, changed.text
    for sku in ({"code": "ICE", "tags": ["frozen"]}, {"code": "ACID", "requires": ["hazmat"]}):
        assert api.put("/api/v1/skus", headers=admin, json=sku).status_code == 200

    checked = api.post(
        "/api/v1/routing/rule-sets/validate", headers=ops, json={"document": typo_rules()}
    ).json()
    assert checked["valid"] is False
    by_path = {e["path"]: e for e in checked["errors"]}
    assert set(by_path) == {
        "rules[0].then.warehouses.include[0]",
        "rules[0].then.warehouses.require_tags[0]",
    }
    assert by_path["rules[0].then.warehouses.include[0]"]["reference"] == "NYCC"
    assert "did you mean 'NYC'" in by_path["rules[0].then.warehouses.include[0]"]["message"]
    tag_error = by_path["rules[0].then.warehouses.require_tags[0]"]
    assert tag_error["reference"] == "cold-chian" and "'cold-chain'" in tag_error["message"]

    refused = publish(api, ops, draft(api, ops, typo_rules()))
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["code"] == "unknown_reference"
    assert "NYCC" in problem["detail"] and "cold-chian" in problem["detail"]
    assert {e["reference"] for e in problem["errors"]} == {"NYCC", "cold-chian"}
    assert states(api, ops) == {1: "draft"}  # nothing published

    # Names that exist but cannot serve yet: published, with warnings.
    empty = typo_rules(tag="hazmat", code="LAX")
    empty["rules"].append(
        {
            "id": "ice",
            "when": {"field": "sku", "op": "contains_any", "value": ["ICE"]},
            "then": {"on_no_stock": "backorder"},
        }
    )
    published = publish(api, ops, draft(api, ops, empty))
    assert published.status_code == 200, published.text
    warnings = {(w["path"], w["message"]) for w in published.json()["warnings"]}
    assert warnings == {
        ("rules[0].then.warehouses.require_tags[0]", "no enabled warehouse has tag 'hazmat'"),
        ("rules[1].when.value[0]", "SKU ICE has no stock in any warehouse"),
    }
    assert published.json()["state"] == "active"


def test_channel_connector_and_sku_names_are_checked(
    api: TestClient, ctx: Context, ops: dict[str, str], wms: FakeWms
) -> None:
    ids = world(api, ctx, wms.base_url)
    doc = {
        "name": "channels",
        "timezone": "UTC",
        "rules": [
            {
                "id": "by-channel",
                "when": {
                    "any": [
                        {"field": "channel", "op": "in", "value": ["shopify", "shop", "shopfy"]},
                        {"field": "connector_id", "op": "eq", "value": 987_654},
                        {"field": "connector_id", "op": "eq", "value": ids["shop"]},
                        {"field": "channel", "op": "eq", "value": "woocommerce"},
                    ]
                },
                "then": {"split": {"ship_alone_skus": ["A", "NOPE"]}},
            }
        ],
    }
    checked = api.post(
        "/api/v1/routing/rule-sets/validate", headers=ops, json={"document": doc}
    ).json()
    errors = {e["path"]: e["message"] for e in checked["errors"]}
    when = "rules[0].when.any"
    assert errors == {
        f"{when}[0].value[1]": "'shop' is a connector's name; channel conditions compare the "
        "connector kind ('shopify')",
        f"{when}[0].value[2]": "unknown channel 'shopfy'; did you mean 'shopify'?",
        f"{when}[1].value": "unknown connector id 987654",
        "rules[0].then.split.ship_alone_skus[1]": "unknown SKU 'NOPE'",
    }
    assert [w["path"] for w in checked["warnings"]] == [f"{when}[3].value"]  # no woocommerce yet


def test_diff_between_two_versions(
    api: TestClient, ctx: Context, ops: dict[str, str], wms: FakeWms
) -> None:
    world(api, ctx, wms.base_url)
    one = draft(api, ops, WEST_FIRST)
    publish(api, ops, one)
    newer = {
        **WEST_FIRST,
        "timezone": "America/New_York",
        "rules": [
            {
                "id": "canada",
                "when": {"field": "country", "op": "eq", "value": "CA"},
                "then": {"on_no_stock": "backorder"},
            },
            {
                "id": "west",
                "when": {"field": "country", "op": "in", "value": ["US", "MX"]},
                "then": {"warehouses": {"include": ["LAX"]}},
            },
        ],
    }
    two = draft(api, ops, newer)
    answer = api.get(f"/api/v1/routing/rule-sets/{two}/diff", headers=ops)  # against active
    assert answer.status_code == 200, answer.text
    diff = answer.json()
    assert (diff["from"]["version"], diff["to"]["version"]) == (1, 2)
    assert diff["counts"] == {"added": 1, "removed": 0, "changed": 1, "moved": 0, "unchanged": 0}
    assert [s["path"] for s in diff["settings"]] == ["timezone"]
    changed = next(r for r in diff["rules"] if r["change"] == "changed")
    assert changed["text"] == "~ rule west: when: country eq US -> country in [US, MX]"
    assert any(line.startswith("+ rule canada added at position 1") for line in diff["lines"])
    back = api.get(f"/api/v1/routing/rule-sets/{one}/diff?against={two}", headers=ops).json()
    assert back["counts"]["removed"] == 1
    missing = api.get(f"/api/v1/routing/rule-sets/{two}/diff?against=999", headers=ops)
    assert missing.status_code == 404


def test_two_rollbacks_at_once_make_one_copy_and_one_conflict(
    api: TestClient, ctx: Context, clock: MovableClock, ops: dict[str, str], wms: FakeWms
) -> None:
    world(api, ctx, wms.base_url)
    one = draft(api, ops, WEST_FIRST)
    publish(api, ops, one)
    clock.at += timedelta(minutes=5)
    publish(api, ops, draft(api, ops, NYC_ONLY))
    clock.at += timedelta(minutes=5)
    timed = dataclasses.replace(ctx, clock=clock)
    start = threading.Barrier(4)

    def roll_back() -> str:
        start.wait()
        try:
            return str(rule_sets.activate(timed, one, actor="ops").row.version)
        except Conflict as refused:
            return refused.code

    with ThreadPoolExecutor(4) as pool:
        outcomes = sorted(pool.map(lambda _: roll_back(), range(4)))
    assert outcomes == ["3", "already_active", "already_active", "already_active"]
    assert states(api, ops) == {1: "superseded", 2: "superseded", 3: "active"}
