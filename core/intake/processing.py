"""Inbox processing: parse, map, upsert, validate and route one inbound message's order."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import bindparam, insert, literal, select, union_all
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from omniroute.connectors.base import (
    Capability,
    PayloadError,
    RiskAssessor,
    RiskVerdict,
    enabled_capabilities,
    listing_refs_of,
)
from omniroute.connectors.edi import INTERCHANGE_TOPIC
from omniroute.core.channels.release_policy import hold_for, policy_of, shipping_lines
from omniroute.core.edi import interchanges as edi_interchanges
from omniroute.core.edi.order_answers import answer_routed
from omniroute.core.exceptions.opening import (
    Reason,
    open_exception,
    resolve_open_for_order,
    resolve_retried_for_order,
)
from omniroute.core.fulfilment import release
from omniroute.core.fulfilment.file_confirmations import apply_file, is_confirmation_file
from omniroute.core.fulfilment.release import Job, deliver_outbox, prepare_release
from omniroute.core.intake import external_fulfilment, late_versions, tracking_messages
from omniroute.core.intake.channel_messages import FetchNeeded, RiskNeeded, channel_order_of
from omniroute.core.intake.checks import Problem, check_order
from omniroute.core.intake.external_fulfilment import record_external_fulfilment
from omniroute.core.intake.tracking_messages import take_tracking_batch, tracking_of
from omniroute.core.order_routing import consolidation
from omniroute.core.order_routing.consolidation import hold_if_consolidating, leave_group
from omniroute.core.order_routing.inputs import active_rules, sku_profiles
from omniroute.core.order_routing.route import RoutingContention, route_locked
from omniroute.core.order_state import timeline as order_state
from omniroute.core.order_state.holdings import of_order
from omniroute.core.order_state.machine import OrderStatus
from omniroute.core.orders.fixes.apply import fixed_parts, keep_fixes
from omniroute.core.platform.claims import claim_inbound
from omniroute.core.platform.clock import now_of
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.dispatch import Task
from omniroute.core.platform.errors import Conflict
from omniroute.core.platform.models import (
    ChannelListing,
    Connector,
    FulfilmentOrder,
    InboundMessage,
    OrderLine,
    SalesOrder,
    Sku,
    SkuAlias,
)
from omniroute.core.platform.sql import insert_ignoring_conflict_stmt, table_of
from omniroute.core.platform.telemetry.logs import bind, log_context
from omniroute.core.returns import channel_returns
from omniroute.core.tracking import events as tracking_events
from omniroute.mapping import MappingError, resolve_skus, sku_keys

log = logging.getLogger("omniroute.processing")

# What fetching a hinted order gave: the order, or the error to record; None before a fetch.
Fetched = Mapping[str, Any] | PayloadError | None


@dataclass
class Outside:
    """What was read from the channel outside the transaction, for the row's next pass."""

    order: Fetched = None
    risk: RiskVerdict | PayloadError = None
    risk_read: bool = False
    # A file-based warehouse's confirmation file, applied once the claim is committed.
    confirmation_file: bool = False

    def read(self, need: FetchNeeded | RiskNeeded) -> None:
        """Ask the channel for what ``need`` names (once each)."""
        if isinstance(need, FetchNeeded):
            if self.order is not None:
                raise RuntimeError("the order was fetched but is asked for again") from None
            self.order = need.fetch()
            return
        if self.risk_read:
            raise RuntimeError("the risk was read but is asked for again") from None
        self.risk, self.risk_read = need.fetch(), True


# Statuses in which a newer version of the order from the channel may still change it.
EDITABLE = {
    OrderStatus.RECEIVED,
    OrderStatus.VALIDATED,
    OrderStatus.EXCEPTION,
    OrderStatus.ON_HOLD,
    OrderStatus.BACKORDERED,
}


class Deps(release.Deps, consolidation.Deps, external_fulfilment.Deps, Protocol):
    """What processing an inbox row uses: translating, routing and releasing its order."""


