"""Connectors as ops configure them: validated config, write-only encrypted secrets."""

from __future__ import annotations

import enum
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, SecretStr, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from omniroute.connectors.base import (
    Capability,
    ConnectionCheck,
    ConnectorError,
    TransientError,
)
from omniroute.connectors.http import UnsafeUrlError, guard_url
from omniroute.core.access.audit import record
from omniroute.core.channels import health as connector_health
from omniroute.core.channels.release_policy import DEFAULT_POLICY, ReleasePolicy
from omniroute.core.exceptions.board import MAX_SHOWN_BODY
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.errors import Conflict, Invalid, NotFound
from omniroute.core.platform.models import Connector, InboundMessage, OrderException
from omniroute.core.platform.ports import (
    HasClock,
    HasConnectors,
    HasDispatcher,
    HasSessions,
    HasSettings,
)


class Unchanged(enum.Enum):
    """A field a partial update leaves as it is (``None`` means something there)."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED


class Deps(HasSessions, HasClock, HasSettings, HasDispatcher, HasConnectors, Protocol):
    """What connector administration uses."""


def create_connector(
    deps: Deps,
    *,
    kind: str,
    name: str,
    config: dict[str, Any],
    secrets: dict[str, Any],
    enabled: bool,
    actor: str,
    release_policy: ReleasePolicy | None = None,
) -> Connector:
    clean_config, sealed = _validated(deps, kind, config, secrets)
    try:
        with unit_of_work(deps.sessions) as session:
            _check_folders(deps, session, kind, clean_config, None)
            row = Connector(
                kind=kind,
                name=name,
                config=clean_config,
                secrets_encrypted=sealed,
                enabled=enabled,
                release_policy=_stored(release_policy),
            )
            session.add(row)
            session.flush()
            record(
                session,
                actor,
                "connector.create",
                "connector",
                row.id,
                {
                    "kind": kind,
                    "name": name,
                    "secrets": sorted(secrets),
                    "release_policy": row.release_policy,
                },
            )
            return row
    except IntegrityError:
        raise Conflict(f"connector name {name!r} is taken", code="duplicate") from None


def update_connector(
    deps: Deps,
    connector_id: int,
    *,
    config: dict[str, Any] | None,
    secrets: dict[str, Any] | None,
    enabled: bool | None,
    actor: str,
    release_policy: ReleasePolicy | Unchanged | None = UNCHANGED,
) -> Connector:
    """Change what is given; ``release_policy=None`` puts the defaults back."""
    with unit_of_work(deps.sessions) as session:
        row = session.get(Connector, connector_id)
        if row is None:
            raise NotFound(f"connector {connector_id} does not exist")
        # Secrets are never in the audit trail: their names are, in the detail.
        before = {"config": row.config, "enabled": row.enabled}
        merged_secrets = deps.connectors.open(row.secrets_encrypted)
        if secrets:
            merged_secrets.update(secrets)
        clean_config, sealed = _validated(
            deps, row.kind, config if config is not None else row.config, merged_secrets
        )
        _check_folders(deps, session, row.kind, clean_config, row.id)
        row.config, row.secrets_encrypted = clean_config, sealed
        if enabled is not None:
            if enabled and not row.enabled:
                connector_health.clear_disabled(session, row.id)
            row.enabled = enabled
        changes: dict[str, Any] = {
            "config": config is not None,
            "secrets": sorted(secrets or {}),
            "enabled": enabled,
        }
        if not isinstance(release_policy, Unchanged):
            changes["release_policy"] = {"before": row.release_policy}
            row.release_policy = _stored(release_policy)
            changes["release_policy"]["after"] = row.release_policy
        after = {"config": row.config, "enabled": row.enabled}
        record(
            session,
            actor,
            "connector.update",
            "connector",
            row.id,
            changes,
            before=before,
            after=after,
        )
    deps.connectors.forget(connector_id)
    return row


def _stored(policy: ReleasePolicy | None) -> dict[str, Any] | None:
    """The policy as kept on the row; None (the defaults) when it is all defaults."""
    if policy is None or policy == DEFAULT_POLICY:
        return None
    return policy.model_dump(mode="json")


def _validated(
    deps: Deps, kind: str, config: dict[str, Any], secrets: dict[str, Any]
) -> tuple[dict[str, Any], bytes]:
    try:
        kind_cls = deps.connectors.kind(kind)
    except LookupError as exc:
        raise Invalid(str(exc), code="unknown_kind") from None
    cfg = _model(kind_cls.config_model, config, "config")
    sec = _model(kind_cls.secrets_model, secrets, "secrets")
    _guard_urls(deps, cfg)
    plain = {
        k: v.get_secret_value() if isinstance(v, SecretStr) else v
        for k, v in sec.model_dump().items()
        if v is not None
    }
    return cfg.model_dump(mode="json"), deps.connectors.seal(plain)


def _folders_of(deps: Deps, kind: str, config: dict[str, Any]) -> dict[str, str]:
    """The folders a connector's config claims for itself (``owned_folders``), if any."""
    try:
        cfg = deps.connectors.kind(kind).config_model.model_validate(config)
    except (LookupError, ValidationError):
        return {}
    owned = getattr(cfg, "owned_folders", None)
    return dict(owned()) if callable(owned) else {}


