"""Prometheus metrics shared by the API, the Celery workers and the embedded runner.

These are the counters and histograms a process writes as it works. With
``PROMETHEUS_MULTIPROC_DIR`` set (the Celery deployment: every API, worker and beat process
points it at one shared directory), prometheus-client keeps each process's values in files
there, and the API's ``/metrics`` adds up every process's files, those of processes that
have exited included, so a restart loses no count. The gauges read from the database at
scrape time are in ``telemetry/gauges.py``. docs/operations.md says which process serves what.
"""

from __future__ import annotations

import os
import socket

from prometheus_client import Counter, Histogram, values


def _host_qualified_values() -> None:
    """Name each process's files by host and pid, not pid alone: containers sharing the
    directory through a volume all start their main process as pid 1."""
    host = socket.gethostname().replace("_", "-")
    values.ValueClass = values.MultiProcessValue(lambda: f"{host}-{os.getpid()}")  # type: ignore[no-untyped-call]


# Before any metric below is made: the value class is read when a metric (or its label
# child) is created.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _host_qualified_values()

WEBHOOKS = Counter(
    "omniroute_webhooks_total",
    "Webhooks received, by connector kind and outcome",
    ["kind", "outcome"],
)
INTAKE = Counter(
    "omniroute_intake_total",
    "Inbound messages offered by a connector, by outcome (accepted, duplicate, rejected, ignored)",
    ["connector_id", "outcome"],
)
SIGNATURE_FAILURES = Counter(
    "omniroute_webhook_signature_failures_total",
    "Webhooks refused for a bad signature",
    ["kind"],
)
ORDERS_ROUTED = Counter(
    "omniroute_orders_routed_total", "Routing decisions, by outcome", ["outcome"]
)
ROUTING_SECONDS = Histogram(
    "omniroute_routing_seconds",
    "Time to route one order: inputs read, plan decided, stock reserved, releases written",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
RESERVATION_RACES = Counter(
    "omniroute_reservation_races_total", "Reservations lost to a concurrent order and re-planned"
)
OUTBOX_DELIVERIES = Counter(
    "omniroute_outbox_deliveries_total",
    "Outbox delivery attempts, by kind and outcome",
    ["kind", "outcome"],
)
CONNECTOR_ERRORS = Counter(
    "omniroute_connector_errors_total",
    "Failed calls to another system, by connector and the connector's reason code",
    ["connector_id", "error"],
)
EXCEPTIONS_OPENED = Counter(
    "omniroute_exceptions_opened_total", "Exceptions opened, by reason", ["reason"]
)
TASKS = Counter(
    "omniroute_tasks_total",
    "Worker tasks run (Celery or embedded), by task and outcome (ok, error)",
    ["task", "outcome"],
)
TASK_SECONDS = Histogram(
    "omniroute_task_seconds",
    "Time spent in a worker task",
    ["task"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
