"""Audit trail: who did what to which entity."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from omniroute.core.platform.models import AuditLog


def record(  # noqa: PLR0917 - reads as a sentence: who did what to which entity
    session: Session,
    actor: str,
    action: str,
    entity: str,
    entity_id: object,
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditLog(
            actor=actor,
            action=action,
            entity=entity,
            entity_id=None if entity_id is None else str(entity_id),
            detail=detail or {},
        )
    )