def _check_folders(
    deps: Deps, session: Session, kind: str, config: dict[str, Any], connector_id: int | None
) -> None:
    """Each folder the config claims exists (made if missing), is writable, and is not one
    another connector claims, nor inside or around one."""
    mine = _folders_of(deps, kind, config)
    if not mine:
        return
    for key, folder in mine.items():
        path = Path(folder)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise Invalid(
                f"{folder} cannot be created: {exc.strerror}",
                code="invalid_config",
                field=f"config.{key}",
            ) from None
        if not os.access(path, os.W_OK | os.X_OK):
            raise Invalid(f"{folder} is not writable", code="invalid_config", field=f"config.{key}")
    others = session.execute(
        select(Connector.id, Connector.name, Connector.kind, Connector.config).where(
            Connector.kind == kind
        )
    ).all()
    for other_id, name, other_kind, other_config in others:
        if other_id == connector_id:
            continue
        for their in _folders_of(deps, other_kind, other_config or {}).values():
            for key, folder in mine.items():
                a, b = Path(folder), Path(their)
                if a == b or a in b.parents or b in a.parents:
                    raise Conflict(
                        f"{folder} overlaps {their}, a folder of connector {name!r}; "
                        "each warehouse needs folders of its own",
                        code="folder_shared",
                        field=f"config.{key}",
                    )


def _model(model: type[BaseModel], data: dict[str, Any], where: str) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = [
            {"field": ".".join([where, *(str(p) for p in e["loc"])]), "message": e["msg"]}
            for e in exc.errors()
        ]
        raise Invalid(f"{where} is not valid", code="invalid_config", fields=fields) from None


def _guard_urls(deps: Deps, cfg: BaseModel) -> None:
    for key, value in cfg.model_dump().items():
        if key.endswith("url") and isinstance(value, str) and value:
            try:
                guard_url(value, allow_private=deps.settings.allow_private_urls)
            except UnsafeUrlError as exc:
                raise Invalid(str(exc), code="unsafe_url", field=f"config.{key}") from None
            except TransientError:
                pass  # DNS is down now; the guard runs again on every call


def list_connectors(deps: Deps) -> list[Connector]:
    with unit_of_work(deps.sessions) as session:
        return list(session.scalars(select(Connector).order_by(Connector.id)))


def get_connector(deps: Deps, connector_id: int) -> Connector:
    with unit_of_work(deps.sessions) as session:
        row = session.get(Connector, connector_id)
        if row is None:
            raise NotFound(f"connector {connector_id} does not exist")
        return row


def secret_names(deps: Deps, row: Connector) -> list[str]:
    """Which secrets are set; never their values."""
    return sorted(deps.connectors.open(row.secrets_encrypted))


