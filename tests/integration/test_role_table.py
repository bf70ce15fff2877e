"""Every route's permission, checked against one table, and every role tried on every route.

ROUTES is the contract: a route added without a rule, or whose dependency asks for another
permission than the table says, fails here; then each role calls each route and must be
refused (403) exactly where core/access/permissions.py says so. README's role table is the
one rendered from the code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from omniroute.api.app import create_app
from omniroute.api.deps import permission_of, scoped_by
from omniroute.cli.main import app as cli
from omniroute.core.access.permissions import (
    FIELD_PERMISSIONS,
    ROLE_PERMISSIONS,
    Permission,
    allows,
    role_table_markdown,
)
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context
from omniroute.core.platform.security import Role

P = Permission
# Public on purpose: webhooks prove themselves by signature, probes and metrics are open.
PUBLIC = "public"
ROUTES: dict[tuple[str, str], Permission | str] = {
    ("POST", "/webhooks/{connector_id}"): PUBLIC,
    ("POST", "/edi/{connector_id}"): PUBLIC,  # the partner's own token, checked by its connector
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/api/v1/orders"): P.ORDERS_READ,
    ("GET", "/api/v1/shipments/{shipment_id}"): P.ORDERS_READ,
    ("GET", "/api/v1/tracking-events/unmatched"): P.EXCEPTIONS_READ,
    ("GET", "/api/v1/orders/{order_id}"): P.ORDERS_READ,
    ("POST", "/api/v1/orders/import"): P.ORDERS_IMPORT,
    ("POST", "/api/v1/orders/{order_id}/release-hold"): P.ORDERS_RELEASE_HOLD,
    ("POST", "/api/v1/orders/{order_id}/address"): P.ORDERS_EDIT,
    ("POST", "/api/v1/orders/{order_id}/cancel"): P.ORDERS_CANCEL,
    ("POST", "/api/v1/orders/{order_id}/route"): P.ORDERS_ROUTE,
    ("POST", "/api/v1/orders/{order_id}/reroute"): P.ORDERS_ROUTE,
    ("GET", "/api/v1/consolidations/{group_id}"): P.ORDERS_READ,
    ("POST", "/api/v1/consolidations/{group_id}/release"): P.ORDERS_ROUTE,
    ("GET", "/api/v1/exceptions"): P.EXCEPTIONS_READ,
    ("POST", "/api/v1/exceptions/bulk/retry"): P.EXCEPTIONS_RETRY,
    ("POST", "/api/v1/exceptions/bulk/assign"): P.EXCEPTIONS_TRIAGE,
    ("POST", "/api/v1/exceptions/bulk/resolve"): P.EXCEPTIONS_RETRY,
    ("POST", "/api/v1/exceptions/bulk/dismiss"): P.EXCEPTIONS_RETRY,
    ("GET", "/api/v1/dead-letters"): P.EXCEPTIONS_READ,
    ("GET", "/api/v1/exceptions/{exception_id}"): P.EXCEPTIONS_READ,
    ("POST", "/api/v1/exceptions/{exception_id}/retry"): P.EXCEPTIONS_RETRY,
    ("POST", "/api/v1/exceptions/{exception_id}/resolve"): P.EXCEPTIONS_RETRY,
    ("POST", "/api/v1/exceptions/{exception_id}/assign"): P.EXCEPTIONS_TRIAGE,
    ("POST", "/api/v1/exceptions/{exception_id}/snooze"): P.EXCEPTIONS_TRIAGE,
    ("POST", "/api/v1/exceptions/{exception_id}/dismiss"): P.EXCEPTIONS_RETRY,
    ("POST", "/api/v1/fulfilment-orders/{fulfilment_order_id}/shipments"): P.SHIPMENTS_WRITE,
    ("POST", "/api/v1/fulfilment-orders/{fulfilment_order_id}/reject"): P.FULFILMENT_REJECT,
    ("GET", "/api/v1/stock"): P.STOCK_READ,
    ("PUT", "/api/v1/stock"): P.STOCK_WRITE,
    ("POST", "/api/v1/stock/adjustments"): P.STOCK_WRITE,
    ("GET", "/api/v1/stock/ledger"): P.STOCK_READ,
    ("GET", "/api/v1/stock/thresholds"): P.REPLENISHMENT_READ,
    ("PUT", "/api/v1/stock/thresholds"): P.REPLENISHMENT_WRITE,
    ("GET", "/api/v1/stock/alerts"): P.REPLENISHMENT_READ,
    ("POST", "/api/v1/replenishment/runs"): P.REPLENISHMENT_WRITE,
    ("POST", "/api/v1/replenishment/suggestions/send"): P.REPLENISHMENT_WRITE,
    ("POST", "/api/v1/replenishment/suggestions/dismiss"): P.REPLENISHMENT_WRITE,
    ("GET", "/api/v1/replenishment/suggestions"): P.REPLENISHMENT_READ,
    ("GET", "/api/v1/skus"): P.STOCK_READ,
    ("PUT", "/api/v1/skus"): P.SKUS_WRITE,
    ("GET", "/api/v1/sku-aliases"): P.STOCK_READ,
    ("POST", "/api/v1/sku-aliases"): P.SKUS_MAP,
    ("GET", "/api/v1/warehouses"): P.WAREHOUSES_READ,
    ("POST", "/api/v1/warehouses"): P.WAREHOUSES_WRITE,
    ("GET", "/api/v1/warehouses/{warehouse_id}"): P.WAREHOUSES_READ,
    ("PATCH", "/api/v1/warehouses/{warehouse_id}"): P.WAREHOUSES_WRITE,
    ("GET", "/api/v1/connectors/{connector_id}/listings"): P.LISTINGS_READ,
    ("PUT", "/api/v1/connectors/{connector_id}/listings"): P.LISTINGS_WRITE,
    ("POST", "/api/v1/connectors/{connector_id}/stock-sync"): P.LISTINGS_WRITE,
    ("GET", "/api/v1/connector-kinds"): P.CONNECTORS_READ,
    ("GET", "/api/v1/connector-kinds/broken"): P.CONNECTORS_READ,
    ("GET", "/api/v1/connectors"): P.CONNECTORS_READ,
    ("POST", "/api/v1/connectors"): P.CONNECTORS_WRITE,
    ("GET", "/api/v1/connectors/{connector_id}"): P.CONNECTORS_READ,
    ("PATCH", "/api/v1/connectors/{connector_id}"): P.CONNECTORS_WRITE,
    ("GET", "/api/v1/connectors/{connector_id}/health"): P.CONNECTORS_READ,
    ("GET", "/api/v1/edi/partners/{connector_id}/interchanges"): P.CONNECTORS_READ,
    ("POST", "/api/v1/connectors/{connector_id}/poll"): P.CONNECTORS_POLL,
    ("POST", "/api/v1/connectors/{connector_id}/test"): P.CONNECTORS_POLL,
    ("GET", "/api/v1/routing/schema"): P.RULES_READ,
    ("GET", "/api/v1/routing/rule-sets"): P.RULES_READ,
    ("GET", "/api/v1/routing/rule-sets/{rule_set_id}"): P.RULES_READ,
    ("POST", "/api/v1/routing/rule-sets/validate"): P.RULES_READ,
    ("POST", "/api/v1/routing/rule-sets"): P.RULES_WRITE,
    ("PUT", "/api/v1/routing/rule-sets/{rule_set_id}"): P.RULES_WRITE,
    ("POST", "/api/v1/routing/rule-sets/{rule_set_id}/publish"): P.RULES_PUBLISH,
    ("POST", "/api/v1/routing/rule-sets/{rule_set_id}/withdraw"): P.RULES_PUBLISH,
    ("POST", "/api/v1/routing/rule-sets/{rule_set_id}/activate"): P.RULES_PUBLISH,
    ("GET", "/api/v1/routing/rule-sets/{rule_set_id}/diff"): P.RULES_READ,
    ("POST", "/api/v1/routing/simulate"): P.RULES_SIMULATE,
    ("POST", "/api/v1/routing/backtest"): P.RULES_SIMULATE,
    ("POST", "/api/v1/tokens"): P.TOKENS_ADMIN,
    ("GET", "/api/v1/tokens"): P.TOKENS_ADMIN,
    ("POST", "/api/v1/tokens/{token_id}/revoke"): P.TOKENS_ADMIN,
    ("GET", "/api/v1/audit"): P.AUDIT_READ,
    ("POST", "/api/v1/orders/{order_id}/returns"): P.RETURNS_WRITE,
    ("GET", "/api/v1/returns"): P.RETURNS_READ,
    ("GET", "/api/v1/returns/{return_id}"): P.RETURNS_READ,
    ("POST", "/api/v1/returns/{return_id}/authorise"): P.RETURNS_WRITE,
    ("POST", "/api/v1/returns/{return_id}/cancel"): P.RETURNS_WRITE,
    ("POST", "/api/v1/returns/{return_id}/close"): P.RETURNS_WRITE,
    ("POST", "/api/v1/returns/{return_id}/receipts"): P.RETURNS_RECEIVE,
    ("POST", "/api/v1/returns/{return_id}/in-transit"): P.RETURNS_RECEIVE,
    ("GET", "/api/v1/reports/freight"): P.REPORTS_READ,
    ("GET", "/api/v1/reports/carrier-on-time"): P.REPORTS_READ,
    ("GET", "/api/v1/reports/erp-reconciliation"): P.REPORTS_READ,
    # The console: a session cookie instead of a token (tests/integration/test_console_roles.py
    # tries each role on these). Signing in and out and the two static files need no role.
    ("GET", "/console/login"): PUBLIC,
    ("POST", "/console/login"): PUBLIC,
    ("POST", "/console/logout"): PUBLIC,
    ("GET", "/console/static/{name}"): PUBLIC,
    ("GET", "/console/"): P.ORDERS_READ,
    ("GET", "/console/orders"): P.ORDERS_READ,
    ("GET", "/console/orders/{order_id}"): P.ORDERS_READ,
    ("GET", "/console/audit"): P.AUDIT_READ,
    ("GET", "/console/exceptions"): P.EXCEPTIONS_READ,
    ("GET", "/console/exceptions/{exception_id}"): P.EXCEPTIONS_READ,
    ("POST", "/console/exceptions/{exception_id}/retry"): P.EXCEPTIONS_RETRY,
    ("POST", "/console/exceptions/{exception_id}/resolve"): P.EXCEPTIONS_RETRY,
    ("POST", "/console/exceptions/{exception_id}/assign"): P.EXCEPTIONS_TRIAGE,
    ("POST", "/console/exceptions/{exception_id}/snooze"): P.EXCEPTIONS_TRIAGE,
    ("POST", "/console/exceptions/{exception_id}/dismiss"): P.EXCEPTIONS_RETRY,
    ("POST", "/console/exceptions/{exception_id}/map-sku"): P.SKUS_MAP,
    ("POST", "/console/exceptions/{exception_id}/address"): P.ORDERS_EDIT,
    ("POST", "/console/orders/{order_id}/address"): P.ORDERS_EDIT,
    ("POST", "/console/orders/{order_id}/quantity"): P.ORDERS_EDIT,
    ("POST", "/console/exceptions/{exception_id}/quantity"): P.ORDERS_EDIT,
    ("POST", "/console/exceptions/{exception_id}/force-warehouse"): P.ORDERS_ROUTE,
    ("POST", "/console/exceptions/{exception_id}/cancel"): P.ORDERS_CANCEL,
    ("POST", "/console/exceptions/bulk/retry"): P.EXCEPTIONS_RETRY,
    ("POST", "/console/exceptions/bulk/assign"): P.EXCEPTIONS_TRIAGE,
    ("POST", "/console/exceptions/bulk/resolve"): P.EXCEPTIONS_RETRY,
    ("POST", "/console/exceptions/bulk/dismiss"): P.EXCEPTIONS_RETRY,
    ("GET", "/console/dead-letters"): P.EXCEPTIONS_READ,
    ("GET", "/console/connectors"): P.CONNECTORS_READ,
    ("POST", "/console/connectors"): P.CONNECTORS_WRITE,
    ("GET", "/console/connectors/{connector_id}"): P.CONNECTORS_READ,
    ("POST", "/console/connectors/{connector_id}"): P.CONNECTORS_WRITE,
    ("POST", "/console/connectors/{connector_id}/enabled"): P.CONNECTORS_WRITE,
    ("POST", "/console/connectors/{connector_id}/poll"): P.CONNECTORS_POLL,
    ("POST", "/console/connectors/{connector_id}/test"): P.CONNECTORS_POLL,
    ("GET", "/console/stock"): P.STOCK_READ,
    ("GET", "/console/stock/ledger"): P.STOCK_READ,
    ("POST", "/console/stock/adjust"): P.STOCK_WRITE,
    ("GET", "/console/rules"): P.RULES_READ,
    ("POST", "/console/rules"): P.RULES_WRITE,
    ("GET", "/console/rules/{rule_set_id}"): P.RULES_READ,
    ("POST", "/console/rules/{rule_set_id}"): P.RULES_WRITE,
    ("POST", "/console/rules/{rule_set_id}/publish"): P.RULES_PUBLISH,
    ("POST", "/console/rules/{rule_set_id}/withdraw"): P.RULES_PUBLISH,
    ("POST", "/console/rules/{rule_set_id}/activate"): P.RULES_PUBLISH,
    ("POST", "/console/rules/{rule_set_id}/simulate"): P.RULES_SIMULATE,
    ("POST", "/console/rules/{rule_set_id}/backtest"): P.RULES_SIMULATE,
}
CONSOLE = "/console/"
# FastAPI's own pages (the OpenAPI document and its viewers) are not ours to guard.
FRAMEWORK_PATHS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
README = Path(__file__).resolve().parents[2] / "README.md"


def api_routes(app: FastAPI) -> Iterator[tuple[str, str, APIRoute]]:
    """(method, path, route) for every route the app serves, included routers flattened."""
    try:  # newer FastAPI keeps included routers nested in app.routes
        from fastapi.routing import iter_route_contexts

        found = [(c.path, c.original_route) for c in iter_route_contexts(app.routes)]
    except ImportError:
        found = [(getattr(r, "path", None), r) for r in app.routes]
    for path, route in found:
        if isinstance(route, APIRoute):
            for method in sorted(route.methods):
                yield method, str(path), route
        else:
            assert path in FRAMEWORK_PATHS, f"{path}: not an APIRoute, so it has no rule"


def declared(dependant: Any) -> list[Permission]:
    """Every permission the route's dependencies ask for, however deeply nested."""
    found = permission_of(dependant.call)
    below = [p for sub in dependant.dependencies for p in declared(sub)]
    return ([found] if found is not None else []) + below


