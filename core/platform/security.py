"""Secrets at rest (Fernet) and API tokens (random, stored as SHA-256)."""

from __future__ import annotations

import enum
import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from omniroute.core.platform.settings import Settings


class Role(enum.StrEnum):
    """A token's role; what each may do is ``core/access/permissions.ROLE_PERMISSIONS``."""

    VIEWER = "viewer"
    SUPPORT = "support"
    OPS = "ops"
    INTEGRATOR = "integrator"
    WAREHOUSE = "warehouse"
    ADMIN = "admin"
    INTEGRATION = "integration"


class SecretBox:
    """Encrypts connector secrets; the plaintext never leaves the process that needs it."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, values: dict[str, Any]) -> bytes:
        return self._fernet.encrypt(json.dumps(values, sort_keys=True).encode())

    def open(self, blob: bytes | None) -> dict[str, Any]:
        if not blob:
            return {}
        try:
            data: dict[str, Any] = json.loads(self._fernet.decrypt(blob))
        except InvalidToken as exc:
            raise RuntimeError("connector secrets cannot be decrypted with this key") from exc
        return data


def load_secret_key(settings: Settings) -> bytes:
    """The Fernet key from settings, or a key file kept beside an embedded SQLite database."""
    if settings.secret_key:
        return settings.secret_key.encode()
    if not settings.is_sqlite:
        raise RuntimeError("OMNIROUTE_SECRET_KEY must be set when the database is not SQLite")
    path = Path(settings.secret_key_file or _default_key_path(settings.database_url))
    if path.exists():
        return path.read_bytes().strip()
    key = Fernet.generate_key()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


def _default_key_path(database_url: str) -> str:
    db_path = database_url.split("///", 1)[-1] if "///" in database_url else ""
    if not db_path or db_path == ":memory:":
        return ".omniroute-secret.key"
    return db_path + ".key"


def new_token() -> str:
    return "omr_" + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