def connector_health_view(deps: Deps, connector_id: int) -> dict[str, Any]:
    with unit_of_work(deps.sessions) as session:
        if session.get(Connector, connector_id) is None:
            raise NotFound(f"connector {connector_id} does not exist")
        return connector_health.health_view(session, connector_id, now=deps.clock.now()).as_dict()


def request_poll(deps: Deps, connector_id: int, *, actor: str) -> None:
    """Queue a poll of this connector now rather than at its next turn."""
    with unit_of_work(deps.sessions) as session:
        row = session.get(Connector, connector_id)
        if row is None:
            raise NotFound(f"connector {connector_id} does not exist")
        polls = (Capability.ORDER_POLLING, Capability.TRACKING_POLL)
        if not any(deps.connectors.can(row, capability) for capability in polls):
            raise Conflict(
                f"connector {connector_id} does not poll as configured", code="not_polling"
            )
        if not row.enabled:
            raise Conflict(f"connector {connector_id} is disabled", code="connector_disabled")
        record(session, actor, "connector.poll", "connector", row.id, {})
    deps.dispatcher.enqueue(Task.POLL_CONNECTOR, connector_id)


@dataclass(frozen=True)
class ConnectionTest:
    ok: bool
    message: str
    reason: str | None = None  # the failure's reason code


def test_connection(deps: Deps, connector_id: int) -> ConnectionTest:
    """Build the connector from its stored config and secrets and, where its kind offers
    one, make its cheapest read call (``connectors.base.ConnectionCheck``). Changes
    nothing: not its health, not the audit trail."""
    with unit_of_work(deps.sessions) as session:
        row = session.get(Connector, connector_id)
        if row is None:
            raise NotFound(f"connector {connector_id} does not exist")
        try:
            instance = deps.connectors.for_row(row)
        except (ValueError, ConnectorError) as exc:
            return ConnectionTest(False, f"its configuration cannot be used: {exc}", "bad_config")
    if not isinstance(instance, ConnectionCheck):
        return ConnectionTest(
            True, f"the {row.kind} kind has no connection check; its health shows its calls"
        )
    try:
        return ConnectionTest(True, instance.check_connection())
    except ConnectorError as exc:
        return ConnectionTest(False, str(exc), exc.reason)


def inbox_messages(
    deps: Deps, connector_id: int, *, before_id: int = 0, limit: int = 20
) -> list[dict[str, Any]]:
    """The connector's raw inbox, newest first (keyset on id below ``before_id``; 0 for the
    newest) on the (connector_id, id) index of migration 0024, each with its open exception
    (the one a replay goes through), if any."""
    with unit_of_work(deps.sessions) as session:
        q = select(InboundMessage).where(InboundMessage.connector_id == connector_id)
        if before_id:
            q = q.where(InboundMessage.id < before_id)
        rows = list(session.scalars(q.order_by(InboundMessage.id.desc()).limit(limit)))
        open_for: dict[int, int] = {}
        if rows:
            found = session.execute(
                select(OrderException.inbound_message_id, OrderException.id).where(
                    OrderException.inbound_message_id.in_([r.id for r in rows]),
                    OrderException.status == "open",
                )
            )
            open_for = {inbound: exc for inbound, exc in found if inbound is not None}
        return [
            {
                "id": r.id,
                "topic": r.topic,
                "status": r.status,
                "attempts": r.attempts,
                "last_error": r.last_error,
                "received_at": r.received_at,
                "processed_at": r.processed_at,
                "order_id": r.order_id,
                **_body(bytes(r.body or b"")),
                "exception_id": open_for.get(r.id),
            }
            for r in rows
        ]


def _body(body: bytes) -> dict[str, Any]:
    """The raw body as a page shows it: parsed when it is JSON (so personal data in it can be
    masked), else text; cut at the exception page's limit."""
    parsed: Any = None
    if len(body) <= MAX_SHOWN_BODY:
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
    text = None if parsed is not None else body[:MAX_SHOWN_BODY].decode("utf-8", "replace")
    return {"json": parsed, "text": text, "size": len(body), "cut": len(body) > MAX_SHOWN_BODY}