@pytest.fixture
def app(ctx: Context) -> FastAPI:
    return create_app(ctx)


def test_every_route_has_the_rule_the_table_gives(app: FastAPI) -> None:
    seen: dict[tuple[str, str], Permission | str] = {}
    for method, path, route in api_routes(app):
        asked = set(declared(route.dependant))
        assert len(asked) <= 1, f"{method} {path} asks for {sorted(asked)}: one rule a route"
        seen[method, path] = asked.pop() if asked else PUBLIC
    missing = sorted(set(seen) - set(ROUTES))
    assert not missing, f"routes with no rule in ROUTES: {missing}"
    gone = sorted(set(ROUTES) - set(seen))
    assert not gone, f"ROUTES names routes the app does not serve: {gone}"
    differ = {key: (seen[key], ROUTES[key]) for key in ROUTES if seen[key] != ROUTES[key]}
    assert not differ, f"route: (declared, table) {differ}"


def scopes(dependant: Any) -> set[str]:
    found = scoped_by(dependant.call)
    below = {name for sub in dependant.dependencies for name in scopes(sub)}
    return ({found} if found is not None else set()) | below


# What a scoped token is limited by; any route naming one of these must check it.
SCOPED_PARAMETERS = (
    "order_id",
    "exception_id",
    "fulfilment_order_id",
    "connector_id",
    "group_id",
    "warehouse_id",
    "shipment_id",
    "return_id",
)
# connector_id in the query: the upload names its connector there.
SCOPED_BY_QUERY = {("POST", "/api/v1/orders/import"): "connector_id"}


