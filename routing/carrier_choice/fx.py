"""Exchange rates for comparing quotes in different currencies (pure).

Rates are what ops configure (``OMNIROUTE_EXCHANGE_RATES``, e.g. ``USD=1,EUR=1.08,CAD=0.73``):
each currency's value in one common unit of account, whatever it is. Converting ``amount``
of ``A`` into ``B`` is ``amount x rate[A] / rate[B]``, rounded half-up to the cent. A rate
set is used to compare and cap quotes, never to book or report: a booking keeps the amount
and currency the carrier quoted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

_CODE = re.compile(r"^[A-Z]{3}$")
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class ExchangeRates:
    """Each currency's value in a common unit (``{"USD": 1, "EUR": 1.08}``)."""

    rates: Mapping[str, Decimal] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.rates)

    def knows(self, currency: str) -> bool:
        return currency in self.rates

    def convert(self, amount: Decimal, source: str, target: str) -> Decimal | None:
        """``amount`` of ``source`` in ``target``, or None without a rate for both."""
        if source == target:
            return amount
        if source not in self.rates or target not in self.rates:
            return None
        value = amount * self.rates[source] / self.rates[target]
        return value.quantize(_CENT, rounding=ROUND_HALF_UP)

    @classmethod
    def parse(cls, text: str) -> ExchangeRates:
        """``"USD=1,EUR=1.08"`` (spaces allowed); ValueError naming the bad entry."""
        rates: dict[str, Decimal] = {}
        for entry in (e.strip() for e in text.split(",")):
            if not entry:
                continue
            code, sep, value = (part.strip() for part in entry.partition("="))
            code = code.upper()
            if not sep or not _CODE.match(code):
                raise ValueError(f"exchange rate {entry!r}: expected CODE=value, e.g. EUR=1.08")
            try:
                rate = Decimal(value)
            except InvalidOperation:
                raise ValueError(f"exchange rate {entry!r}: {value!r} is not a number") from None
            if not rate.is_finite() or rate <= 0:
                raise ValueError(f"exchange rate {entry!r}: the rate must be above 0")
            if code in rates:
                raise ValueError(f"exchange rate for {code} given twice")
            rates[code] = rate
        return cls(rates)


NO_RATES = ExchangeRates()