def process_inbound(deps: Deps, inbound_id: int, *, now: datetime | None = None) -> int | None:
    """Process one inbox row and route the order it makes ready, in one transaction; then
    hand that order's fulfilment orders to their warehouses. The id of the order, if any.

    The WMS releases are written claimed by this call and read in the routing transaction,
    and sent right after it commits, by this call, whichever deployment runs it: no claim
    and no read transaction of their own, no queue round trip. If the process dies in
    between, their claims go stale and the sweeper has them sent (``outbox.messages``).

    The row's correlation id, connector and order are bound to the log context for the
    call, and so written on the outbox rows it makes (``outbox.messages``).
    """
    if tracking_messages.settled_by_batch(deps.sessions).take(inbound_id):
        return None  # a batch of tracking rows of this process took it (committed)
    with log_context():
        return _process_inbound(deps, inbound_id, now=now)


def _process_inbound(deps: Deps, inbound_id: int, *, now: datetime | None) -> int | None:
    now = now or deps.clock.now()
    claimed_at = deps.clock.now()  # the releases' claims: the real time, whatever ``now`` is
    outbox_ids: list[int] = []
    prepared: list[Job | None] = []
    nudges: list[int] = []  # cancels asked of warehouses, tracking told to channels
    inbound_nudges: list[int] = []  # an EDI interchange's transaction sets
    settled: list[int] = []  # rows a batch of tracking rows took with this one
    outside = Outside()
    try:
        while True:
            try:
                with unit_of_work(deps.sessions) as session:
                    claimed = _claim(deps, session, inbound_id, now)
                    if claimed is None:
                        tracking_messages.settled_by_batch(deps.sessions).forget(inbound_id)
                        return None
                    msg, connector = claimed
                    bind(
                        correlation_id=msg.correlation_id,
                        connector_id=msg.connector_id,
                        inbound_id=msg.id,
                    )
                    ready = _process_claimed(deps, session, msg, now, outside)
                    if msg.order_id is not None:
                        bind(order_id=msg.order_id)
                    if ready is not None:
                        outbox_ids = _route_ready(
                            deps,
                            session,
                            connector,
                            *ready,
                            now=now,
                            claimed_at=claimed_at,
                        )
                    # Read here, so sending them needs no read transaction of its own.
                    prepared = [prepare_release(deps, session, i) for i in outbox_ids]
                    nudges = late_versions.take_nudges(session)
                    nudges += tracking_events.take_nudges(session)
                    nudges += channel_returns.take_nudges(session)
                    inbound_nudges, edi_outbox = edi_interchanges.take_nudges(session)
                    inbound_nudges += tracking_messages.take_handed_back(session)
                    settled = tracking_messages.take_settled(session)
                    nudges += edi_outbox
                break
            except (FetchNeeded, RiskNeeded) as need:
                # Rolled back: nothing is held while the channel answers. Then from the start.
                outside.read(need)
    except Exception as exc:
        _retry_later(deps, inbound_id, exc)
        if _waits_for_hand_off(exc):
            return None  # tried again once the warehouse has answered
        raise
    tracking_messages.settled_by_batch(deps.sessions).add(settled)  # committed
    if outside.confirmation_file:
        try:
            apply_file(deps, inbound_id, claimed=True)
        except Exception as exc:
            _retry_later(deps, inbound_id, exc)
            raise
        return None
    _send_releases(deps, outbox_ids, prepared)
    _nudge(deps, nudges, inbound_nudges)
    return None if ready is None else ready[0].id


def _claim(
    deps: Deps, session: Session, inbound_id: int, now: datetime
) -> tuple[InboundMessage, Connector] | None:
    if not _claimable(session, inbound_id):
        return None
    return claim_inbound(
        session,
        inbound_id,
        now=now,
        claim_timeout=deps.settings.claim_timeout,
        streamed_topics=_STREAMED,
    )


#: Inbox topics whose body the claim leaves in the database (read in slices).
_STREAMED = frozenset({INTERCHANGE_TOPIC})


def _claimable(session: Session, inbound_id: int) -> bool:
    """Whether the row may still be claimed: a read before the claim, for the many tasks
    that find their row already taken (a batch of tracking rows takes up to a hundred rows
    that each have a task queued). A settled row becomes pending again only through a
    replay, which queues a task of its own; the claim itself decides for the rest. Read in
    the claim's transaction: no connection of its own to check out and reset."""
    status = session.execute(_STATUS, {"row_id": inbound_id}).scalar()
    return status in ("pending", "processing")


