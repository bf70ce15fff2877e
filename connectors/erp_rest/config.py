"""Configuration of a generic REST ERP: where each resource lives, how to authenticate,
how long to wait, and how often its stock and item master are read."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from omniroute.connectors.http import check_base_url

# One leading slash, then no whitespace, query or fragment: "//host" or "http://host" would
# make httpx ignore base_url and send the request somewhere the SSRF guard never checked.
_PATH_PATTERN = re.compile(r"/(?!/)[^\s?#]*")
_HEADER_NAME = re.compile(r"[A-Za-z0-9-]{1,64}")
_PATHS = (
    "sales_order_path",
    "invoice_path",
    "invoice_list_path",
    "stock_path",
    "items_path",
    "purchase_request_path",
)


class ErpRestConfig(BaseModel):
    """Where the ERP lives; an empty path turns that feature off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field(
        description="http(s) root of the ERP API, e.g. https://erp.example.com/api"
    )
    sales_order_path: str = Field(default="/sales-orders", description="POST: a sales order")
    invoice_path: str = Field(default="/invoices", description="POST: an invoice of a shipment")
    invoice_list_path: str = Field(
        default="/invoices", description="GET ?from=&to=&page=: the ERP's invoices (reconciliation)"
    )
    stock_path: str = Field(
        default="/stock", description="GET ?page=: on hand per warehouse and SKU; '' to turn off"
    )
    items_path: str = Field(default="/items", description="GET ?page=: the item master; '' off")
    purchase_request_path: str = Field(
        default="/purchase-requests", description="POST: a purchase request; '' to turn off"
    )
    auth_header_name: str = Field(
        default="Authorization",
        description="Header that carries the secret auth_header_value (e.g. 'token key:secret')",
    )
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    poll_every_minutes: int = Field(
        default=60, ge=0, le=10080, description="How often stock and items are read; 0: never"
    )
    max_pages: int = Field(default=200, ge=1, le=10000, description="Pages read per GET at most")
    barcode_alias_connectors: list[str] = Field(
        default_factory=list,
        description="Names of channel connectors whose orders may name an item by a barcode "
        "from the item master: each barcode becomes a SKU alias of theirs",
    )

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        return check_base_url(value, "base_url")

    @field_validator(*_PATHS)
    @classmethod
    def _check_path(cls, value: str) -> str:
        if value and not _PATH_PATTERN.fullmatch(value):
            raise ValueError("a path must start with a single '/' and hold no query")
        return value

    @field_validator("auth_header_name")
    @classmethod
    def _check_header(cls, value: str) -> str:
        if not _HEADER_NAME.fullmatch(value):
            raise ValueError("auth_header_name must be a header name (letters, digits, '-')")
        return value


class ErpRestSecrets(BaseModel):
    """Sealed at rest; ``auth_header_value`` is sent in ``auth_header_name`` when set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    auth_header_value: SecretStr | None = None
