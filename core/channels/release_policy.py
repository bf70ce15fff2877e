"""Which orders may go to a warehouse: the release policy a connector's ops set (pure).

A channel says things about an order that decide whether it should ship at all: unpaid or
only authorised, voided or refunded, a test order, a fraud risk, already fulfilled in part
by the merchant. This module reads those facts off the canonical order and answers with a
hold (a code and a sentence for people) or nothing. Lines that need no shipping (digital
goods, gift cards) are never sent to a warehouse, whatever the policy.

Payment states, from the channels' own words (``financial_status`` in the canonical order):

==============  =========================================================  ==============
state           channel words                                              default policy
==============  =========================================================  ==============
paid            paid, partially_refunded, captured, settled, completed     released
authorized      authorized, authorised                                     released
partially_paid  partially_paid                                             held
unpaid          pending, unpaid, expired, awaiting_payment, failed         held
void            voided, refunded                                           never routed
unknown         no payment status at all (Square without tenders, CSV)     released
unrecognised    any other word                                             held
==============  =========================================================  ==============
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class PaymentState(enum.IntEnum):
    """Ordered: a policy's minimum lets through its own state and every one above it."""

    VOID = 0
    UNRECOGNISED = 1
    UNPAID = 2
    PARTIALLY_PAID = 3
    AUTHORIZED = 4
    PAID = 5
    UNKNOWN = 6  # the channel says nothing about payment: nothing to hold it on


_WORDS: dict[str, PaymentState] = {
    **dict.fromkeys(
        ("paid", "partially_refunded", "captured", "settled", "completed"), PaymentState.PAID
    ),
    **dict.fromkeys(("authorized", "authorised"), PaymentState.AUTHORIZED),
    "partially_paid": PaymentState.PARTIALLY_PAID,
    **dict.fromkeys(
        ("pending", "unpaid", "expired", "awaiting_payment", "failed"), PaymentState.UNPAID
    ),
    **dict.fromkeys(("voided", "refunded"), PaymentState.VOID),
}


def payment_state(financial_status: str | None) -> PaymentState:
    if financial_status is None or not financial_status.strip():
        return PaymentState.UNKNOWN
    word = financial_status.strip().lower().replace("-", "_").replace(" ", "_")
    return _WORDS.get(word, PaymentState.UNRECOGNISED)


MinPayment = Literal["any", "authorized", "paid"]
RiskLevel = Literal["low", "medium", "high"]

_MINIMUM: dict[str, PaymentState] = {
    "any": PaymentState.UNRECOGNISED,
    "authorized": PaymentState.AUTHORIZED,
    "paid": PaymentState.PAID,
}


def _high_only() -> list[RiskLevel]:
    return ["high"]


class ReleasePolicy(BaseModel):
    """A connector's release policy (``release_policy`` on the connector; defaults if unset)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_payment: MinPayment = Field(
        default="authorized",
        description=(
            "The least payment an order needs to be routed: 'authorized' (default: "
            "authorised or paid), 'paid' (captured), or 'any' (cash on delivery, invoices). "
            "Voided and refunded orders are never routed, whatever this says."
        ),
    )
    route_test_orders: bool = Field(
        default=False,
        description="Route orders the channel marks as tests (for a staging set-up).",
    )
    hold_risk_levels: list[RiskLevel] = Field(
        default_factory=_high_only,
        max_length=3,
        description="Hold orders whose channel risk assessment is one of these levels.",
    )


DEFAULT_POLICY = ReleasePolicy()


class HoldCode(enum.StrEnum):
    PAYMENT_PENDING = "payment_pending"
    PAYMENT_VOIDED = "payment_voided"
    UNRECOGNISED_PAYMENT = "unrecognised_payment"
    TEST_ORDER = "test_order"
    RISK = "risk"
    RISK_PENDING = "risk_pending"
    PARTIALLY_FULFILLED = "partially_fulfilled_by_channel"


# Holds a person must look at (the others end by themselves when the channel's update comes).
NEEDS_REVIEW = frozenset(
    {HoldCode.RISK, HoldCode.UNRECOGNISED_PAYMENT, HoldCode.PARTIALLY_FULFILLED}
)


@dataclass(frozen=True)
class Hold:
    code: HoldCode
    reason: str

    @property
    def needs_review(self) -> bool:
        return self.code in NEEDS_REVIEW


def policy_of(stored: Mapping[str, Any] | None) -> ReleasePolicy:
    """The connector's stored policy (validated when it was saved); defaults when unset."""
    return DEFAULT_POLICY if not stored else ReleasePolicy.model_validate(stored)


def hold_for(
    order: Mapping[str, Any], policy: ReleasePolicy, waived: Collection[str] = ()
) -> Hold | None:
    """Why this order must not go to a warehouse yet, or None. ``waived``: hold codes a
    person has released this order from (a void payment cannot be waived)."""
    for hold in _holds(order, policy):
        if hold.code is HoldCode.PAYMENT_VOIDED or hold.code.value not in waived:
            return hold
    return None


def _holds(order: Mapping[str, Any], policy: ReleasePolicy) -> list[Hold]:
    found: list[Hold] = []
    status = order.get("financial_status")
    state = payment_state(status)
    if state is PaymentState.VOID:
        found.append(Hold(HoldCode.PAYMENT_VOIDED, f"the channel says the payment is {status}"))
    if order.get("test") and not policy.route_test_orders:
        found.append(Hold(HoldCode.TEST_ORDER, "the channel marks it as a test order"))
    risk = order.get("risk_level")
    if risk in policy.hold_risk_levels:
        found.append(Hold(HoldCode.RISK, f"the channel rates its fraud risk {risk}"))
    elif risk == "pending" and policy.hold_risk_levels:
        found.append(
            Hold(
                HoldCode.RISK_PENDING,
                "the channel has not finished assessing its fraud risk; it is released "
                "when the assessment comes",
            )
        )
    if order.get("channel_fulfilment") == "partial":
        found.append(
            Hold(
                HoldCode.PARTIALLY_FULFILLED,
                "the channel has fulfilled part of it already; decide what is left to ship",
            )
        )
    if state is PaymentState.UNRECOGNISED and policy.min_payment != "any":
        found.append(
            Hold(HoldCode.UNRECOGNISED_PAYMENT, f"payment status {status!r} is not one we know")
        )
    elif PaymentState.VOID < state < _MINIMUM[policy.min_payment]:
        found.append(
            Hold(
                HoldCode.PAYMENT_PENDING,
                f"payment is {status}; this channel's policy routes {policy.min_payment} orders",
            )
        )
    return found


def needs_shipping(line: Mapping[str, Any]) -> bool:
    return bool(line.get("requires_shipping", True))


def shipping_lines(lines: Sequence[Mapping[str, Any]]) -> list[tuple[int, Mapping[str, Any]]]:
    """(line number from 1, line) of the lines a warehouse ships: digital goods and gift
    cards stay in the canonical order only, so their numbers keep their place."""
    return [(no, line) for no, line in enumerate(lines, start=1) if needs_shipping(line)]
