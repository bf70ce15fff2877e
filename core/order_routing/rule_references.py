"""A rule set's names checked against the configuration, at validate and publish time.

``routing.rules.rule_references`` (pure) lists every warehouse code, tag, SKU, channel and
connector a document names, each with its JSON path; this looks them up. A name nothing in
the configuration has (``NYCC``, ``cold-chian``) is an error: every order the rule matches
would become an exception. A name that exists but cannot help yet (a tag no warehouse has, a
warehouse or SKU with no stock, a disabled warehouse or connector, a connector kind with no
connector) is a warning: the rule set may be published ahead of the configuration.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from omniroute.core.platform.models import Connector, Sku, StockLevel, Warehouse
from omniroute.routing.rules import Reference, RefKind, rule_references


@dataclass
class ReferenceCheck:
    """Problems with a document's names: errors block publishing, warnings do not."""

    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)

    def add(self, into: list[dict[str, Any]], ref: Reference, message: str) -> None:
        into.append(
            {"path": ref.path, "message": message, "kind": ref.kind.value, "reference": ref.value}
        )


def check_references(
    session: Session, doc: Any, connector_kinds: Collection[str]
) -> ReferenceCheck:
    """Look up every name ``doc`` uses; ``connector_kinds`` are the installed kinds."""
    refs = rule_references(doc)
    check = ReferenceCheck()
    if not refs:
        return check
    kinds = {ref.kind for ref in refs}
    lookup = _Lookup(session, refs, kinds)
    for ref in refs:
        if ref.kind is RefKind.WAREHOUSE:
            lookup.warehouse(ref, check)
        elif ref.kind in (RefKind.WAREHOUSE_TAG, RefKind.SKU_TAG):
            lookup.tag(ref, check)
        elif ref.kind is RefKind.SKU:
            lookup.sku(ref, check)
        elif ref.kind is RefKind.CHANNEL:
            lookup.channel(ref, check, connector_kinds)
        else:
            lookup.connector(ref, check)
    return check


def _suggest(value: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(value, sorted(known), n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""


class _Lookup:
    """The configuration a document's names are checked against, read once per check."""

    def __init__(self, session: Session, refs: list[Reference], kinds: set[RefKind]) -> None:
        self.warehouses: dict[str, tuple[int, bool, list[str]]] = {}
        if kinds & {RefKind.WAREHOUSE, RefKind.WAREHOUSE_TAG, RefKind.SKU_TAG}:
            rows = session.execute(
                select(Warehouse.code, Warehouse.id, Warehouse.enabled, Warehouse.tags)
            )
            self.warehouses = {
                code: (wid, enabled, list(tags or [])) for code, wid, enabled, tags in rows
            }
        self.sku_tags: set[str] = set()
        self.sku_requires: set[str] = set()
        if kinds & {RefKind.WAREHOUSE_TAG, RefKind.SKU_TAG}:
            for tags, requires in session.execute(select(Sku.tags, Sku.requires)):
                self.sku_tags.update(str(t) for t in tags or [])
                self.sku_requires.update(str(t) for t in requires or [])
        codes = {str(r.value) for r in refs if r.kind is RefKind.SKU}
        self.skus: set[str] = set()
        self.sku_units: dict[str, int] = {}
        if codes:
            self.skus = set(session.scalars(select(Sku.code).where(Sku.code.in_(codes))))
            units = session.execute(
                select(StockLevel.sku, func.sum(StockLevel.on_hand))
                .where(StockLevel.sku.in_(codes))
                .group_by(StockLevel.sku)
            )
            self.sku_units = {sku: int(n or 0) for sku, n in units}
        named = {
            self.warehouses[code][0]
            for r in refs
            if r.kind is RefKind.WAREHOUSE and (code := str(r.value)) in self.warehouses
        }
        self.warehouse_units: dict[int, int] = {}
        if named:
            per_site = session.execute(
                select(StockLevel.warehouse_id, func.sum(StockLevel.on_hand))
                .where(StockLevel.warehouse_id.in_(named))
                .group_by(StockLevel.warehouse_id)
            )
            self.warehouse_units = {wid: int(n or 0) for wid, n in per_site}
        self.connectors: dict[int, tuple[str, str, bool]] = {}
        if kinds & {RefKind.CHANNEL, RefKind.CONNECTOR}:
            rows = session.execute(
                select(Connector.id, Connector.kind, Connector.name, Connector.enabled)
            )
            self.connectors = {cid: (kind, name, enabled) for cid, kind, name, enabled in rows}

    def warehouse(self, ref: Reference, check: ReferenceCheck) -> None:
        code = str(ref.value)
        known = self.warehouses.get(code)
        if known is None:
            message = f"unknown warehouse code {code!r}{_suggest(code, self.warehouses)}"
            check.add(check.errors, ref, message)
            return
        wid, enabled, _ = known
        if not enabled:
            check.add(check.warnings, ref, f"warehouse {code} is disabled")
        elif not self.warehouse_units.get(wid):
            check.add(check.warnings, ref, f"warehouse {code} holds no stock")

    def tag(self, ref: Reference, check: ReferenceCheck) -> None:
        tag = str(ref.value)
        on_warehouses = {t for _, _, tags in self.warehouses.values() for t in tags}
        on_enabled = {t for _, enabled, tags in self.warehouses.values() if enabled for t in tags}
        every = on_warehouses | self.sku_tags | self.sku_requires
        if ref.kind is RefKind.SKU_TAG:  # sku_tag conditions compare tags case-insensitively
            if tag.casefold() not in {t.casefold() for t in every}:
                message = f"unknown tag {tag!r}: no SKU or warehouse has it{_suggest(tag, every)}"
                check.add(check.errors, ref, message)
            elif tag.casefold() not in {t.casefold() for t in self.sku_tags}:
                check.add(check.warnings, ref, f"no SKU has tag {tag!r}")
            return
        if tag not in every:
            message = f"unknown tag {tag!r}: no warehouse or SKU has it{_suggest(tag, every)}"
            check.add(check.errors, ref, message)
        elif tag not in on_enabled:
            check.add(check.warnings, ref, f"no enabled warehouse has tag {tag!r}")

    def sku(self, ref: Reference, check: ReferenceCheck) -> None:
        code = str(ref.value)
        if code not in self.skus:
            check.add(check.errors, ref, f"unknown SKU {code!r}")
        elif not self.sku_units.get(code):
            check.add(check.warnings, ref, f"SKU {code} has no stock in any warehouse")

    def channel(self, ref: Reference, check: ReferenceCheck, installed: Collection[str]) -> None:
        kind = str(ref.value)
        configured = {k for k, _, _ in self.connectors.values()}
        if kind in configured:
            return
        if kind in installed:
            check.add(check.warnings, ref, f"no connector of kind {kind!r} is configured")
            return
        by_name = {name: k for k, name, _ in self.connectors.values()}
        if kind in by_name:
            message = (
                f"{kind!r} is a connector's name; channel conditions compare the connector "
                f"kind ({by_name[kind]!r})"
            )
        else:
            message = f"unknown channel {kind!r}{_suggest(kind, set(installed) | configured)}"
        check.add(check.errors, ref, message)

    def connector(self, ref: Reference, check: ReferenceCheck) -> None:
        known = self.connectors.get(int(ref.value))
        if known is None:
            check.add(check.errors, ref, f"unknown connector id {ref.value}")
        elif not known[2]:
            check.add(check.warnings, ref, f"connector {ref.value} ({known[1]}) is disabled")
