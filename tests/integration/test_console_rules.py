"""Routing rules in the console (server-rendered, through the rule-set services): a draft
checked with the validator's messages, simulated, scheduled and withdrawn, audited; roles
and scopes as the API's."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from omniroute.api.app import create_app
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.audit import AuditFilter, list_entries
from omniroute.core.bootstrap import Context
from omniroute.core.platform.security import Role
from omniroute.core.stock import warehouses
from omniroute.worker.handlers import drain
from tests.integration.builders import World, build_world, order_body, post, stock
from tests.integration.console_kit import make_user, session_csrf, sign_in


@pytest.fixture
def world(cctx: Context, wms: FakeWms) -> World:
    built = build_world(cctx, wms.base_url)
    warehouses.upsert_sku(cctx, "MUG", "Mug", actor="test")
    stock(cctx, built.warehouse_ids["EAST"], "MUG", 5)
    stock(cctx, built.warehouse_ids["WEST"], "MUG", 5)
    return built


@pytest.fixture
def client(cctx: Context, world: World) -> Iterator[TestClient]:
    with TestClient(create_app(cctx)) as c:
        yield c


def rules(*codes: str) -> dict[str, Any]:
    return {
        "name": "east-first",
        "timezone": "UTC",
        "default": {"ranking": ["priority"]},
        "rules": [
            {
                "id": "east",
                "when": {"field": "country", "op": "eq", "value": "US"},
                "then": {"warehouses": {"include": list(codes)}},
            }
        ],
    }


def pasted_order(world: World) -> str:
    return json.dumps(
        {
            "connector_id": world.shopify_id,
            "ship_to": {"country": "US", "postal_code": "10001"},
            "lines": [{"sku": "MUG", "quantity": 2}],
        }
    )


def rule_set_id(answer: Any) -> int:
    found = re.search(r"/console/rules/(\d+)\?done=", answer.headers["location"])
    assert found, answer.headers.get("location")
    return int(found.group(1))


def state(client: TestClient, ident: int) -> str:
    page = client.get(f"/console/rules/{ident}").text
    found = re.search(r'id="rule-state">([a-z]+)<', page)
    assert found, page
    return found.group(1)


def test_ops_drafts_checks_simulates_schedules_and_withdraws(
    cctx: Context, world: World, client: TestClient
) -> None:
    make_user(cctx, "olga", Role.OPS)
    assert sign_in(client, "olga") == 303
    listing = client.get("/console/rules")
    assert listing.status_code == 200 and "No rule set yet" in listing.text
    csrf = session_csrf(client)

    broken = client.post(
        "/console/rules", data={"csrf_token": csrf, "document": "{not json"}, follow_redirects=False
    )
    assert broken.status_code == 422 and "not JSON" in broken.text

    made = client.post(
        "/console/rules",
        data={"csrf_token": csrf, "document": json.dumps(rules("EASTT")), "notes": "typo"},
        follow_redirects=False,
    )
    assert made.status_code == 303
    ident = rule_set_id(made)
    page = client.get(f"/console/rules/{ident}").text
    assert 'id="rule-errors"' in page and "EASTT" in page  # unknown warehouse, with its path

    saved = client.post(
        f"/console/rules/{ident}",
        data={"csrf_token": csrf, "document": json.dumps(rules("EAST"))},
        follow_redirects=True,
    )
    assert saved.status_code == 200
    assert "Draft saved." in saved.text and 'id="rule-valid"' in saved.text

    simulated = client.post(
        f"/console/rules/{ident}/simulate",
        data={"csrf_token": csrf, "order": pasted_order(world)},
    )
    assert simulated.status_code == 200, simulated.text
    section = simulated.text.split('id="simulation"', 1)[1]
    assert "single" in section and "EAST: 2 \N{MULTIPLICATION SIGN} MUG" in section

    tomorrow = (cctx.clock.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    scheduled = client.post(
        f"/console/rules/{ident}/publish",
        data={"csrf_token": csrf, "effective_from": tomorrow},
        follow_redirects=False,
    )
    assert scheduled.headers["location"] == f"/console/rules/{ident}?done=scheduled"
    assert state(client, ident) == "scheduled"
    refused = client.post(
        f"/console/rules/{ident}",
        data={"csrf_token": csrf, "document": json.dumps(rules("WEST"))},
    )
    assert refused.status_code == 409 and "cannot change" in refused.text

    withdrawn = client.post(
        f"/console/rules/{ident}/withdraw",
        data={"csrf_token": csrf, "reason": "not this week"},
        follow_redirects=False,
    )
    assert withdrawn.status_code == 303
    assert state(client, ident) == "withdrawn"
    again = client.post(f"/console/rules/{ident}/withdraw", data={"csrf_token": csrf})
    assert again.status_code == 409

    done = {
        e["action"]
        for e in list_entries(cctx, AuditFilter(actor="user:olga"), limit=50)
        if e["action"].startswith("rule_set.")
    }
    assert done == {"rule_set.draft", "rule_set.update", "rule_set.publish", "rule_set.withdraw"}
    trail = client.get(f"/console/rules/{ident}").text.split('id="history"', 1)[1]
    assert "rule_set.withdraw" in trail and "user:olga" in trail  # on the version's own page


def test_publish_now_and_roll_back_from_the_page(
    cctx: Context, world: World, client: TestClient
) -> None:
    make_user(cctx, "olga", Role.OPS)
    sign_in(client, "olga")
    csrf = session_csrf(client)
    ids = []
    for codes in (("EAST",), ("WEST",)):
        made = client.post(
            "/console/rules",
            data={"csrf_token": csrf, "document": json.dumps(rules(*codes))},
            follow_redirects=False,
        )
        ids.append(rule_set_id(made))
        published = client.post(
            f"/console/rules/{ids[-1]}/publish", data={"csrf_token": csrf}, follow_redirects=False
        )
        assert published.headers["location"].endswith("?done=published")
    assert (state(client, ids[0]), state(client, ids[1])) == ("superseded", "active")
    page = client.get(f"/console/rules/{ids[0]}").text
    assert "Changes from the active version" in page
    rolled = client.post(
        f"/console/rules/{ids[0]}/activate", data={"csrf_token": csrf}, follow_redirects=False
    )
    copy = rule_set_id(rolled)
    assert rolled.headers["location"].endswith("?done=activated") and copy not in ids
    assert state(client, copy) == "active"
    assert "Copied from</dt><dd>v" in client.get(f"/console/rules/{copy}").text


def test_roles_and_scopes(cctx: Context, world: World, client: TestClient) -> None:
    make_user(cctx, "vic", Role.VIEWER)
    sign_in(client, "vic")
    assert client.get("/console/rules").status_code == 200  # a viewer reads rules
    csrf = session_csrf(client)
    refused = client.post(
        "/console/rules", data={"csrf_token": csrf, "document": json.dumps(rules("EAST"))}
    )
    assert refused.status_code == 403 and "rules:write" in refused.text
    assert 'action="/console/rules"' not in client.get("/console/rules").text  # no form shown

    make_user(cctx, "ivy", Role.OPS, connector_ids=[world.wms_id])
    client.cookies.clear()
    sign_in(client, "ivy")
    csrf = session_csrf(client)
    made = client.post(
        "/console/rules",
        data={"csrf_token": csrf, "document": json.dumps(rules("EAST"))},
        follow_redirects=False,
    )
    ident = rule_set_id(made)
    # Another channel's order is not simulated for a user scoped away from it.
    other = client.post(
        f"/console/rules/{ident}/simulate",
        data={"csrf_token": csrf, "order": pasted_order(world)},
    )
    assert other.status_code == 422 and f"connector {world.shopify_id} does not exist" in other.text


def test_a_draft_is_backtested_over_recent_orders_from_the_page(
    cctx: Context, world: World, client: TestClient
) -> None:
    for number in (7301, 7302, 7303):
        post(cctx, world, order_body(number, [("MUG", 1)]))
    drain(cctx)
    make_user(cctx, "olga", Role.OPS)
    sign_in(client, "olga")
    csrf = session_csrf(client)
    made = client.post(
        "/console/rules",
        data={"csrf_token": csrf, "document": json.dumps(rules("WEST"))},
        follow_redirects=False,
    )
    ident = rule_set_id(made)
    answer = client.post(
        f"/console/rules/{ident}/backtest",
        data={"csrf_token": csrf, "last": "10", "document": json.dumps(rules("WEST"))},
    )
    assert answer.status_code == 200, answer.text
    section = answer.text.split('id="backtest"', 1)[1]
    assert "3 of 3 decisions change" in section  # every order went EAST, would go WEST
    assert section.count("/console/orders/") == 3
    assert "single EAST → single WEST" in section
