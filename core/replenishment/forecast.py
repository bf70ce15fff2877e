"""Daily demand per series (a SKU at a warehouse), forecast from its history; pure numpy.

The method, chosen to work with a few days of history as well as with a year:

- **History.** ``demand[i, t]`` is the units series ``i`` took on day ``t`` (the last column
  is yesterday). A series' history starts at its first day with demand, but is never taken
  as shorter than ``MIN_WINDOW_DAYS``: a new SKU that sold 10 units yesterday is read as
  10 units in two weeks, not 10 a day.
- **Level.** An exponentially weighted mean of the daily units over that history, the
  weight halving every ``HALF_LIFE_DAYS`` days into the past (recent weeks count most; a
  series with no demand has rate 0). Days without demand count as zeros, so intermittent
  demand gets its average rate, as Croston's method would give over the same window,
  without its per-series state.
- **Weekday profile.** With at least ``PROFILE_MIN_DAYS`` (8 weeks) of history, the mean
  units per weekday over the last ``PROFILE_WINDOW_DAYS`` days of the history, divided by
  the mean of the seven (so the profile averages 1 and the rate stays the mean). Shorter
  histories, or no demand in the window, get a flat profile.
- **Demand over a horizon** of ``d`` days from a weekday: the rate times the sum of the
  profile over those days (``horizon_demand``).

Every function works on whole arrays: 50,000 series with a year each take well under a
second (bench/replenishment.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

HALF_LIFE_DAYS = 28.0
MIN_WINDOW_DAYS = 14
PROFILE_MIN_DAYS = 56
PROFILE_WINDOW_DAYS = 182

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Forecast:
    """Per series: the mean daily rate, the weekday profile (Monday first) and the history
    length it was read from (days)."""

    rate: Floats
    profile: Floats
    history_days: Ints


def forecast(demand: npt.ArrayLike, *, last_weekday: int) -> Forecast:
    """Forecast every row of ``demand`` (series x days, the last column being a day whose
    weekday is ``last_weekday``, Monday 0)."""
    d = np.asarray(demand, dtype=np.float64)
    if d.ndim != 2:
        raise ValueError("demand must be a series x days matrix")
    n, days = d.shape
    if days == 0:
        return Forecast(np.zeros(n), np.ones((n, 7)), np.zeros(n, dtype=np.int64))
    history = _history_days(d)
    age = np.arange(days - 1, -1, -1, dtype=np.float64)  # column t is age days old
    weights = np.power(0.5, age / HALF_LIFE_DAYS)
    # Sums over each row's last ``history`` columns, from cumulative sums taken from the
    # right: element k of the reversed cumulative sum covers the k + 1 newest days.
    weighted = np.cumsum((d * weights)[:, ::-1], axis=1)
    norm = np.cumsum(weights[::-1])
    pick = history - 1
    rate = weighted[np.arange(n), pick] / norm[pick]
    return Forecast(
        rate=np.maximum(rate, 0.0),
        profile=_weekday_profile(d, history, last_weekday),
        history_days=history,
    )


def _history_days(d: Floats) -> Ints:
    days = d.shape[1]
    any_demand = (d > 0).any(axis=1)
    first = np.where(any_demand, np.argmax(d > 0, axis=1), days)
    history = np.maximum(days - first, MIN_WINDOW_DAYS)
    result: Ints = np.minimum(history, days).astype(np.int64)
    return result


def _weekday_profile(d: Floats, history: Ints, last_weekday: int) -> Floats:
    n, days = d.shape
    profile = np.ones((n, 7))
    eligible = history >= PROFILE_MIN_DAYS
    if not eligible.any():
        return profile
    window = min(days, PROFILE_WINDOW_DAYS)
    recent = d[eligible, days - window :]
    age = np.arange(window - 1, -1, -1)
    inside = age[None, :] < history[eligible, None]
    weekday = (last_weekday - age) % 7
    sums = np.zeros((recent.shape[0], 7))
    counts = np.zeros((recent.shape[0], 7))
    for day in range(7):
        cols = weekday == day
        sums[:, day] = (recent[:, cols] * inside[:, cols]).sum(axis=1)
        counts[:, day] = inside[:, cols].sum(axis=1)
    means = sums / np.maximum(counts, 1)
    overall = means.mean(axis=1, keepdims=True)
    shaped = np.divide(means, overall, out=np.ones_like(means), where=overall > 0)
    profile[eligible] = shaped
    return profile


def horizon_demand(fc: Forecast, *, first_weekday: int, days: npt.ArrayLike) -> Floats:
    """Units each series is expected to take over its next ``days`` days, the first of which
    is a ``first_weekday`` (Monday 0)."""
    span = np.asarray(days, dtype=np.int64)
    if (span < 0).any():
        raise ValueError("a horizon is never negative")
    n = fc.rate.shape[0]
    span = np.broadcast_to(span, (n,))
    rolled = np.roll(fc.profile, -first_weekday, axis=1)  # column 0 is first_weekday
    partial = np.concatenate([np.zeros((n, 1)), np.cumsum(rolled, axis=1)], axis=1)
    week_total = partial[:, 7]
    within = partial[np.arange(n), span % 7]
    result: Floats = fc.rate * (week_total * (span // 7) + within)
    return result