_STATUS = select(table_of(InboundMessage).c.status).where(
    table_of(InboundMessage).c.id == bindparam("row_id")
)


def _waits_for_hand_off(exc: Exception) -> bool:
    """A cancel of units a warehouse is being handed (or may have been): not a failure."""
    return isinstance(exc, Conflict) and exc.code == "release_in_flight"


def _nudge(deps: Deps, outbox_ids: list[int], inbound_ids: list[int]) -> None:
    for outbox_id in outbox_ids:
        deps.dispatcher.enqueue(Task.DELIVER_OUTBOX, outbox_id)
    for inbound_id in inbound_ids:
        deps.dispatcher.enqueue(Task.PROCESS_INBOUND, inbound_id)


def _send_releases(deps: Deps, outbox_ids: list[int], prepared: list[Job | None]) -> None:
    """Send the committed releases this call claimed (``prepared``: read already, or None
    when the delivery reads it itself, e.g. to dead-letter it). The order is committed: a
    release that fails here is the outbox's business (retry, dead letter, or the sweeper
    once its claim is stale), never the inbox row's."""
    for outbox_id, job in zip(outbox_ids, prepared, strict=True):
        try:
            deliver_outbox(deps, outbox_id, claimed=True, prepared=job)
        except Exception:
            log.exception(
                "release %s failed; the sweeper sends it when its claim is stale", outbox_id
            )


def _route_ready(
    deps: Deps,
    session: Session,
    connector: Connector,
    order: SalesOrder,
    skus: dict[str, Sku],
    *,
    now: datetime,
    claimed_at: datetime,
) -> list[int]:
    """Route a just-validated order; a lost race on every re-plan leaves it for the sweeper.

    Its WMS releases are written claimed at ``claimed_at``, for this call to send.
    """
    if any(line.id is None for line in order.lines):
        session.flush()  # the router names lines by id
    # Nothing below reads the order's own pending changes back from the database (its lines
    # are in; stock, decisions and fulfilment rows are written with Core statements), so its
    # moves to validated and on are flushed once, at commit: one UPDATE, one batch of events.
    with session.no_autoflush:
        rules = active_rules(session, deps.routing, now, deps.settings.no_stock_policy)
        if hold_if_consolidating(deps, session, order, connector, skus, now=now, rules=rules):
            return []  # routed with its group when the window ends (order_routing.consolidation)
        try:
            released = route_locked(
                deps,
                session,
                order,
                now,
                connector=connector,
                skus=skus,
                rules=rules,
                claimed_at=claimed_at,
            )
        except RoutingContention as exc:
            log.warning("%s; the sweeper will try again", exc)
            return []
        # An EDI partner is told how its order was taken (855 / ORDRSP).
        answer_routed(session, connector.id, deps.connectors.for_row(connector), order)
        return released


def _process_claimed(
    deps: Deps, session: Session, msg: InboundMessage, now: datetime, outside: Outside
) -> tuple[SalesOrder, dict[str, Sku]] | None:
    connector = session.get_one(Connector, msg.connector_id)
    try:
        if _not_an_order(deps, session, connector, msg, now):
            outside.confirmation_file = is_confirmation_file(msg)
            return None
        canonical = _translate(deps, session, connector, msg, outside.order)
        if canonical is not None:
            _add_channel_risk(deps, session, connector, canonical, outside)
    except (PayloadError, MappingError) as exc:
        _fail(session, msg, exc, now)
        return None
    if canonical is None:
        _ignore(msg, now)
        return None
    order, changed, created = _upsert_order(session, connector, canonical)
    msg.order_id = order.id
    msg.status = "done"
    msg.processed_at = now
    msg.last_error = None
    if not changed:
        return None
    if _settled_without_routing(
        deps, session, connector, order, msg=msg, canonical=canonical, created=created
    ):
        return None
    ready = _validate(session, order, msg, canonical, created=created)
    if ready is not None and not created:
        # A replay (an exception retried, a new version) got past the checks.
        resolve_retried_for_order(session, order.id)
    return ready


