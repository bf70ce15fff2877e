"""The file-based WMS connector (``wms_file``): for a warehouse without an API.

Releases are pick list files written into the warehouse's ``outbound_directory``; cancels
are cancel files there too (``pick_lists``). Confirmations come back as CSV files the
warehouse drops into its ``inbound_directory``, read by a sweeper turn
(``core.fulfilment.file_inbox``, the columns in ``confirmations``).

Release contract, the REST WMS's idempotency by other means: the file name is the release's
idempotency key, so a retried or redriven delivery rewrites the same file (atomically: a
temp name, then a rename) and never writes a second one. A file that cannot be written (disk
full, folder gone, no permission) is a ``TransientError``: the outbox tries again and
dead-letters it after its budget, as it does a WMS that does not answer.

Cancel contract: the REST WMS answers a cancel at once; a folder cannot. A cancel file
written counts as ``cancelled`` for every unit asked (the warehouse agrees, when it takes
this connector on, to honour a cancel file for units it has not shipped). Units it shipped
anyway are refused when their confirmation comes in (they are cancelled, so not open), with
an exception naming them: ops then handle it as a return.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from omniroute.connectors.base import (
    CancelOutcome,
    CancelReceipt,
    CancelRequest,
    Capability,
    ConnectorRuntime,
    ReleaseReceipt,
    ReleaseRequest,
    TransientError,
)
from omniroute.connectors.files import write_atomically
from omniroute.connectors.wms.file.pick_lists import (
    cancel_name,
    pick_list_name,
    render_cancel,
    render_pick_list,
)

__all__ = ["FileWmsConfig", "FileWmsConnector", "FileWmsSecrets"]


class FileWmsConfig(BaseModel):
    """The warehouse's two folders: ours to write, its to write."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    outbound_directory: str = Field(
        min_length=1,
        max_length=1000,
        description="Absolute path: pick list and cancel files are written here (atomically).",
    )
    inbound_directory: str = Field(
        min_length=1,
        max_length=1000,
        description="Absolute path: the warehouse drops confirmation CSV files here; read ones "
        "are moved to done/ or failed/ beside a .reason.txt.",
    )

    @field_validator("outbound_directory", "inbound_directory")
    @classmethod
    def _absolute(cls, value: str) -> str:
        path = Path(value)
        if not path.is_absolute():
            raise ValueError("must be an absolute path")
        if ".." in path.parts:
            raise ValueError("must not contain '..'")
        return str(path)

    @model_validator(mode="after")
    def _apart(self) -> FileWmsConfig:
        if overlapping(Path(self.outbound_directory), Path(self.inbound_directory)):
            raise ValueError("outbound_directory and inbound_directory must be apart")
        return self

    def owned_folders(self) -> dict[str, str]:
        """Folders no other connector may use (``core.channels.connector_admin`` checks)."""
        return {
            "outbound_directory": self.outbound_directory,
            "inbound_directory": self.inbound_directory,
        }


def overlapping(a: Path, b: Path) -> bool:
    """Whether two absolute folders are one, or one is inside the other."""
    return a == b or a in b.parents or b in a.parents


class FileWmsSecrets(BaseModel):
    """None: the folders are the whole contract."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FileWmsConnector:
    """A ``WarehouseAdapter`` and ``WarehouseCanceller`` through two folders."""

    kind: ClassVar[str] = "wms_file"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.FULFILMENT_RELEASE, Capability.FULFILMENT_CANCEL}
    )
    config_model: ClassVar[type[BaseModel]] = FileWmsConfig
    secrets_model: ClassVar[type[BaseModel]] = FileWmsSecrets

    def __init__(
        self,
        config: FileWmsConfig | Mapping[str, Any],
        secrets: FileWmsSecrets | Mapping[str, Any],
        *,
        runtime: ConnectorRuntime,
    ) -> None:
        self.config = FileWmsConfig.model_validate(config)
        FileWmsSecrets.model_validate(secrets)
        self._runtime = runtime

    @property
    def outbound(self) -> Path:
        return Path(self.config.outbound_directory)

    @property
    def inbound(self) -> Path:
        return Path(self.config.inbound_directory)

    def release(self, request: ReleaseRequest) -> ReleaseReceipt:
        name = pick_list_name(request)
        self._write(name, render_pick_list(request))
        return ReleaseReceipt(external_ref=name, status_code=201, attempts=1)

    def cancel(self, request: CancelRequest) -> CancelReceipt:
        name = cancel_name(request)
        self._write(name, render_cancel(request))
        return CancelReceipt(CancelOutcome.CANCELLED, 201, 1, detail=f"cancel file {name}")

    def _write(self, name: str, body: bytes) -> None:
        try:
            write_atomically(self.outbound, name, body)
        except OSError as exc:
            raise TransientError(
                f"could not write {name} into {self.outbound}: {exc}", reason="file_write"
            ) from exc