def test_every_route_that_names_a_scoped_thing_checks_the_scope(app: FastAPI) -> None:
    unchecked = []
    for method, path, route in api_routes(app):
        named = {p for p in SCOPED_PARAMETERS if "{" + p + "}" in path}
        if (method, path) in SCOPED_BY_QUERY:
            named.add(SCOPED_BY_QUERY[method, path])
        if path.startswith(("/webhooks/", "/edi/")):
            continue  # signed by the connector itself, or the partner's token: no API token
        missing = named - scopes(route.dependant)
        if missing:
            unchecked.append(f"{method} {path}: {sorted(missing)}")
    assert not unchecked, "routes that do not check a token's scope:\n" + "\n".join(unchecked)


def test_every_permission_guards_a_route() -> None:
    guarding = {p for p in ROUTES.values() if p != PUBLIC}
    assert set(Permission) - FIELD_PERMISSIONS == guarding
    assert not FIELD_PERMISSIONS & guarding


def test_readme_role_table_is_the_one_in_the_code() -> None:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- roles:begin -->\n(.*?)<!-- roles:end -->", text, re.S)
    assert match, "README.md lost its <!-- roles:begin --> ... <!-- roles:end --> block"
    assert match.group(1) == role_table_markdown(), (
        "README's role table differs from core/access/permissions.py; paste the output of "
        "`omniroute token roles` between the markers"
    )


