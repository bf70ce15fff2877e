"""The demand forecast (core/replenishment/forecast.py), checked against sums written out."""

from __future__ import annotations

import random

import numpy as np
import pytest

from omniroute.core.replenishment.forecast import (
    HALF_LIFE_DAYS,
    MIN_WINDOW_DAYS,
    forecast,
    horizon_demand,
)

SUNDAY = 6
MONDAY = 0


def ew_rate(days: list[float], history: int) -> float:
    """The exponentially weighted mean over the newest ``history`` days, by hand."""
    num = den = 0.0
    for age in range(history):
        weight = 0.5 ** (age / HALF_LIFE_DAYS)
        num += weight * days[len(days) - 1 - age]
        den += weight
    return num / den


def test_no_history_and_all_zero_forecast_nothing() -> None:
    empty = forecast(np.zeros((2, 0)), last_weekday=SUNDAY)
    assert empty.rate.tolist() == [0.0, 0.0]
    zeros = forecast(np.zeros((3, 364)), last_weekday=SUNDAY)
    assert zeros.rate.tolist() == [0.0, 0.0, 0.0]
    assert (zeros.profile == 1.0).all()
    assert horizon_demand(zeros, first_weekday=MONDAY, days=[10, 0, 3]).tolist() == [0, 0, 0]


def test_constant_demand_is_its_own_rate() -> None:
    fc = forecast(np.full((1, 364), 4.0), last_weekday=SUNDAY)
    assert fc.rate[0] == pytest.approx(4.0)
    assert fc.profile[0] == pytest.approx(np.ones(7))
    assert horizon_demand(fc, first_weekday=MONDAY, days=[10])[0] == pytest.approx(40.0)


def test_a_new_sku_is_not_read_as_selling_every_day() -> None:
    days = [0.0] * 363 + [10.0]  # one sale of 10, yesterday
    fc = forecast(np.array([days]), last_weekday=SUNDAY)
    assert fc.history_days[0] == MIN_WINDOW_DAYS
    assert fc.rate[0] == pytest.approx(ew_rate(days, MIN_WINDOW_DAYS))
    assert 0.7 < fc.rate[0] < 1.0  # about 10 units in two weeks, weighted to the newest


def test_history_starts_at_the_first_sale() -> None:
    days = [0.0] * 300 + [3.0, 0.0] * 32
    fc = forecast(np.array([days]), last_weekday=SUNDAY)
    assert fc.history_days[0] == 64
    assert fc.rate[0] == pytest.approx(ew_rate(days, 64))


def test_weekday_profile_after_eight_weeks() -> None:
    # 10 units every Monday for 10 weeks, the last day (a Sunday) included.
    weeks = 10
    days = ([10.0] + [0.0] * 6) * weeks  # starts on a Monday, ends on a Sunday
    fc = forecast(np.array([days]), last_weekday=SUNDAY)
    assert fc.profile[0] == pytest.approx([7.0, 0, 0, 0, 0, 0, 0])
    rate = ew_rate(days, 7 * weeks)
    assert fc.rate[0] == pytest.approx(rate)
    # A week from any day holds one Monday; Tuesday to Sunday none.
    assert horizon_demand(fc, first_weekday=3, days=[7])[0] == pytest.approx(7 * rate)
    assert horizon_demand(fc, first_weekday=1, days=[6])[0] == pytest.approx(0.0)
    assert horizon_demand(fc, first_weekday=MONDAY, days=[1])[0] == pytest.approx(7 * rate)
    assert horizon_demand(fc, first_weekday=MONDAY, days=[8])[0] == pytest.approx(14 * rate)


def test_short_history_keeps_a_flat_profile() -> None:
    days = ([10.0] + [0.0] * 6) * 7  # seven weeks: under eight
    fc = forecast(np.array([days]), last_weekday=SUNDAY)
    assert fc.profile[0] == pytest.approx(np.ones(7))


def test_rates_match_the_sum_by_hand_for_random_series() -> None:
    rng = random.Random(15)
    rows = [
        [float(rng.choice([0, 0, 0, 1, 2, 5])) if d >= start else 0.0 for d in range(120)]
        for start in (0, 30, 100, 119, 120)
    ]
    fc = forecast(np.array(rows), last_weekday=rng.randrange(7))
    for row, rate, history in zip(rows, fc.rate, fc.history_days, strict=True):
        assert rate == pytest.approx(ew_rate(row, int(history)))


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="matrix"):
        forecast(np.zeros(5), last_weekday=0)
    fc = forecast(np.zeros((1, 5)), last_weekday=0)
    with pytest.raises(ValueError, match="negative"):
        horizon_demand(fc, first_weekday=0, days=[-1])
