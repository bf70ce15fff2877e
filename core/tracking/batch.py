"""Recording many carriers' tracking updates in one transaction (issue 15).

The same rules as ``events.record_update``, applied to a batch: every shipment the updates
name is read and locked in one SELECT (ordered by id, so two workers lock in the same order
and cannot deadlock), every checkpoint is inserted in one executemany (a key already stored,
or twice in the batch, is skipped), each shipment's updates are folded in the batch's order
(so a status change is told to its channels exactly as when the rows came one by one), and
each shipment that moved is written back once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Row, bindparam
from sqlalchemy.orm import Session

from omniroute.connectors.tracking import (
    TrackingStatus,
    TrackingUpdate,
    event_keys,
    normalise_carrier,
    normalise_tracking_number,
)
from omniroute.core.order_state.holdings import member_orders_of
from omniroute.core.platform.clock import as_naive_utc
from omniroute.core.platform.ports import HasConnectors
from omniroute.core.platform.telemetry.logs import log_context
from omniroute.core.tracking import events
from omniroute.core.tracking.status import (
    Checkpoint,
    Standing,
    advance,
    deliver_orders_of_many,
)


@dataclass(frozen=True)
class Incoming:
    """One inbox row's tracking update."""

    update: TrackingUpdate
    connector_id: int
    inbound_message_id: int | None
    # The row's, written on the outbox rows its status changes make (as one at a time).
    correlation_id: str | None = None


@dataclass
class _Target:
    """A matched shipment as locked, and where it stands as the batch is folded."""

    row: Row[Any]
    standing: Standing
    delivered: bool = False
    tracking_url: str | None = None


def record_updates(
    deps: HasConnectors, session: Session, batch: Sequence[Incoming]
) -> list[events.Recorded]:
    """Keep and apply the updates of ``batch`` in the caller's transaction; what recording
    each did, in the batch's order (as ``events.record_update`` returns for one)."""
    keys = [_key(item.update) for item in batch]
    numbers = sorted({number for _, number in keys})
    locked = session.execute(_CANDIDATES, {"numbers": numbers}).all() if numbers else []
    by_number: dict[str, list[Row[Any]]] = {}
    for row in locked:
        by_number.setdefault(row.tracking_key, []).append(row)
    matches = [_match(by_number.get(number, []), carrier, number) for carrier, number in keys]
    rows_of = [
        _event_rows(item, key, match) for item, key, match in zip(batch, keys, matches, strict=True)
    ]
    rows = [row for item_rows in rows_of for row in item_rows]
    if rows:
        session.execute(events._INSERT[session.get_bind().dialect.name], rows)

    targets: dict[int, _Target] = {}
    results: list[events.Recorded] = []
    changes: list[tuple[int, _Target, Standing]] = []
    for index, (item, match) in enumerate(zip(batch, matches, strict=True)):
        results.append(
            _fold(item, match, rows_of[index], targets=targets, changes=changes, index=index)
        )
    _write_standings(session, targets.values())
    _tell_and_deliver(deps, session, changes, results, batch)
    return results


def _fold(
    item: Incoming,
    match: tuple[Row[Any] | None, str | None],
    rows: list[dict[str, Any]],
    *,
    targets: dict[int, _Target],
    changes: list[tuple[int, _Target, Standing]],
    index: int,
) -> events.Recorded:
    """Fold one update into its shipment's standing so far in the batch (pure); a status
    change is added to ``changes``, told once every shipment is written."""
    target_row, reason = match
    if target_row is None:
        return events.Recorded(None, None, False, reason=reason)
    target = targets.get(target_row.id)
    if target is None:
        target = targets[target_row.id] = _Target(target_row, _standing_of(target_row))
    before = target.standing
    after = target.standing = advance(before, _checkpoints(rows))
    url = item.update.tracking_url
    if url and not target_row.tracking_url and target.tracking_url is None:
        target.tracking_url = url
    if (after.status, after.status_at) == (before.status, before.status_at):
        return events.Recorded(target_row.id, after.status.value, False)
    target.delivered = target.delivered or after.status == TrackingStatus.DELIVERED
    changes.append((index, target, after))
    return events.Recorded(target_row.id, after.status.value, True)