def test_the_cli_prints_the_same_table() -> None:
    printed = CliRunner().invoke(cli, ["token", "roles"])
    assert printed.exit_code == 0 and printed.output == role_table_markdown()


def test_the_old_roles_keep_what_readme_promised_them() -> None:
    assert ROLE_PERMISSIONS[Role.INTEGRATION] == {P.ORDERS_READ, P.STOCK_READ}
    assert ROLE_PERMISSIONS[Role.ADMIN] == set(Permission)
    for refused in (P.ORDERS_IMPORT, P.SHIPMENTS_WRITE, P.FULFILMENT_REJECT):
        assert not allows(Role.INTEGRATION, refused)
    assert not allows(Role.SUPPORT, P.ORDERS_CANCEL)
    assert allows(Role.SUPPORT, P.EXCEPTIONS_RETRY)


def _request_for(method: str, path: str) -> dict[str, Any]:
    """A small request that gets past routing: ids that do not exist, an empty body."""
    url = re.sub(r"\{[^}]+\}", "999999", path)
    request: dict[str, Any] = {"method": method, "url": url}
    if method in {"POST", "PUT", "PATCH"}:
        request["json"] = {}
    return request


def test_each_role_is_refused_exactly_where_the_table_says(ctx: Context, app: FastAPI) -> None:
    tokens = {
        role: {"Authorization": f"Bearer {create_token(ctx, role=role, name=role.value)}"}
        for role in Role
    }
    wrong: list[str] = []
    with TestClient(app) as client:
        for (method, path), permission in sorted(ROUTES.items()):
            if permission == PUBLIC or path.startswith(CONSOLE):
                continue
            assert isinstance(permission, Permission)
            anonymous = client.request(**_request_for(method, path))
            assert anonymous.status_code == 401, f"{method} {path} without a token"
            for role in Role:
                got = client.request(**_request_for(method, path), headers=tokens[role]).status_code
                assert got < 500 and got != 401, f"{role} {method} {path}: {got}"
                if (got == 403) == allows(role, permission):
                    wrong.append(f"{role} {method} {path} ({permission}): {got}")
    assert not wrong, "\n".join(wrong)