def _not_an_order(
    deps: Deps, session: Session, connector: Connector, msg: InboundMessage, now: datetime
) -> bool:
    """Take a row that holds no order (an EDI interchange, fanned out into one row per
    transaction set; a channel's return; a carrier's checkpoints); whether it was one."""
    if is_confirmation_file(msg):
        return True  # applied by ``_process_inbound`` after the claim's commit
    source = deps.connectors.for_row(connector)
    if edi_interchanges.is_interchange(msg):
        edi_interchanges.take_interchange(session, msg, source, now)
        return True
    returned = channel_returns.return_event_of(source, msg)
    if returned is not None:
        msg.order_id = channel_returns.take_channel_return(deps, session, connector, returned)
        msg.status = "done" if msg.order_id is not None else "ignored"
        msg.processed_at = now
        msg.last_error = None
        return True
    tracking = tracking_of(source, msg)
    if tracking is not None:
        take_tracking_batch(
            deps,
            session,
            msg,
            tracking,
            source=source,
            batch_size=deps.settings.tracking_batch_size,
            now=now,
            fail=_fail,
        )
        return True
    return False


def _add_channel_risk(
    deps: Deps,
    session: Session,
    connector: Connector,
    canonical: dict[str, Any],
    outside: Outside,
) -> None:
    """Put the channel's fraud risk verdict into an order it may still be routed, where the
    connector reads it apart from the order (``RiskNeeded`` the first time: read outside the
    transaction, then this row again)."""
    if canonical.get("risk_level") is not None or canonical.get("cancelled"):
        return
    source = deps.connectors.for_row(connector)
    if Capability.RISK_ASSESSMENT not in enabled_capabilities(source) or not isinstance(
        source, RiskAssessor
    ):
        return
    if not outside.risk_read:
        status = session.scalar(
            select(SalesOrder.status).where(
                SalesOrder.connector_id == connector.id,
                SalesOrder.external_id == canonical["external_id"],
            )
        )
        if status is None or OrderStatus(status) in EDITABLE:
            raise RiskNeeded(source, canonical["external_id"])
        return
    if isinstance(outside.risk, PayloadError):
        raise outside.risk
    canonical["risk_level"] = outside.risk


def _settled_without_routing(
    deps: Deps,
    session: Session,
    connector: Connector,
    order: SalesOrder,
    *,
    msg: InboundMessage,
    canonical: dict[str, Any],
    created: bool,
) -> bool:
    """Record an order that must not be routed (now, or ever); whether it was one."""
    if canonical.get("fulfilled_externally"):
        record_external_fulfilment(deps, session, connector, order, canonical)
    elif created and canonical.get("cancelled"):
        order_state.transition(
            session, order, OrderStatus.CANCELLED, "cancelled by the channel before it came in"
        )
    elif _held(session, connector, order, msg, canonical):
        pass
    elif not shipping_lines(canonical["lines"]):
        order_state.transition(
            session,
            order,
            OrderStatus.SHIPPED,
            "needs no shipping (digital goods or gift cards only); recorded, not routed",
        )
    else:
        return False
    return True


def _held(
    session: Session,
    connector: Connector,
    order: SalesOrder,
    msg: InboundMessage,
    canonical: dict[str, Any],
) -> bool:
    """Hold the order when the connector's release policy says it must not ship yet."""
    hold = hold_for(canonical, policy_of(connector.release_policy), order.holds_waived or ())
    if hold is None:
        return False
    with session.no_autoflush:
        resolve_open_for_order(session, order.id)
    order_state.transition(session, order, OrderStatus.ON_HOLD, f"held: {hold.reason}")
    order.hold_code, order.hold_reason = hold.code.value, hold.reason
    if hold.needs_review:
        open_exception(
            session,
            Reason.HELD_FOR_REVIEW,
            detail={
                "hold": hold.code.value,
                "message": f"{hold.reason}; release it (POST /api/v1/orders/{order.id}/"
                "release-hold) or cancel it",
                "connector_id": connector.id,
            },
            order_id=order.id,
            inbound_message_id=msg.id,
        )
    return True


