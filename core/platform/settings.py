"""The one settings class every omniroute process reads (environment prefix ``OMNIROUTE_``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from omniroute.routing.carrier_choice.fx import ExchangeRates


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OMNIROUTE_", env_file=None, extra="ignore")

    database_url: str = "sqlite:///./omniroute.db"
    # Empty broker URL: the embedded in-process worker runs the tasks (laptop, demo, tests).
    broker_url: str | None = None
    # Fernet key (urlsafe base64, 32 bytes) for connector secrets at rest. When unset with an
    # embedded SQLite database, a key file is created beside the database file.
    secret_key: str | None = None
    secret_key_file: str | None = None

    max_body_bytes: int = Field(default=1_048_576, gt=0)
    # A partner's EDI file (POST /edi/{id}) is streamed to a spooled file, not buffered.
    edi_max_body_bytes: int = Field(default=64 * 1_048_576, gt=0)
    allow_private_urls: bool = False

    http_timeout: float = Field(default=10.0, gt=0)
    http_retry_attempts: int = Field(default=3, ge=1, le=10)
    http_retry_max_wait: float = Field(default=5.0, ge=0)

    outbox_max_attempts: int = Field(default=8, ge=1)
    outbox_backoff_base: float = Field(default=2.0, ge=0)
    outbox_backoff_max: float = Field(default=300.0, ge=0)
    inbox_max_attempts: int = Field(default=5, ge=1)
    # A worker that takes a carrier's tracking row takes up to this many due rows of that
    # connector with it, in one transaction (core/intake/tracking_messages.py); 1: one a time.
    tracking_batch_size: int = Field(default=100, ge=1, le=1000)

    sweep_interval: float = Field(default=2.0, gt=0)
    sweep_grace: float = Field(default=5.0, ge=0)
    claim_timeout: float = Field(default=60.0, gt=0)
    renudge_interval: float = Field(default=30.0, ge=0)
    sweep_batch: int = Field(default=500, gt=0)

    poll_interval: float = Field(default=60.0, gt=0)
    poll_overlap: float = Field(default=300.0, ge=0)
    poll_initial_lookback: float = Field(default=86_400.0, ge=0)
    poll_max_pages: int = Field(default=20, ge=1)
    connector_disable_after_failures: int = Field(default=20, ge=1)
    stock_sync_interval: float = Field(default=10.0, ge=0)

    route_max_replans: int = Field(default=5, ge=1)
    no_stock_policy: str = Field(default="exception", pattern="^(exception|backorder)$")
    # A WMS rejection re-routes the fulfilment order's lines elsewhere (else: dead letter),
    # at most max_reroutes times per order; then the lines park as reroute_exhausted.
    reroute_on_rejection: bool = True
    max_reroutes: int = Field(default=3, ge=0)

    # The base URL clients reach omniroute at (https://oms.example.com), used for every URL
    # omniroute hands out (a connector's webhook_url). Unset: the address the server is bound
    # to. Never the request's Host header, which the caller chooses.
    public_url: str | None = Field(default=None, pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$")
    # Failed authentication: this many failures of one client address or one token within
    # the window lock it out (429 with Retry-After) for the lockout, in seconds.
    auth_max_failures: int = Field(default=10, ge=1)
    auth_failure_window: int = Field(default=60, ge=1)
    auth_lockout: int = Field(default=300, ge=1)
    # Webhooks each connector may deliver per second to one API process (burst on top);
    # more are answered 429 with Retry-After before the database is touched. 0: no limit.
    webhook_rate: float = Field(default=1000.0, ge=0)
    webhook_burst: int = Field(default=5000, ge=1)
    # An API request (webhooks aside) not answered in this many seconds gets a 503.
    request_timeout: float = Field(default=30.0, gt=0)
    # The console's session cookie is Secure unless this is false (plain http in development).
    console_cookie_secure: bool = True
    console_session_hours: float = Field(default=12.0, gt=0)
    # Sign-in throttling: this many failures for one username within the window (four times
    # as many from one address) and further attempts wait until the oldest leaves it.
    console_login_max_failures: int = Field(default=5, ge=1)
    console_login_window: float = Field(default=900.0, gt=0)

    embedded_workers: int = Field(default=2, ge=1)
    db_pool_size: int = Field(default=10, ge=1)
    log_level: str = "INFO"
    # Logs as one JSON object a line (json: for a log shipper) or as plain lines (text).
    log_format: Literal["json", "text"] = "text"
    # How long /metrics reuses the gauges it read from the database (one read per period).
    metrics_cache_seconds: float = Field(default=5.0, ge=0)

    # Each currency's value in one common unit ("USD=1,EUR=1.08,CAD=0.73"): carrier quotes
    # in different currencies are compared at these rates (routing/carrier_choice/fx).
    exchange_rates: str = ""

    @field_validator("exchange_rates")
    @classmethod
    def _rates_parse(cls, value: str) -> str:
        ExchangeRates.parse(value)  # refused at start-up, not at the first booking
        return value

    @property
    def fx(self) -> ExchangeRates:
        return ExchangeRates.parse(self.exchange_rates)

    @field_validator("public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        return None if value is None else value.rstrip("/")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def embedded(self) -> bool:
        return not self.broker_url

    @property
    def redis_url(self) -> str | None:
        """The Redis the deployment runs with (its broker), if any."""
        url = self.broker_url
        return url if url and url.startswith(("redis://", "rediss://")) else None
