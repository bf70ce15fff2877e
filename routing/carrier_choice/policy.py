"""The ``carrier`` outcome of a routing rule: how to choose among the quotes.

``{"strategy": "cheapest" | "fastest", "cost_cap": 25.0, "service_levels": ["standard"]}``

- ``cheapest`` (the default): the lowest price among the quotes that meet the order's service
  level and its deliver-by date (when it has one), under ``cost_cap`` if set.
- ``fastest``: the earliest delivery among the quotes under ``cost_cap``, that meet the
  order's service level; the price breaks ties.
- ``service_levels``: only services of these levels may be chosen ([]: any).

Each key of a later rule's ``carrier`` replaces the one so far; ``cost_cap`` null removes a cap.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Final

SERVICE_LEVELS: Final = ("standard", "express", "same_day")
_UNSET: Final = object()


class Strategy(StrEnum):
    CHEAPEST = "cheapest"
    FASTEST = "fastest"


@dataclass(frozen=True)
class CarrierPolicy:
    strategy: Strategy = Strategy.CHEAPEST
    cost_cap: Decimal | None = None
    service_levels: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy.value,
            "cost_cap": None if self.cost_cap is None else str(self.cost_cap),
            "service_levels": list(self.service_levels),
        }

    @classmethod
    def from_json(cls, doc: Any) -> CarrierPolicy:
        """The policy a trace or ``to_json`` holds; the default for anything else."""
        if not isinstance(doc, dict):
            return cls()
        return read_policy(doc).over(cls())


@dataclass(frozen=True)
class PartialPolicy:
    """What one rule's ``carrier`` states; ``cost_cap`` is stated when ``cap_stated``."""

    strategy: Strategy | None = None
    cost_cap: Decimal | None = None
    cap_stated: bool = False
    service_levels: tuple[str, ...] | None = None

    def over(self, base: CarrierPolicy) -> CarrierPolicy:
        policy = base
        if self.strategy is not None:
            policy = replace(policy, strategy=self.strategy)
        if self.cap_stated:
            policy = replace(policy, cost_cap=self.cost_cap)
        if self.service_levels is not None:
            policy = replace(policy, service_levels=self.service_levels)
        return policy


class PolicyError(ValueError):
    """A ``carrier`` outcome is invalid; ``key`` names the key at fault."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def read_policy(doc: Any) -> PartialPolicy:
    """Read a rule's ``carrier`` object; ``PolicyError`` naming the first key at fault."""
    if not isinstance(doc, dict):
        raise PolicyError("", "expected an object")
    unknown = sorted(set(doc) - {"strategy", "cost_cap", "service_levels"})
    if unknown:
        raise PolicyError(
            unknown[0], "unknown key; expected one of strategy, cost_cap, service_levels"
        )
    partial = PartialPolicy()
    if "strategy" in doc:
        try:
            partial = replace(partial, strategy=Strategy(doc["strategy"]))
        except ValueError:
            raise PolicyError("strategy", "expected one of cheapest, fastest") from None
    if "cost_cap" in doc:
        partial = replace(partial, cost_cap=_cap(doc["cost_cap"]), cap_stated=True)
    if "service_levels" in doc:
        levels = doc["service_levels"]
        if not isinstance(levels, list) or any(level not in SERVICE_LEVELS for level in levels):
            raise PolicyError("service_levels", f"expected a list of {', '.join(SERVICE_LEVELS)}")
        partial = replace(partial, service_levels=tuple(dict.fromkeys(levels)))
    return partial


def _cap(value: Any) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PolicyError("cost_cap", "expected a non-negative amount or null")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise PolicyError("cost_cap", "expected a non-negative amount or null") from None
    if not amount.is_finite() or amount < 0:
        raise PolicyError("cost_cap", "expected a non-negative amount or null")
    return amount