def _retry_later(deps: Deps, inbound_id: int, exc: Exception) -> None:
    """An unexpected error: try again later, and after too many tries park it for a person.

    The claim was rolled back with the work, so the attempt is counted here, unless another
    worker has finished the row meanwhile.
    """
    with unit_of_work(deps.sessions) as session:
        msg = session.get(InboundMessage, inbound_id, with_for_update=True)
        if msg is None or msg.status not in ("pending", "processing"):
            return
        msg.attempts += 1
        msg.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        msg.claimed_at = msg.nudged_at = None
        if msg.attempts >= deps.settings.inbox_max_attempts:
            msg.status = "failed"
            open_exception(
                session,
                Reason.PROCESSING_ERROR,
                inbound_message_id=msg.id,
                detail={"message": msg.last_error, "attempts": msg.attempts},
            )
        else:
            msg.status = "pending"
            msg.next_attempt_at = deps.clock.now() + timedelta(seconds=2**msg.attempts)


def _translate(
    deps: Deps,
    session: Session,
    connector: Connector,
    msg: InboundMessage,
    fetched: Fetched = None,
) -> dict[str, Any] | None:
    """The canonical order a message carries, SKUs resolved; None when there is none."""
    source = deps.connectors.for_row(connector)
    channel_order = channel_order_of(source, msg.topic, msg.headers, msg.body, fetched=fetched)
    if channel_order is None:
        return None
    canonical: dict[str, Any] = source.map_order(channel_order)
    lines = canonical["lines"]
    # The channel_ref a listing of each line's variant has, where the connector can say.
    variant_of_ref = {
        ref: f"variant:{line['variant_id']}"
        for line in lines
        if line.get("variant_id")
        for ref in listing_refs_of(source, line)
    }
    rows = session.execute(
        _IDENTITIES,
        {
            "connector_id": connector.id,
            "keys": sorted({key for line in lines for key in sku_keys(line)}),
            "refs": sorted(variant_of_ref),
            "codes": sorted({line["channel_sku"] for line in lines if line.get("channel_sku")}),
        },
    )
    aliases: dict[str, str] = {}
    listed: dict[str, str] = {}
    known: set[str] = set()
    for source_of, key, sku in rows:
        if source_of == "alias":
            aliases[key] = sku
        elif source_of == "listing":
            listed[variant_of_ref[key]] = sku
        else:
            known.add(sku)
    # A listing of the channel's variant maps a line as an alias of it would; an alias wins.
    return resolve_skus(canonical, listed | aliases, known)


# How a channel's line is matched to a SKU, read in one round trip: the aliases of its keys
# (mapping.sku_keys), the listings whose channel_ref is its variant id, and which of the
# channel SKUs are SKUs of the catalogue themselves.
_IDENTITIES = union_all(
    select(literal("alias"), SkuAlias.alias, SkuAlias.sku).where(
        SkuAlias.connector_id == bindparam("connector_id"),
        SkuAlias.alias.in_(bindparam("keys", expanding=True)),
    ),
    select(literal("listing"), ChannelListing.channel_ref, ChannelListing.sku).where(
        ChannelListing.connector_id == bindparam("connector_id"),
        ChannelListing.channel_ref.in_(bindparam("refs", expanding=True)),
    ),
    select(literal("sku"), Sku.code, Sku.code).where(
        Sku.code.in_(bindparam("codes", expanding=True))
    ),
)


def _ignore(msg: InboundMessage, now: datetime) -> None:
    """A delivery with no order in it (a test event, a topic omniroute does not use)."""
    msg.status = "ignored"
    msg.processed_at = now
    msg.last_error = None


def _fail(session: Session, msg: InboundMessage, exc: Exception, now: datetime) -> None:
    detail: dict[str, Any] = {"message": str(exc)}
    for attr in ("path", "source"):
        value = getattr(exc, attr, None)
        if value is not None:
            detail[attr] = value
    msg.status = "failed"
    msg.last_error = str(exc)[:2000]
    msg.processed_at = now
    open_exception(
        session,
        Reason.INVALID_PAYLOAD,
        detail=detail,
        inbound_message_id=msg.id,
        order_id=msg.order_id,
    )
    log.warning("inbound %s kept as invalid_payload: %s", msg.id, exc)


