"""Connectors in the console: the list with health, a connector's page (secrets never in the
HTML), config edits checked by the kind's model (errors per field), write-only secrets,
enable/disable, poll now, create, the raw inbox with a failed message replayed through its
exception; roles, scopes and CSRF as the API's."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from omniroute.api.app import create_app
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.audit import AuditFilter, list_entries
from omniroute.core.bootstrap import Context
from omniroute.core.channels import connector_admin
from omniroute.core.intake.processing import process_inbound
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import InboundMessage, OrderException
from omniroute.core.platform.security import Role
from tests.integration.builders import SECRET, World, build_world, post
from tests.integration.console_kit import make_user, session_csrf, sign_in

TOKEN = "shpat_0123456789abcdef0123456789abcdef"
POS_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def world(cctx: Context, wms: FakeWms) -> World:
    return build_world(cctx, wms.base_url)


@pytest.fixture
def client(cctx: Context, world: World) -> Iterator[TestClient]:
    with TestClient(create_app(cctx)) as c:
        yield c


def as_user(cctx: Context, client: TestClient, name: str, role: Role, **kw: object) -> str:
    make_user(cctx, name, role, **kw)  # type: ignore[arg-type]
    assert sign_in(client, name) == 303
    return session_csrf(client)


def actions(cctx: Context, actor: str) -> list[str]:
    return [e["action"] for e in list_entries(cctx, AuditFilter(actor=actor), limit=100)]


def test_the_list_and_a_page_show_health_and_never_a_secret(
    cctx: Context, world: World, client: TestClient
) -> None:
    as_user(cctx, client, "olga", Role.OPS)
    listing = client.get("/console/connectors")
    assert listing.status_code == 200
    assert f'href="/console/connectors/{world.shopify_id}">shop</a>' in listing.text
    assert 'href="/console/connectors"' in listing.text  # the nav link, for connectors:read
    assert "New connector" not in listing.text  # ops may not create (connectors:write)
    page = client.get(f"/console/connectors/{world.shopify_id}")
    assert page.status_code == 200
    assert re.search(r'id="secrets-set">webhook_secret<', page.text)
    assert SECRET not in page.text and SECRET not in listing.text
    assert 'id="config-view"' in page.text and "Save configuration" not in page.text
    assert client.get("/console/connectors/999").status_code == 404


def test_admin_edits_the_config_with_errors_per_field_and_keeps_blank_secrets(
    cctx: Context, world: World, client: TestClient
) -> None:
    csrf = as_user(cctx, client, "ada", Role.ADMIN)
    url = f"/console/connectors/{world.shopify_id}"
    wrong = client.post(url, data={"csrf_token": csrf, "config": '{"shop_domian": "x"}'})
    assert wrong.status_code == 422
    assert "<code>config.shop_domian</code>: Extra inputs are not permitted" in wrong.text
    assert "shop_domian" in wrong.text.split('id="config-text"', 1)[1]  # the typed text kept
    not_json = client.post(url, data={"csrf_token": csrf, "config": "{shop"})
    assert not_json.status_code == 422 and "the config is not JSON" in not_json.text

    saved = client.post(
        url,
        data={
            "csrf_token": csrf,
            "config": '{"shop_domain": "demo.myshopify.com"}',
            "secret__webhook_secret": "",  # blank: keep it
            "secret__access_token": TOKEN,
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303 and saved.headers["location"] == f"{url}?done=saved"
    row = connector_admin.get_connector(cctx, world.shopify_id)
    assert row.config["shop_domain"] == "demo.myshopify.com"
    stored = cctx.connectors.open(row.secrets_encrypted)
    assert stored == {"webhook_secret": SECRET, "access_token": TOKEN}
    page = client.get(url).text
    assert TOKEN not in page and SECRET not in page
    assert "access_token, webhook_secret" in page and "Poll now" in page

    polled = client.post(f"{url}/poll", data={"csrf_token": csrf}, follow_redirects=False)
    assert polled.headers["location"] == f"{url}?done=polled"
    off = client.post(
        f"{url}/enabled", data={"csrf_token": csrf, "enabled": "false"}, follow_redirects=False
    )
    assert off.headers["location"] == f"{url}?done=disabled"
    assert not connector_admin.get_connector(cctx, world.shopify_id).enabled
    refused = client.post(f"{url}/poll", data={"csrf_token": csrf})
    assert refused.status_code == 409 and "is disabled" in refused.text
    client.post(f"{url}/enabled", data={"csrf_token": csrf, "enabled": "true"})
    assert connector_admin.get_connector(cctx, world.shopify_id).enabled
    done = actions(cctx, "user:ada")
    assert done.count("connector.update") == 3 and "connector.poll" in done
    audit = list_entries(cctx, AuditFilter(actor="user:ada"), limit=100)
    assert TOKEN not in repr(audit)


def test_admin_creates_a_connector_of_a_chosen_kind(
    cctx: Context, world: World, client: TestClient
) -> None:
    csrf = as_user(cctx, client, "ada", Role.ADMIN)
    form = client.get("/console/connectors").text
    assert 'action="/console/connectors"' in form and 'value="generic_webhook"' in form
    made = client.post(
        "/console/connectors",
        data={
            "csrf_token": csrf,
            "kind": "generic_webhook",
            "name": "pos",
            "config": '{"default_channel": "pos"}',
            "secret__generic_webhook__webhook_secret": POS_SECRET,
            "secret__shopify__webhook_secret": "",  # another kind's field, left blank
            "enabled": "true",
        },
        follow_redirects=False,
    )
    assert made.status_code == 303, made.text
    ident = int(made.headers["location"].split("/")[-1].split("?")[0])
    row = connector_admin.get_connector(cctx, ident)
    assert (row.kind, row.name, row.enabled) == ("generic_webhook", "pos", True)
    assert cctx.connectors.open(row.secrets_encrypted) == {"webhook_secret": POS_SECRET}
    assert POS_SECRET not in client.get(f"/console/connectors/{ident}").text
    again = client.post(
        "/console/connectors",
        data={"csrf_token": csrf, "kind": "generic_webhook", "name": "pos", "config": "{}"},
    )
    assert again.status_code == 409 and "is taken" in again.text
    unknown = client.post(
        "/console/connectors",
        data={"csrf_token": csrf, "kind": "nope", "name": "x", "config": "{}"},
    )
    assert unknown.status_code == 422
    assert "connector.create" in actions(cctx, "user:ada")


def test_roles_scopes_and_csrf(cctx: Context, world: World, client: TestClient) -> None:
    csrf = as_user(cctx, client, "olga", Role.OPS)
    url = f"/console/connectors/{world.shopify_id}"
    refused = client.post(url, data={"csrf_token": csrf, "config": "{}"})
    assert refused.status_code == 403 and "connectors:write" in refused.text
    off = client.post(f"{url}/enabled", data={"csrf_token": csrf, "enabled": "false"})
    assert off.status_code == 403
    made = client.post(
        "/console/connectors",
        data={"csrf_token": csrf, "kind": "generic_webhook", "name": "x", "config": "{}"},
    )
    assert made.status_code == 403
    client.post("/console/logout", data={"csrf_token": csrf})

    as_user(cctx, client, "vic", Role.SUPPORT)
    assert client.get("/console/connectors").status_code == 403
    assert 'href="/console/connectors"' not in client.get("/console/").text
    client.post("/console/logout", data={"csrf_token": session_csrf(client)})

    csrf = as_user(cctx, client, "ada", Role.ADMIN)
    no_csrf = client.post(f"{url}/enabled", data={"enabled": "false"})
    assert no_csrf.status_code == 403 and "CSRF" in no_csrf.text
    assert connector_admin.get_connector(cctx, world.shopify_id).enabled
    client.post("/console/logout", data={"csrf_token": csrf})

    as_user(cctx, client, "ivy", Role.ADMIN, connector_ids=[world.wms_id])
    assert client.get(url).status_code == 404
    assert client.get(f"/console/connectors/{world.wms_id}").status_code == 200
    assert (
        'href="/console/connectors/' + str(world.shopify_id)
        not in client.get("/console/connectors").text
    )


def test_the_inbox_shows_a_failed_message_and_replays_it_through_its_exception(
    cctx: Context, world: World, client: TestClient
) -> None:
    received = post(cctx, world, b'{"id": "not an order"}')
    assert received.inbound_id is not None
    process_inbound(cctx, received.inbound_id)
    with unit_of_work(cctx.sessions) as s:
        msg = s.get_one(InboundMessage, received.inbound_id)
        assert msg.status == "failed"
        exc_id = s.scalar(
            select(OrderException.id).where(OrderException.inbound_message_id == msg.id)
        )
    assert exc_id is not None
    csrf = as_user(cctx, client, "sue", Role.ADMIN)
    page = client.get(f"/console/connectors/{world.shopify_id}").text
    inbox = page.split('id="inbox"', 1)[1]
    assert "failed" in inbox and "not an order" in inbox
    assert f'action="/console/exceptions/{exc_id}/retry"' in inbox
    replayed = client.post(
        f"/console/exceptions/{exc_id}/retry", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert replayed.status_code == 303
    with unit_of_work(cctx.sessions) as s:
        assert s.get_one(InboundMessage, received.inbound_id).status == "pending"
    assert "exception.retry" in actions(cctx, "user:sue")
