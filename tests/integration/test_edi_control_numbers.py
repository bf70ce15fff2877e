"""Per-partner control numbers under parallel senders: unique, strictly increasing in the
order their transactions commit, never reused. Runs on SQLite and (marked postgres, with
OMNIROUTE_TEST_PG_URL) on PostgreSQL, where the row lock of UPDATE ... RETURNING orders them."""

from __future__ import annotations

import threading

from omniroute.core.bootstrap import Context
from omniroute.core.channels import connector_admin
from omniroute.core.edi import numbers
from omniroute.core.platform.db import unit_of_work

SENDERS = 6
EACH = 15


def _partner(ctx: Context, name: str) -> int:
    row = connector_admin.create_connector(
        ctx,
        kind="edi_x12",
        name=name,
        config={
            "our_qualifier": "ZZ",
            "our_id": "US",
            "their_qualifier": "ZZ",
            "their_id": name.upper(),
            "our_code": "US",
            "their_code": name.upper(),
        },
        secrets={},
        enabled=True,
        actor="test",
    )
    return row.id


def test_parallel_senders_get_unique_increasing_numbers(ctx: Context) -> None:
    first, second = _partner(ctx, "alpha"), _partner(ctx, "beta")
    taken: list[tuple[int, str, int]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    start = threading.Barrier(SENDERS)

    def send(connector_id: int) -> None:
        try:
            start.wait()
            for _ in range(EACH):
                with unit_of_work(ctx.sessions) as session:
                    got = numbers.take_all(session, connector_id, ("interchange", "group"))
                with lock:  # after the commit: the order in which numbers became final
                    taken.append((connector_id, "interchange", got["interchange"]))
                    taken.append((connector_id, "group", got["group"]))
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=send, args=(first if n % 2 else second,)) for n in range(SENDERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    per_partner = SENDERS // 2 * EACH
    for connector_id in (first, second):
        for scope in ("interchange", "group"):
            got = sorted(n for c, s, n in taken if c == connector_id and s == scope)
            assert got == list(range(1, per_partner + 1)), (connector_id, scope)


def test_a_rolled_back_number_is_issued_again_never_a_committed_one(ctx: Context) -> None:
    partner = _partner(ctx, "gamma")
    with unit_of_work(ctx.sessions) as session:
        assert numbers.take(session, partner, "interchange") == 1
    session = ctx.sessions()
    try:
        assert numbers.take(session, partner, "interchange") == 2
        session.rollback()  # nothing was sent with it
    finally:
        session.close()
    with unit_of_work(ctx.sessions) as session:
        assert numbers.take(session, partner, "interchange") == 2
        assert numbers.take(session, partner, "group") == 1