def _upsert_order(
    session: Session, connector: Connector, canonical: dict[str, Any]
) -> tuple[SalesOrder, bool, bool]:
    """Insert the order, or apply a newer version to it; (order, changed, newly created)."""
    external_id = canonical["external_id"]
    stmt = insert_ignoring_conflict_stmt(
        session.get_bind().dialect.name, SalesOrder, ("connector_id", "external_id")
    )
    values = {
        "connector_id": connector.id,
        "external_id": external_id,
        "channel": canonical["channel"],
        "status": OrderStatus.RECEIVED.value,
        **_version_values(canonical),
    }
    order = session.scalars(stmt, values).first()
    if order is not None:
        # Inserted by this statement: its lines are all new, written here in one statement.
        set_committed_value(order, "lines", _insert_lines(session, order.id, canonical))
        order_state.note(session, order, f"received from {connector.name}")
        return order, True, True
    order = _find(session, connector.id, external_id)
    assert order is not None  # noqa: S101 - not inserted, so found by the unique key
    return (*_apply_newer(session, order, canonical), False)


def _find(session: Session, connector_id: int, external_id: str) -> SalesOrder | None:
    return session.scalars(
        select(SalesOrder)
        .where(SalesOrder.connector_id == connector_id, SalesOrder.external_id == external_id)
        .with_for_update()
    ).first()


def _apply_newer(
    session: Session, order: SalesOrder, canonical: dict[str, Any]
) -> tuple[SalesOrder, bool]:
    incoming = canonical.get("updated_at")
    if _is_older(incoming, order.external_updated_at):
        order_state.note(session, order, f"ignored an older version ({incoming})")
        return order, False
    if order.status not in EDITABLE or _has_fulfilment(session, order.id):
        if incoming != order.external_updated_at:  # a cancel or an edit after routing
            late_versions.apply_late_version(session, order, canonical)
        return order, False
    # A person's fixes of what the channel sent, while it still sends what they fixed.
    fixed = keep_fixes(order.fixes, canonical)
    if (
        incoming == order.external_updated_at
        and order.status not in (OrderStatus.RECEIVED, OrderStatus.EXCEPTION)
        and canonical.get("risk_level") == (order.canonical or {}).get("risk_level")
        and not (fixed and fixed_parts(canonical) != fixed_parts(order.canonical))
    ):
        # The same version again: a redelivery, nothing to apply (unless the channel's risk
        # verdict, read apart from the order, changed: connectors.base.RiskAssessor).
        return order, False
    if order.status == OrderStatus.ON_HOLD and order.consolidation_id is not None:
        why = "cancelled by the channel" if canonical.get("cancelled") else "changed by the channel"
        leave_group(session, order, why, now=now_of(session))
    if canonical.get("cancelled"):
        order_state.transition(session, order, OrderStatus.CANCELLED, "cancelled by the channel")
        resolve_open_for_order(session, order.id)
        return order, False
    if order.status != OrderStatus.RECEIVED:
        order_state.transition(session, order, OrderStatus.RECEIVED, "re-processing")
    _apply_version(session, order, canonical)
    return order, True


def _has_fulfilment(session: Session, order_id: int) -> bool:
    return session.scalar(select(FulfilmentOrder.id).where(of_order(order_id)).limit(1)) is not None


def _version_values(canonical: dict[str, Any]) -> dict[str, Any]:
    """The order's columns that each version from the channel sets."""
    return {
        "external_number": canonical.get("external_number"),
        "external_updated_at": canonical.get("updated_at"),
        "currency": canonical["currency"],
        "total": canonical.get("total"),
        "ship_to": canonical.get("ship_to"),
        "customer_email": (canonical.get("customer") or {}).get("email"),
        "customer_name": _customer_name(canonical),
        "service_level": canonical.get("service_level") or "standard",
        "canonical": canonical,
        "note": canonical.get("note"),
        "gift_message": canonical.get("gift_message"),
        "attributes": canonical.get("attributes") or None,
    }


