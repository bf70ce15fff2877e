"""What a service can be given: one small protocol per collaborator.

A service module states what it uses as a ``Deps`` protocol built from these (and from the
``Deps`` of the services it calls), and takes that, never the whole application: mypy holds
it to what it declared, and a test can hand it just those things. The composition root
(``core.bootstrap``) builds one object that has them all, for each entry point.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from omniroute.core.platform.clock import Clock
from omniroute.core.platform.dispatch import Dispatcher
from omniroute.core.platform.live_connectors import LiveConnectors
from omniroute.core.platform.models import SalesOrder
from omniroute.core.platform.settings import Settings


class HasSessions(Protocol):
    @property
    def sessions(self) -> sessionmaker[Session]:
        """Units of work (``db.unit_of_work``); each session tells the time by the clock."""
        ...


class HasClock(Protocol):
    @property
    def clock(self) -> Clock: ...


class HasSettings(Protocol):
    @property
    def settings(self) -> Settings: ...


class HasDispatcher(Protocol):
    @property
    def dispatcher(self) -> Dispatcher:
        """Where work to do later is nudged (a task name and a row id)."""
        ...


class HasConnectors(Protocol):
    @property
    def connectors(self) -> LiveConnectors: ...


class HasEngine(Protocol):
    @property
    def engine(self) -> Engine:
        """For the few paths that write without a session (webhook intake)."""
        ...


class Store(HasSessions, HasClock, Protocol):
    """A unit of work and the time: what every reading or writing service needs."""


class AfterRouting(Protocol):
    """Work another area adds to the transaction that routed an order again (a woken
    backorder, an order the sweeper routes): outbox rows only; their ids, to nudge."""

    def __call__(self, session: Session, order: SalesOrder) -> list[int]: ...


class HasRoutingFollowUps(Protocol):
    @property
    def after_routing(self) -> Sequence[AfterRouting]:
        """Called, in order, after ``order_routing.route.route_order`` routed an order."""
        ...
