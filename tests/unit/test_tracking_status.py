"""The canonical tracking vocabulary: its order, terminal states, and the fold of events."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from random import Random

from hypothesis import given
from hypothesis import strategies as st

from omniroute.connectors.tracking import (
    RANK,
    TERMINAL,
    TrackingEvent,
    TrackingStatus,
    advances,
    event_key,
    event_keys,
    normalise_carrier,
    normalise_tracking_number,
    with_summary,
)
from omniroute.core.tracking.status import orders_delivered

T = TrackingStatus
Event = tuple[TrackingStatus, datetime]
BASE = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def fold(events: list[tuple[TrackingStatus, datetime]]) -> tuple[TrackingStatus, datetime | None]:
    status, at = T.UNKNOWN, None
    for incoming, when in events:
        if advances(status, at, incoming, when):
            status, at = incoming, when
    return status, at


def test_the_ranks_are_the_documented_order() -> None:
    order = [T.UNKNOWN, T.LABEL_CREATED, T.IN_TRANSIT, T.OUT_FOR_DELIVERY, T.EXCEPTION]
    assert [RANK[s] for s in order] == sorted({RANK[s] for s in order})
    assert RANK[T.OUT_FOR_DELIVERY] == RANK[T.AVAILABLE_FOR_PICKUP] == RANK[T.FAILED_ATTEMPT]
    assert RANK[T.EXCEPTION] < RANK[T.RETURNED_TO_SENDER] < RANK[T.DELIVERED]
    assert set(RANK) == set(TrackingStatus)
    assert {T.DELIVERED, T.RETURNED_TO_SENDER} == TERMINAL


def test_a_late_older_event_does_not_move_the_shipment_back() -> None:
    status, at = fold([(T.OUT_FOR_DELIVERY, BASE), (T.IN_TRANSIT, BASE - timedelta(hours=5))])
    assert (status, at) == (T.OUT_FOR_DELIVERY, BASE)


def test_within_a_rank_the_later_event_wins_whatever_order_they_come_in() -> None:
    attempt, again = (T.FAILED_ATTEMPT, BASE), (T.OUT_FOR_DELIVERY, BASE + timedelta(days=1))
    assert fold([attempt, again]) == fold([again, attempt]) == again


def test_delivered_sticks_and_a_scan_after_it_changes_nothing() -> None:
    delivered = (T.DELIVERED, BASE)
    assert fold([delivered, (T.EXCEPTION, BASE + timedelta(hours=1))]) == delivered
    assert fold([delivered, (T.DELIVERED, BASE + timedelta(days=2))]) == delivered
    assert not advances(T.RETURNED_TO_SENDER, BASE, T.DELIVERED, BASE + timedelta(days=1))


def test_exception_is_not_hidden_by_a_routine_scan_after_it() -> None:
    status, _ = fold([(T.EXCEPTION, BASE), (T.IN_TRANSIT, BASE + timedelta(hours=3))])
    assert status == T.EXCEPTION


statuses = st.sampled_from(list(TrackingStatus))
times = st.integers(min_value=0, max_value=50).map(lambda h: BASE + timedelta(hours=h))
events = st.lists(st.tuples(statuses, times), max_size=12)


@given(events)
def test_the_rank_never_goes_down_and_terminal_states_stick(seq: list[Event]) -> None:
    status, at = T.UNKNOWN, None
    for incoming, when in seq:
        before = status
        if advances(status, at, incoming, when):
            status, at = incoming, when
        assert RANK[status] >= RANK[before]
        if before in TERMINAL:
            assert status == before


@given(events, st.randoms(use_true_random=False))
def test_without_terminal_events_the_order_of_arrival_does_not_matter(
    seq: list[Event], rnd: Random
) -> None:
    seq = [(s, t) for s, t in seq if s not in TERMINAL]
    shuffled = list(seq)
    rnd.shuffle(shuffled)
    assert fold(seq) == fold(shuffled)


@given(events)
def test_a_duplicate_of_any_event_changes_nothing(seq: list[Event]) -> None:
    assert fold(seq + seq) == fold(seq)


def test_tracking_numbers_and_carriers_are_matched_loosely() -> None:
    assert normalise_tracking_number(" 1z 999aa1\t0123456784 ") == "1Z999AA10123456784"
    assert normalise_carrier("FedEx") == normalise_carrier("fed-ex") == "fedex"
    assert normalise_carrier(None) == ""


def test_the_event_key_is_the_same_for_the_same_scan_in_another_offset() -> None:
    utc = TrackingEvent(T.IN_TRANSIT, "InTransit/InTransit_001", BASE, "In transit", "X")
    tokyo = TrackingEvent(
        T.IN_TRANSIT,
        "InTransit/InTransit_001",
        BASE.astimezone(timezone(timedelta(hours=9))),
        "In transit",
        "X",
    )
    assert event_key("FedEx", "1z 1", utc) == event_key("fedex", "1Z1", tokyo)
    later = TrackingEvent(T.IN_TRANSIT, "InTransit/InTransit_001", BASE + timedelta(seconds=1))
    assert event_key("fedex", "1Z1", utc) != event_key("fedex", "1Z1", later)


def test_the_summary_is_added_only_when_it_says_more_than_the_checkpoints() -> None:
    scan = TrackingEvent(T.IN_TRANSIT, "in_transit", BASE)
    delivered = TrackingEvent(T.DELIVERED, "delivered", BASE + timedelta(hours=1))
    assert with_summary([scan], delivered) == (scan, delivered)
    same = TrackingEvent(T.IN_TRANSIT, "in_transit", BASE + timedelta(hours=2))
    assert with_summary([scan], same) == (scan,)
    assert with_summary([], None) == ()


def test_orders_delivered_moves_each_shipped_order_once_when_every_shipment_is() -> None:
    statuses = {1: "shipped", 2: "shipped", 3: "partially_shipped", 4: "shipped", 5: "delivered"}
    shipments = {
        1: ["delivered"],
        2: ["delivered", "in_transit"],  # one still on its way
        3: ["delivered"],  # not shipped in full
        4: ["delivered"],
        5: ["delivered"],
    }
    # Shipment 10 and 11 both hold order 1 (a consolidation, or two parcels of it): the
    # first names the move; order 6 has no shipment read at all.
    delivered = [(10, [1, 2]), (11, [1, 3, 4]), (12, [5]), (13, [6])]
    statuses[6] = "shipped"
    assert orders_delivered(delivered, statuses, shipments) == [[1], [4], [], []]


def test_a_shipment_set_with_one_not_delivered_moves_nothing() -> None:
    assert orders_delivered([(1, [7])], {7: "shipped"}, {7: ["delivered", "exception"]}) == [[]]
    assert orders_delivered([(1, [7])], {7: "shipped"}, {7: ["returned_to_sender"]}) == [[]]


def test_event_keys_are_the_stored_keys_of_each_checkpoint() -> None:
    """Keys already stored must still match: the key is the digest of the normalised
    carrier, number, UTC time, raw status, message and location, joined by US (0x1f)."""
    events = [
        TrackingEvent(T.IN_TRANSIT, "in_transit/x", BASE, "Arrived", "Memphis, TN"),
        TrackingEvent(
            T.DELIVERED,
            "delivered",
            datetime(2026, 11, 28, 9, 0, tzinfo=timezone(timedelta(hours=2))),
        ),
    ]
    expected = [
        "trk:"
        + hashlib.sha256(
            "\x1f".join(
                [
                    "fedex",
                    "EZ1000",
                    e.occurred_at.astimezone(UTC).isoformat(),
                    e.raw_status,
                    e.message or "",
                    e.location or "",
                ]
            ).encode()
        ).hexdigest()
        for e in events
    ]
    assert event_keys("Fed Ex", "ez 1000", events) == expected
    assert [event_key("FEDEX", "EZ1000", e) for e in events] == expected