def _customer_name(canonical: dict[str, Any]) -> str | None:
    """The customer's name, else the ship-to name (searched by prefix), cut to the column."""
    name = (canonical.get("customer") or {}).get("name") or (canonical.get("ship_to") or {}).get(
        "name"
    )
    return (
        _clip(name.strip(), CUSTOMER_NAME_CHARS) if isinstance(name, str) and name.strip() else None
    )


def _apply_version(session: Session, order: SalesOrder, canonical: dict[str, Any]) -> None:
    for column, value in _version_values(canonical).items():
        setattr(order, column, value)
    if order.lines:
        order.lines.clear()
        session.flush()  # delete the old lines before their line numbers are reused
    _add_lines(order, canonical)


def _line_values(canonical: dict[str, Any]) -> list[dict[str, Any]]:
    """The order lines a warehouse ships, numbered by their place in the channel's order."""
    return [
        {
            "line_no": no,
            "external_line_id": line.get("external_line_id"),
            "channel_sku": line.get("channel_sku"),
            "sku": line.get("sku"),
            "title": _clip(line.get("title"), TITLE_CHARS),
            "quantity": line["quantity"],
            "unit_price": line.get("unit_price"),
            "properties": line.get("properties") or None,
            "gift_message": line.get("gift_message"),
        }
        for no, line in shipping_lines(canonical["lines"])
    ]


# A line's title column holds this much; the whole title stays in the canonical order.
TITLE_CHARS = 300
CUSTOMER_NAME_CHARS = 200


def _clip(text: str | None, limit: int) -> str | None:
    return text if text is None or len(text) <= limit else text[: limit - 1] + "…"


def _add_lines(order: SalesOrder, canonical: dict[str, Any]) -> None:
    for values in _line_values(canonical):
        order.lines.append(OrderLine(**values))


_INSERT_LINES = insert(table_of(OrderLine)).returning(
    table_of(OrderLine).c.id, sort_by_parameter_order=True
)


def _insert_lines(session: Session, order_id: int, canonical: dict[str, Any]) -> list[OrderLine]:
    """A new order's lines, inserted with one Core statement and kept in the session as
    loaded rows (ids known at once: the order needs no flush before it is routed)."""
    values = [{"order_id": order_id, **v} for v in _line_values(canonical)]
    if not values:
        return []
    ids = session.execute(_INSERT_LINES, values).scalars().all()
    lines = []
    for line_id, v in zip(ids, values, strict=True):
        line = OrderLine(id=line_id, **v)
        make_transient_to_detached(line)
        session.add(line)
        lines.append(line)
    return lines


def _validate(
    session: Session,
    order: SalesOrder,
    msg: InboundMessage,
    canonical: dict[str, Any],
    *,
    created: bool = False,
) -> tuple[SalesOrder, dict[str, Sku]] | None:
    """The order and its SKUs when it is valid and ready to route; else it is parked."""
    codes = {line["sku"] for line in canonical["lines"] if line.get("sku")}
    with session.no_autoflush:  # the order's own changes wait for the commit (one flush)
        skus = sku_profiles(session, codes)
    problems = check_order(canonical, set(skus))
    if not created:  # an order inserted by this transaction has no exceptions to resolve
        resolve_open_for_order(session, order.id)
    if problems:
        _park(session, order, msg, problems)
        return None
    order_state.transition(session, order, OrderStatus.VALIDATED)
    return order, skus


def _park(
    session: Session, order: SalesOrder, msg: InboundMessage, problems: list[Problem]
) -> None:
    by_reason: dict[str, list[dict[str, str]]] = {}
    for p in problems:
        by_reason.setdefault(p.reason, []).append(p.as_dict())
    for reason, items in by_reason.items():
        open_exception(
            session,
            reason,
            detail={"problems": items, "connector_id": order.connector_id},
            order_id=order.id,
            inbound_message_id=msg.id,
        )
    summary = "; ".join(p.message for p in problems)
    order_state.transition(session, order, OrderStatus.EXCEPTION, summary[:1000])


def _is_older(incoming: str | None, stored: str | None) -> bool:
    if not incoming or not stored:
        return False
    try:
        return datetime.fromisoformat(incoming) < datetime.fromisoformat(stored)
    except ValueError:
        return False


__all__ = ["Reason", "process_inbound"]
