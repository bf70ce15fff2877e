"""A group's set summaries: compact, and the repeated-ST02 check right in every order."""

from __future__ import annotations

import sys

import pytest

from omniroute.connectors.edi_x12.codes import TransactionSetError
from omniroute.connectors.edi_x12.envelope import Summaries, TransactionSummary


def _plain(control: str, set_id: str = "850") -> TransactionSummary:
    return TransactionSummary(set_id, control, (), None)


def _fill(controls: list[str]) -> tuple[Summaries, list[str]]:
    """Add each control number as the envelope does (ask, then add); the repeats found."""
    summaries = Summaries()
    repeats = []
    for control in controls:
        if summaries.seen(control):
            repeats.append(control)
        summaries.add(_plain(control))
    return summaries, repeats


@pytest.mark.parametrize(
    ("controls", "repeats"),
    [
        (["0001", "0002", "0003"], []),
        (["0001", "0003", "0002", "0003"], ["0003"]),
        (["0005", "0005"], ["0005"]),
        (["0001", "001", "0001"], ["0001"]),  # same number, another width: another control
        (["A001", "0002", "A001"], ["A001"]),
        (["0009", "0010", "0002", "0011", "0010"], ["0010"]),
    ],
)
def test_a_repeated_control_number_is_found_in_any_order(
    controls: list[str], repeats: list[str]
) -> None:
    summaries, found = _fill(controls)
    assert found == repeats
    assert [s.control_number for s in summaries] == controls


def test_summaries_read_back_as_added_with_the_odd_ones_kept_whole() -> None:
    odd = TransactionSummary("810", "0002", (TransactionSetError.NOT_SUPPORTED,), "X")
    summaries = Summaries()
    for summary in (_plain("0001"), odd, _plain("0003")):
        summaries.add(summary)
    assert list(summaries) == [_plain("0001"), odd, _plain("0003")]
    assert summaries[-1] == _plain("0003") and list(summaries[1:]) == [odd, _plain("0003")]


def test_increasing_numbers_cost_eight_bytes_a_set_and_no_set_of_seen() -> None:
    summaries, found = _fill([f"{n:09d}" for n in range(1, 100_001)])
    assert found == [] and len(summaries) == 100_000
    numbers = summaries._numbers  # the compact store is what is under test
    assert sys.getsizeof(numbers) < 100_000 * 8 * 1.2
    assert summaries._seen is None


def test_numbers_past_the_first_width_stay_compact() -> None:
    controls = [f"{n:04d}" for n in range(9_990, 10_011)]  # 9990 ... 9999, 10000 ... 10010
    summaries, found = _fill([*controls, "10005"])
    assert found == ["10005"]
    assert [s.control_number for s in summaries] == [*controls, "10005"]
    assert summaries._texts is None  # all kept as numbers
