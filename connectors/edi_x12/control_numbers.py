"""Control numbers (ISA13, GS06, ST02): formatting and checking only.

Issuing them (unique, increasing per partner, never reused) belongs to the database; these
helpers give each the width and range the X12 control standards allow.
"""

from __future__ import annotations

from enum import Enum

#: The largest control number of any kind (nine digits).
MAX_CONTROL = 999_999_999


class ControlNumberError(ValueError):
    """A control number outside 1..999,999,999 or not made of digits."""


class ControlKind(Enum):
    """Where a control number goes, with its minimum width (zero-padded) and maximum."""

    INTERCHANGE = ("ISA13", 9)
    GROUP = ("GS06", 1)
    TRANSACTION_SET = ("ST02", 4)

    def __init__(self, element: str, width: int) -> None:
        self.element = element
        self.width = width


def format_control(number: int, kind: ControlKind) -> str:
    """``number`` as ``kind`` is written: ISA13 ``000000042``, GS06 ``42``, ST02 ``0042``."""
    if isinstance(number, bool) or not isinstance(number, int):
        raise ControlNumberError(f"{kind.element} control number must be an int, got {number!r}")
    if not 1 <= number <= MAX_CONTROL:
        raise ControlNumberError(
            f"{kind.element} control number {number} is outside 1..{MAX_CONTROL}"
        )
    return str(number).zfill(kind.width)


def parse_control(text: str, kind: ControlKind) -> int:
    """The number a control number element holds; raises ``ControlNumberError``."""
    value = text.strip()
    if not value.isascii() or not value.isdigit():
        raise ControlNumberError(f"{kind.element} {text!r} is not a number")
    if kind is ControlKind.INTERCHANGE and len(value) != kind.width:
        raise ControlNumberError(f"ISA13 {text!r} must be exactly 9 digits")
    if kind is ControlKind.TRANSACTION_SET and not 4 <= len(value) <= 9:
        raise ControlNumberError(f"ST02 {text!r} must be 4 to 9 characters")
    if len(value) > 9:
        raise ControlNumberError(f"{kind.element} {text!r} has more than 9 digits")
    number = int(value)
    if number < 1:
        raise ControlNumberError(f"{kind.element} {text!r} must be at least 1")
    return number


def next_control(last: int | None) -> int:
    """The number after ``last`` (1 when none was issued); refuses to wrap to a used one."""
    if last is None:
        return 1
    if last >= MAX_CONTROL:
        raise ControlNumberError(
            f"control numbers are exhausted at {last}; X12 allows at most {MAX_CONTROL}"
        )
    return last + 1
