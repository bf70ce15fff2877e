"""GET /api/v1/audit: every change with its token and client address, filtered and paged."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from omniroute.core.access import audit
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.security import Role

WAREHOUSE = {"name": "X", "address": {"postal_code": "10001", "country": "US"}}


def bearer(ctx: Context, role: Role, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(ctx, role=role, name=name)}"}


def entries(client: TestClient, headers: dict[str, str], **query: Any) -> list[dict[str, Any]]:
    answer = client.get("/api/v1/audit", headers=headers, params=query)
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()
    return rows


def test_changes_are_audited_with_token_and_address_and_filtered(
    ctx: Context, client: TestClient
) -> None:
    ops = bearer(ctx, Role.OPS, "ops")
    boss = bearer(ctx, Role.ADMIN, "boss")
    for code in ("A", "B", "C"):
        made = client.post("/api/v1/warehouses", headers=ops, json={**WAREHOUSE, "code": code})
        assert made.status_code == 201, made.text
    east = client.get("/api/v1/warehouses", headers=ops).json()[0]["id"]
    client.patch(f"/api/v1/warehouses/{east}", headers=ops, json={"priority": 7})
    token = client.post("/api/v1/tokens", headers=boss, json={"role": "viewer", "name": "v"})
    client.post(f"/api/v1/tokens/{token.json()['id']}/revoke", headers=boss)

    setup = entries(client, ops, limit=2)  # the two tokens above, made without the API
    assert [(e["action"], e["actor"], e["token_id"]) for e in setup] == [
        ("token.create", "system", None),
        ("token.create", "system", None),
    ]
    everything = entries(client, ops, after_id=setup[-1]["id"])
    assert [e["action"] for e in everything] == [
        "warehouse.create",
        "warehouse.create",
        "warehouse.create",
        "warehouse.update",
        "token.create",
        "token.revoke",
    ]
    first = everything[0]
    assert (first["actor"], first["token_id"], first["client_ip"]) == (
        "token:1:ops",
        1,
        "testclient",
    )
    assert everything[-1]["token_id"] == 2
    revoke = everything[-1]
    assert revoke["before"]["revoked_at"] is None and revoke["after"]["revoked_at"] is not None
    assert "token_hash" not in revoke["after"] and "token" not in revoke["after"]

    updates = entries(client, ops, entity="warehouse", entity_id=str(east))
    assert [e["action"] for e in updates] == ["warehouse.create", "warehouse.update"]
    assert updates[1]["after"] == {"priority": 7}
    assert set(updates[1]["before"]) == {"priority"} and updates[1]["before"]["priority"] != 7
    assert [e["action"] for e in entries(client, boss, actor="token:2:boss")] == [
        "token.create",
        "token.revoke",
    ]
    assert len(entries(client, ops, action="warehouse.create")) == 3
    assert len(entries(client, ops, token_id=1)) == 4

    page = entries(client, ops, limit=3)
    rest = entries(client, ops, after_id=page[-1]["id"], limit=500)
    assert [e["id"] for e in page + rest] == [e["id"] for e in setup + everything]

    last = everything[-1]["created_at"]
    assert [e["id"] for e in entries(client, ops, since=last)] == [everything[-1]["id"]]
    assert everything[-1]["id"] not in [e["id"] for e in entries(client, ops, until=last)]


@pytest.mark.parametrize(
    "query",
    [
        {"entity": "spaceship"},
        {"action": "warehouse.explode"},
        {"colour": "blue"},
        {"limit": "501"},
        {"limit": "0"},
        {"after_id": "-1"},
        {"since": "yesterday"},
        {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        # One with an offset, one without (read as UTC): compared, not a 500.
        {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00"},
        {"since": "0001-01-01T00:30:00+01:00"},
    ],
)
def test_unknown_or_bad_filters_are_a_422(
    ctx: Context, client: TestClient, query: dict[str, str]
) -> None:
    answer = client.get("/api/v1/audit", headers=bearer(ctx, Role.ADMIN, "a"), params=query)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_audit_rows_outside_a_request_have_no_origin_and_unknown_names_are_refused(
    ctx: Context,
) -> None:
    with unit_of_work(ctx.sessions) as session:
        audit.record(session, "worker", "order.reroute", "order", 1)
    with (
        audit.origin(audit.Origin(token_id=None, client_ip="cli")),
        unit_of_work(ctx.sessions) as session,
    ):
        audit.record(session, "cli", "token.create", "api_token", 2)
    rows = audit.list_entries(ctx, audit.AuditFilter())
    assert [(r["token_id"], r["client_ip"]) for r in rows] == [(None, None), (None, "cli")]
    with pytest.raises(ValueError, match=r"order\.explode"), unit_of_work(ctx.sessions) as session:
        audit.record(session, "x", "order.explode", "order", 1)


def test_a_connector_change_keeps_before_and_after_without_secrets(
    ctx: Context, client: TestClient
) -> None:
    boss = bearer(ctx, Role.ADMIN, "boss")
    made = client.post(
        "/api/v1/connectors",
        headers=boss,
        json={"kind": "shopify", "name": "s", "secrets": {"webhook_secret": "hush-123"}},
    )
    assert made.status_code == 201, made.text
    cid = made.json()["id"]
    changed = client.patch(
        f"/api/v1/connectors/{cid}",
        headers=boss,
        json={"enabled": False, "secrets": {"webhook_secret": "hush-456"}},
    )
    assert changed.status_code == 200, changed.text
    (entry,) = entries(client, boss, action="connector.update")
    assert (entry["before"]["enabled"], entry["after"]["enabled"]) == (True, False)
    assert entry["detail"]["secrets"] == ["webhook_secret"]
    everything = client.get("/api/v1/audit", headers=boss).text
    assert "hush-123" not in everything and "hush-456" not in everything
