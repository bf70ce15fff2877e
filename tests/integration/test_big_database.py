"""bench/big_database.py on a small run: the history it writes is consistent the way the
application keeps it (stock = ledger = open allocations, shipped lines have shipments)."""

from __future__ import annotations

import sys
import uuid
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from omniroute.core.bootstrap import bootstrap
from tests.conftest import PG_URL, make_settings
from tests.invariants.checks import violations

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.postgres
def test_a_small_history_is_consistent() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import big_database  # bench/ is not a package
    finally:
        sys.path.remove(str(BENCH))
    name = f"omniroute_big_{uuid.uuid4().hex[:8]}"
    admin = PG_URL.rsplit("/", 1)[0] + "/postgres"
    args = big_database.parse(
        ["--orders", "600", "--skus", "150", "--jobs", "2", "--until", "2025-06-30",
         "--db", name, "--pg-admin-url", admin]
    )  # fmt: skip
    try:
        url = big_database.build(args)
        ctx = bootstrap(make_settings(url))
        try:
            assert violations(ctx) == []
        finally:
            ctx.close()
        with psycopg.connect(url) as conn:
            _check_rows(conn)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _check_rows(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    def one(query: str) -> object:
        row = conn.execute(query).fetchone()  # type: ignore[arg-type]
        assert row is not None
        return row[0]

    assert one("SELECT count(*) FROM sales_order") == 600
    assert one(
        "SELECT min(created_at) >= '2024-06-30' AND max(created_at) < '2025-06-30' FROM sales_order"
    )
    # Every shipped unit is in a shipment of its fulfilment order.
    assert (
        one(
            "SELECT count(*) FROM fulfilment_line fl WHERE fl.shipped_quantity > 0 AND NOT EXISTS ("
            " SELECT 1 FROM shipment s, jsonb_array_elements(s.lines) item"
            " WHERE s.fulfilment_order_id = fl.fulfilment_order_id"
            " AND (item->>'fulfilment_line_id')::bigint = fl.id"
            " AND (item->>'quantity')::int = fl.shipped_quantity)"
        )
        == 0
    )
    # Shipped and delivered orders have all their lines shipped; delivered ones say when.
    assert (
        one(
            "SELECT count(*) FROM sales_order o JOIN order_line l ON l.order_id = o.id"
            " WHERE o.status IN ('shipped', 'delivered') AND l.quantity <> coalesce(("
            " SELECT sum(fl.shipped_quantity) FROM fulfilment_line fl"
            " WHERE fl.order_line_id = l.id), 0)"
        )
        == 0
    )
    assert (
        one(
            "SELECT count(*) FROM sales_order o WHERE o.status = 'delivered' AND NOT EXISTS ("
            " SELECT 1 FROM shipment s WHERE s.order_id = o.id AND s.delivered_at IS NOT NULL)"
        )
        == 0
    )
    # The timeline ends in the order's status; each order has its inbox row with its body.
    assert (
        one(
            "SELECT count(*) FROM sales_order o WHERE o.status <> ("
            "SELECT e.to_status FROM order_event e"
            " WHERE e.order_id = o.id ORDER BY e.id DESC LIMIT 1)"
        )
        == 0
    )
    assert (
        one(
            "SELECT count(*) FROM sales_order o WHERE NOT EXISTS (SELECT 1 FROM inbound_message m"
            " WHERE m.order_id = o.id AND length(m.body) > 1000)"
        )
        == 0
    )
    # Open exceptions are those of orders parked in 'exception' (and unreadable payloads).
    assert (
        one(
            "SELECT count(*) FROM sales_order o WHERE o.status = 'exception' AND NOT EXISTS ("
            " SELECT 1 FROM order_exception x WHERE x.order_id = o.id AND x.status = 'open')"
        )
        == 0
    )
    statuses = Counter(dict(conn.execute("SELECT status, count(*) FROM sales_order GROUP BY 1")))
    assert statuses["delivered"] > 300 and statuses["cancelled"] > 0
    repeat = one(
        "SELECT max(n) FROM (SELECT count(*) n FROM sales_order GROUP BY lower(customer_email)) c"
    )
    assert isinstance(repeat, int) and repeat >= 3  # customers who reorder
    # The id sequences go on after the rows written.
    assert one("SELECT nextval(pg_get_serial_sequence('sales_order', 'id'))") == 601
