"""What ``GET /metrics`` answers: every process's counters and the database's gauges.

Counters and histograms (``core/platform/metrics.py``) come from this process's registry, or,
with ``PROMETHEUS_MULTIPROC_DIR`` set, from the files every API, worker and beat process
writes there (prometheus-client's multiprocess mode: summed across processes, dead ones
included). The gauges (``telemetry/gauges.py``) are read from the database, cached a few
seconds. Both deployments answer with the same names.
"""

from __future__ import annotations

import os

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from omniroute.core.bootstrap import Context
from omniroute.core.platform.telemetry.gauges import DatabaseGauges
from omniroute.core.stock.sync import CURSOR as STOCK_SYNC_CURSOR

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class Exposition:
    def __init__(self, ctx: Context) -> None:
        directory = os.environ.get(MULTIPROC_ENV)
        if directory:
            self._processes = CollectorRegistry()
            MultiProcessCollector(self._processes, directory)  # type: ignore[no-untyped-call]
        else:
            self._processes = REGISTRY
        self._gauges = CollectorRegistry()
        self._gauges.register(
            DatabaseGauges(
                ctx.engine,
                ctx.clock,
                ttl=ctx.settings.metrics_cache_seconds,
                stock_cursor=STOCK_SYNC_CURSOR,
            )
        )

    def render(self) -> bytes:
        """The text exposition format (two registries, no name in both)."""
        return generate_latest(self._processes) + generate_latest(self._gauges)
