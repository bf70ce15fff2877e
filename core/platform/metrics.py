"""Prometheus metrics shared by the API and the services."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

WEBHOOKS = Counter(
    "omniroute_webhooks_total",
    "Webhooks received, by connector kind and outcome",
    ["kind", "outcome"],
)
SIGNATURE_FAILURES = Counter(
    "omniroute_webhook_signature_failures_total",
    "Webhooks refused for a bad signature",
    ["kind"],
)
ORDERS_ROUTED = Counter(
    "omniroute_orders_routed_total", "Routing decisions, by outcome", ["outcome"]
)
RESERVATION_RACES = Counter(
    "omniroute_reservation_races_total", "Reservations lost to a concurrent order and re-planned"
)
OUTBOX_DELIVERIES = Counter(
    "omniroute_outbox_deliveries_total",
    "Outbox delivery attempts, by kind and outcome",
    ["kind", "outcome"],
)
EXCEPTIONS_OPENED = Counter(
    "omniroute_exceptions_opened_total", "Exceptions opened, by reason", ["reason"]
)
TASK_SECONDS = Histogram(
    "omniroute_task_seconds",
    "Time spent in a worker task",
    ["task"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
