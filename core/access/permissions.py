"""Permissions (``resource:verb``) and roles as named bundles of them: the one source of truth.

The API declares one permission per route (``api/deps.require``); README's role table is
rendered from ``ROLE_PERMISSIONS`` (``role_table_markdown``) and a test compares the two.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from omniroute.core.platform.security import Role


class Permission(enum.StrEnum):
    ORDERS_READ = "orders:read"
    ORDERS_CANCEL = "orders:cancel"
    ORDERS_ROUTE = "orders:route"
    ORDERS_RELEASE_HOLD = "orders:release_hold"
    # Fix what the channel sent wrong before a warehouse has it (the shipping address).
    ORDERS_EDIT = "orders:edit"
    ORDERS_IMPORT = "orders:import"
    EXCEPTIONS_READ = "exceptions:read"
    EXCEPTIONS_RETRY = "exceptions:retry"
    EXCEPTIONS_TRIAGE = "exceptions:triage"
    SHIPMENTS_WRITE = "shipments:write"
    FULFILMENT_REJECT = "fulfilment:reject"
    STOCK_READ = "stock:read"
    STOCK_WRITE = "stock:write"
    REPLENISHMENT_READ = "replenishment:read"
    REPLENISHMENT_WRITE = "replenishment:write"
    SKUS_WRITE = "skus:write"
    SKUS_MAP = "skus:map"
    WAREHOUSES_READ = "warehouses:read"
    WAREHOUSES_WRITE = "warehouses:write"
    LISTINGS_READ = "listings:read"
    LISTINGS_WRITE = "listings:write"
    RULES_READ = "rules:read"
    RULES_SIMULATE = "rules:simulate"
    RULES_WRITE = "rules:write"
    RULES_PUBLISH = "rules:publish"
    CONNECTORS_READ = "connectors:read"
    CONNECTORS_POLL = "connectors:poll"
    CONNECTORS_WRITE = "connectors:write"
    TOKENS_ADMIN = "tokens:admin"
    AUDIT_READ = "audit:read"
    RETURNS_READ = "returns:read"
    RETURNS_WRITE = "returns:write"
    # A warehouse confirming what came back (restock or write-off).
    RETURNS_RECEIVE = "returns:receive"
    # Reports over the business: freight cost, carrier on-time, ERP reconciliation.
    REPORTS_READ = "reports:read"
    # Not a route's: customer names, e-mails, phones and street lines shown unmasked.
    PII_READ = "pii:read"


P = Permission

_VIEWER = frozenset(
    {
        P.ORDERS_READ,
        P.EXCEPTIONS_READ,
        P.STOCK_READ,
        P.REPLENISHMENT_READ,
        P.WAREHOUSES_READ,
        P.LISTINGS_READ,
        P.RULES_READ,
        P.RETURNS_READ,
        P.REPORTS_READ,
    }
)
_SUPPORT = _VIEWER | {
    P.EXCEPTIONS_RETRY,
    P.EXCEPTIONS_TRIAGE,
    P.ORDERS_RELEASE_HOLD,
    P.ORDERS_EDIT,
    P.RULES_SIMULATE,
    P.SKUS_MAP,
    P.RETURNS_WRITE,
}
_OPS = _SUPPORT | {
    P.ORDERS_CANCEL,
    P.ORDERS_ROUTE,
    P.ORDERS_IMPORT,
    P.SHIPMENTS_WRITE,
    P.FULFILMENT_REJECT,
    P.STOCK_WRITE,
    P.REPLENISHMENT_WRITE,
    P.SKUS_WRITE,
    P.WAREHOUSES_WRITE,
    P.LISTINGS_WRITE,
    P.RULES_WRITE,
    P.RULES_PUBLISH,
    P.CONNECTORS_READ,
    P.CONNECTORS_POLL,
    P.AUDIT_READ,
    P.PII_READ,
    P.RETURNS_RECEIVE,
}
_CHANNEL_READ = frozenset({P.ORDERS_READ, P.STOCK_READ})

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: _VIEWER,
    Role.SUPPORT: _SUPPORT,
    Role.OPS: _OPS,
    Role.INTEGRATOR: _CHANNEL_READ | {P.ORDERS_IMPORT},
    Role.INTEGRATION: _CHANNEL_READ,
    Role.WAREHOUSE: frozenset({P.SHIPMENTS_WRITE, P.FULFILMENT_REJECT, P.RETURNS_RECEIVE}),
    Role.ADMIN: frozenset(Permission),
}

ROLE_SUMMARIES: dict[Role, str] = {
    Role.VIEWER: (
        "reads orders, returns, exceptions, stock and replenishment, warehouses, listings, "
        "rules and reports"
    ),
    Role.SUPPORT: (
        "a viewer who works the exception queue (assign, snooze, retry, resolve, fix addresses, "
        "map unknown "
        "SKUs, release holds, simulate) and handles returns"
    ),
    Role.OPS: (
        "runs the operation: stock and replenishment, SKUs, warehouses, rules, order actions, "
        "audit, reports, customer details unmasked"
    ),
    Role.INTEGRATOR: "a channel's machine role: reads orders and stock, uploads orders",
    Role.INTEGRATION: "the old channel role, kept: reads orders and stock only",
    Role.WAREHOUSE: (
        "a WMS's machine role: ships or rejects its fulfilment orders, confirms returns received"
    ),
    Role.ADMIN: "everything, including connectors and tokens",
}


def allows(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]


# Permissions that unmask data inside pages rather than guard a route of their own.
FIELD_PERMISSIONS = frozenset({P.PII_READ})


def roles_with(permission: Permission) -> list[Role]:
    return [role for role in Role if permission in ROLE_PERMISSIONS[role]]


def role_table_markdown(roles: Iterable[Role] = tuple(Role)) -> str:
    """README's role table: one row per role, its permissions in declaration order."""
    rows = ["| role | for | permissions |", "|---|---|---|"]
    for role in roles:
        granted = ROLE_PERMISSIONS[role]
        names = (
            "all"
            if granted == frozenset(Permission)
            else ", ".join(f"`{p.value}`" for p in Permission if p in granted)
        )
        rows.append(f"| `{role.value}` | {ROLE_SUMMARIES[role]} | {names} |")
    return "\n".join(rows) + "\n"