def _tell_and_deliver(
    deps: HasConnectors,
    session: Session,
    changes: list[tuple[int, _Target, Standing]],
    results: list[events.Recorded],
    batch: Sequence[Incoming],
) -> None:
    """Tell the channels each status change, in the batch's order; then deliver the orders
    the delivered shipments complete (every shipment is written: that reads them all)."""
    delivered: list[tuple[int, int, list[int]]] = []  # (result index, shipment, orders)
    for index, target, after in changes:
        item = batch[index]
        with log_context(correlation_id=item.correlation_id, inbound_id=item.inbound_message_id):
            order_ids = _told(deps, session, target.row, after)
        if after.status == TrackingStatus.DELIVERED:
            delivered.append((index, target.row.id, order_ids))
    if delivered:
        moved = deliver_orders_of_many(session, [(s, o) for _, s, o in delivered])
        for (index, _, _), ids in zip(delivered, moved, strict=True):
            results[index] = replace(results[index], delivered_orders=tuple(ids))


def _key(update: TrackingUpdate) -> tuple[str, str]:
    """The update's carrier and tracking number as stored."""
    number = normalise_tracking_number(update.tracking_number)[: events.NUMBER_CHARS]
    return update.carrier.strip()[: events.CARRIER_CHARS], number


def _match(
    candidates: list[Row[Any]], carrier: str, number: str
) -> tuple[Row[Any] | None, str | None]:
    """As ``events._match``, among the shipments of the batch's read with this number."""
    if not candidates:
        return None, f"no shipment has tracking number {number}"
    if len(candidates) > 1:
        wanted = normalise_carrier(carrier)
        candidates = [
            c for c in candidates if events._same_carrier(wanted, normalise_carrier(c.carrier))
        ]
        if len(candidates) != 1:
            return None, (
                f"several shipments have tracking number {number} and "
                f"{len(candidates) or 'none'} of them are with carrier {carrier}"
            )[:300]
    return candidates[0], None


def _event_rows(
    item: Incoming, key: tuple[str, str], match: tuple[Row[Any] | None, str | None]
) -> list[dict[str, Any]]:
    (carrier, number), (target, reason) = key, match
    checkpoints = item.update.events
    return [
        {
            "event_key": event_key,
            "shipment_id": None if target is None else target.id,
            "connector_id": item.connector_id,
            "inbound_message_id": item.inbound_message_id,
            "carrier": carrier,
            "tracking_number": number,
            "status": event.status.value,
            "raw_status": event.raw_status[: events.RAW_CHARS],
            "occurred_at": as_naive_utc(event.occurred_at),
            "message": event.message,
            "location": event.location,
            "unmatched_reason": reason,
        }
        for event, event_key in zip(
            checkpoints, event_keys(carrier, number, checkpoints), strict=True
        )
    ]


def _checkpoints(rows: list[dict[str, Any]]) -> list[Checkpoint]:
    return [(TrackingStatus(r["status"]), r["occurred_at"]) for r in rows]


def _standing_of(row: Row[Any]) -> Standing:
    return Standing(TrackingStatus(row.status), row.status_at, row.last_event_at)


def _write_standings(session: Session, targets: Iterable[_Target]) -> None:
    """One UPDATE (executemany) of the shipments whose standing or tracking page moved."""
    params = []
    for target in sorted(targets, key=lambda t: t.row.id):
        after, before = target.standing, _standing_of(target.row)
        if after == before and not target.tracking_url:
            continue
        params.append(
            {
                "shipment_id": target.row.id,
                "new_status": after.status.value,
                "new_status_at": after.status_at,
                "new_last_event_at": after.last_event_at,
                "new_delivered_at": after.status_at if target.delivered else None,
                "new_tracking_url": target.tracking_url,
            }
        )
    if params:
        session.execute(events._SET_STANDING, params)
        for p in params:
            events._expire_loaded(session, p["shipment_id"])


def _told(deps: HasConnectors, session: Session, target: Row[Any], after: Standing) -> list[int]:
    """Tell the channels of a shipment whose status changed; the orders with lines on it."""
    assert after.status_at is not None  # noqa: S101 - a status that changed has its time
    if target.consolidation_id is None:
        connector = None if target.c_id is None else events._connector_of(target, "c_")
        channels = [events._Channel(target.order_id, connector)]
    else:
        members = member_orders_of(session, target.fulfilment_order_id)
        channels = events._channels_of(session, members or [target.order_id])
    change = events._Change(
        target.id, target.fulfilment_order_id, after.status.value, after.status_at
    )
    events._tell_channels(deps, session, change, channels)
    return [channel.order_id for channel in channels]


# The shipments with any of the batch's tracking numbers, locked in id order (as
# ``events._CANDIDATES`` reads one number's).
_CANDIDATES = (
    events._CANDIDATE_COLUMNS.add_columns(events._SHIPMENTS.c.tracking_key)
    .where(events._SHIPMENTS.c.tracking_key.in_(bindparam("numbers", expanding=True)))
    .order_by(events._SHIPMENTS.c.id)
    .with_for_update(of=events._SHIPMENTS)
)
