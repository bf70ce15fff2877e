"""The composition root: every process builds its collaborators here, and only here.

``bootstrap`` makes one ``Context`` per process (API, worker, CLI command, test). It has
every collaborator a service may be given; services take it typed as the narrow ``Deps``
protocol they declare (``core.platform.ports``), so each sees only what it uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from omniroute.connectors.base import ConnectorRuntime
from omniroute.core.edi.order_answers import AnswerChanges
from omniroute.core.order_routing.inputs import RoutingCaches
from omniroute.core.platform.clock import Clock, SystemClock
from omniroute.core.platform.db import make_engine, make_session_factory
from omniroute.core.platform.dispatch import Dispatcher, RecordingDispatcher
from omniroute.core.platform.live_connectors import (
    ConnectorCache,
    ConnectorRegistry,
    LiveConnectors,
)
from omniroute.core.platform.ports import AfterRouting
from omniroute.core.platform.security import SecretBox, load_secret_key
from omniroute.core.platform.settings import Settings
from omniroute.core.platform.telemetry.logs import configure_logging
from omniroute.routing.geo import OfflineGeocoder


@dataclass
class Context:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    registry: ConnectorRegistry
    connectors: LiveConnectors
    secret_box: SecretBox
    routing: RoutingCaches
    clock: Clock
    dispatcher: Dispatcher = field(default_factory=RecordingDispatcher)
    after_routing: Sequence[AfterRouting] = ()

    def close(self) -> None:
        self.engine.dispose()


def bootstrap(
    settings: Settings | None = None,
    *,
    registry: ConnectorRegistry | None = None,
    clock: Clock | None = None,
) -> Context:
    settings = settings or Settings()
    clock = clock or SystemClock()
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
    registry = registry or ConnectorRegistry.discover()
    runtime = ConnectorRuntime(
        allow_private_urls=settings.allow_private_urls,
        http_timeout=settings.http_timeout,
        retry_attempts=settings.http_retry_attempts,
        retry_max_wait=settings.http_retry_max_wait,
    )
    secret_box = SecretBox(load_secret_key(settings))
    connectors = LiveConnectors(registry, ConnectorCache(registry, runtime), secret_box, engine)
    return Context(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine, clock),
        registry=registry,
        connectors=connectors,
        secret_box=secret_box,
        routing=RoutingCaches(geocoder=OfflineGeocoder()),
        clock=clock,
        after_routing=(AnswerChanges(connectors),),
    )
