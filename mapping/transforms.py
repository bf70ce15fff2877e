"""Named pure transforms that mapping specs apply to source values.

A transform takes the value a spec's jmespath expression found (``None`` when the source has
no such field) and returns the canonical value, or raises ``TransformError`` saying what is
wrong with the input; the engine adds the target and source paths. Every transform accepts
``None``; most return it unchanged.

Adding one: write a function ``(value: Any) -> Any`` here and list it in ``TRANSFORMS``::

    def lower(value: Any) -> str | None:
        \"\"\"Lower-cased string.\"\"\"
        text = str_(value)
        return None if text is None else text.lower()

then use it from a spec: ``"email": {"path": "email", "transform": "lower"}``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

Transform = Callable[[Any], Any]


class TransformError(ValueError):
    """The input cannot be converted; the message says why, without any path."""


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float | decimal.Decimal):
        raise TransformError(f"expected a string or number, got {_describe(value)}")
    return value if isinstance(value, str) else str(value)


def str_(value: Any) -> str | None:
    """String form of a scalar (ids often arrive as JSON numbers); ``None`` stays ``None``."""
    return None if value is None else _scalar_text(value)


def str_or_none(value: Any) -> str | None:
    """Like ``str`` but trimmed, and empty or blank text becomes ``None``."""
    if value is None:
        return None
    text = _scalar_text(value).strip()
    return text or None


def int_(value: Any) -> int | None:
    """Whole number from an int, an integral float or a string such as ``" 3 "``."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise TransformError(f"expected an integer, got {_describe(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise TransformError(f"expected an integer, got {_describe(value)}")


_MAX_DIGITS = 30


def decimal_(value: Any) -> str | None:
    """Money or amount as a fixed-point decimal string: ``"409.94"``, ``"1E+2"`` → ``"100"``.

    The source's scale is kept (``"0.00"`` stays ``"0.00"``); floats go through their
    shortest repr so ``0.1`` is ``"0.1"``. NaN and infinities are rejected.
    """
    if value is None:
        return None
    text = _scalar_text(value).strip()
    try:
        number = decimal.Decimal(text)
    except decimal.InvalidOperation:
        raise TransformError(f"expected a decimal number, got {_describe(value)}") from None
    if not number.is_finite():
        raise TransformError(f"expected a finite decimal number, got {_describe(value)}")
    # Bounded so that "1E+999999" cannot expand into a megabyte of zeros.
    if number.adjusted() > _MAX_DIGITS or -int(number.as_tuple().exponent) > _MAX_DIGITS:
        raise TransformError(f"decimal number out of range: {_describe(value)}")
    if number.is_zero():
        number = abs(number)
    return format(number, "f")


def upper(value: Any) -> str | None:
    """Trimmed, upper-cased string; blank becomes ``None``."""
    text = str_or_none(value)
    return None if text is None else text.upper()


_COUNTRY_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "UNITED STATES": "US",
        "UNITED STATES OF AMERICA": "US",
        "USA": "US",
        "CANADA": "CA",
        "MEXICO": "MX",
        "UNITED KINGDOM": "GB",
        "GREAT BRITAIN": "GB",
        "UK": "GB",
        "IRELAND": "IE",
        "GERMANY": "DE",
        "FRANCE": "FR",
        "SPAIN": "ES",
        "ITALY": "IT",
        "NETHERLANDS": "NL",
        "BELGIUM": "BE",
        "AUSTRIA": "AT",
        "SWITZERLAND": "CH",
        "POLAND": "PL",
        "SWEDEN": "SE",
        "DENMARK": "DK",
        "NORWAY": "NO",
        "AUSTRALIA": "AU",
        "NEW ZEALAND": "NZ",
        "JAPAN": "JP",
        "CHINA": "CN",
        "TAIWAN": "TW",
        "HONG KONG": "HK",
        "SINGAPORE": "SG",
        "SOUTH KOREA": "KR",
        "INDIA": "IN",
        "BRAZIL": "BR",
    }
)


def country(value: Any) -> str | None:
    """ISO 3166-1 alpha-2 code, upper case, from a code or a common English name.

    ``"us"`` → ``"US"``, ``"United States"`` → ``"US"``; a name not in the small table
    becomes ``None`` (the order is then flagged by address validation, not rejected here).
    """
    text = upper(value)
    if text is None:
        return None
    if len(text) == 2 and text.isascii() and text.isalpha():
        return text
    return _COUNTRY_NAMES.get(" ".join(text.split()))


_TRUE_WORDS = frozenset({"true", "yes", "y", "1"})
_FALSE_WORDS = frozenset({"false", "no", "n", "0"})


def bool_(value: Any) -> bool | None:
    """Boolean from a JSON bool, 0/1 or a word such as ``"true"``/``"no"``."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    raise TransformError(f"expected a boolean, got {_describe(value)}")


def datetime_(value: Any) -> str | None:
    """ISO 8601 date-time with its UTC offset kept: ``"2008-01-10T11:00:00-05:00"``.

    A trailing ``Z`` becomes ``+00:00``. A value without an offset is rejected rather than
    guessed, because the same wall-clock time means different instants per shop.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise TransformError(f"expected an ISO 8601 date-time string, got {_describe(value)}")
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise TransformError(f"expected an ISO 8601 date-time, got {_describe(value)}") from None
    if parsed.tzinfo is None:
        raise TransformError(f"date-time has no UTC offset: {_describe(value)}")
    return parsed.isoformat()


def tags(value: Any) -> list[str]:
    """Tag list from Shopify's comma-separated string (or a list); blanks dropped."""
    if value is None:
        return []
    if isinstance(value, str):
        parts: list[Any] = value.split(",")
    elif isinstance(value, list):
        parts = value
    else:
        raise TransformError(f"expected a comma-separated string or a list, got {_describe(value)}")
    texts = (str_or_none(part) for part in parts)
    return [text for text in texts if text is not None]


def not_null(value: Any) -> bool:
    """Whether the source has a value at all, e.g. ``cancelled_at`` → cancelled."""
    return value is not None


def join_words(value: Any) -> str | None:
    """A string as it is, or the non-blank parts of a list joined by spaces (first + last name)."""
    if value is None or isinstance(value, str):
        return str_or_none(value)
    if not isinstance(value, list):
        raise TransformError(f"expected a string or a list of strings, got {_describe(value)}")
    words = [word for word in (str_or_none(part) for part in value) if word is not None]
    return " ".join(words) or None


_SAME_DAY_WORDS = ("same day", "same-day", "same_day", "sameday")


def service_level(value: Any) -> str:
    """Canonical service level from shipping method texts (one string or a list).

    Any text naming same-day delivery → ``"same_day"``; else any containing "express"
    (case-insensitive) → ``"express"``; else ``"standard"``.
    """
    if value is None:
        return "standard"
    texts = value if isinstance(value, list) else [value]
    words = [text.lower() for text in (str_or_none(item) for item in texts) if text is not None]
    if any(marker in word for word in words for marker in _SAME_DAY_WORDS):
        return "same_day"
    if any("express" in word for word in words):
        return "express"
    return "standard"


def per_unit(value: Any) -> str | None:
    """Unit price from ``[line_total, quantity]`` (Amazon's ItemPrice is price x quantity).

    ``["17.95", 2]`` → ``"8.975"``. ``None`` when either part is missing, the quantity is not
    positive, or the total does not divide exactly (a rounded unit price would be wrong).
    """
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2:
        raise TransformError(f"expected [line_total, quantity], got {_describe(value)}")
    total, quantity = decimal_(value[0]), int_(value[1])
    if total is None or quantity is None or quantity <= 0:
        return None
    with decimal.localcontext() as context:
        context.prec = 60
        amount = decimal.Decimal(total)
        unit = amount / quantity
        if unit * quantity != amount:
            return None
    return decimal_(unit)


# ISO 4217 minor-unit exponents other than the usual 2.
_ZERO_DECIMAL_CURRENCIES = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG"}
    | {"RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"}
)
_THREE_DECIMAL_CURRENCIES = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})


def money_minor(value: Any) -> str | None:
    """Money in integer minor units with its currency (Square) as a decimal string.

    ``{"amount": 550, "currency": "USD"}`` → ``"5.50"``; ``{"amount": 500, "currency": "JPY"}``
    → ``"500"`` (JPY has no minor unit); ``{"amount": 1234, "currency": "KWD"}`` → ``"1.234"``.
    """
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TransformError(
            f"expected a money object with amount and currency, got {_describe(value)}"
        )
    amount = value.get("amount")
    if amount is None:
        return None
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TransformError(
            f"money amount must be an integer of minor units, got {_describe(amount)}"
        )
    currency = upper(value.get("currency"))
    if currency is None:
        raise TransformError(f"money has no currency: {_describe(value)}")
    exponent = 3 if currency in _THREE_DECIMAL_CURRENCIES else 2
    if currency in _ZERO_DECIMAL_CURRENCIES:
        exponent = 0
    return format(decimal.Decimal(amount).scaleb(-exponent), "f")


def _decimals(value: Any) -> list[decimal.Decimal]:
    parts = value if isinstance(value, list) else [value]
    found = (decimal_(part) for part in parts)
    return [decimal.Decimal(text) for text in found if text is not None]


def decimal_sum(value: Any) -> str | None:
    """The exact sum of amounts (one, or a list): ``["5.00", "1.50"]`` → ``"6.50"``.

    Absent parts (``None``) are left out; ``None`` when no amount is there at all (an empty
    list included): the channel did not say, which is not the same as zero.
    """
    amounts = _decimals(value)
    if not amounts:
        return None
    with decimal.localcontext() as context:
        context.prec = 60
        return decimal_(sum(amounts[1:], start=amounts[0]))


def decimal_difference(value: Any) -> str | None:
    """``[a, b]`` → ``a - b`` exactly (a line's subtotal less its total is its discount);
    ``None`` when either is missing."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2:
        raise TransformError(f"expected [amount, amount], got {_describe(value)}")
    first, second = decimal_(value[0]), decimal_(value[1])
    if first is None or second is None:
        return None
    with decimal.localcontext() as context:
        context.prec = 60
        return decimal_(decimal.Decimal(first) - decimal.Decimal(second))


#: Bounds of a list of name/value pairs (order attributes, line properties); the schema's
#: ``$defs.name_values`` says the same (a test holds them together).
MAX_NAME_VALUES = 100
MAX_NAME_CHARS = 255
MAX_VALUE_CHARS = 2000


def name_values(value: Any) -> list[dict[str, str]]:
    """Name/value pairs (Shopify properties and note_attributes, WooCommerce meta shaped as
    ``{name, value}``) in their order, each value as text: a number as written, an object or
    list as compact JSON, null as ``""``. Entries without a name are left out; names are
    kept as they are, ``_``-prefixed ones included. More than ``MAX_NAME_VALUES`` entries
    are refused before any is looked at; the lengths are the schema's to check."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise TransformError(f"expected a list of name/value pairs, got {_describe(value)}")
    if len(value) > MAX_NAME_VALUES:
        raise TransformError(f"at most {MAX_NAME_VALUES} name/value pairs, got {len(value):,}")
    pairs = []
    for entry in value:
        if not isinstance(entry, Mapping):
            continue
        name = entry.get("name")
        if not isinstance(name, str | int) or isinstance(name, bool) or not str(name).strip():
            continue
        pairs.append({"name": str(name), "value": _text_of(entry.get("value"))})
    return pairs


def _text_of(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | decimal.Decimal):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=False)


TRANSFORMS: Mapping[str, Transform] = MappingProxyType(
    {
        "str": str_,
        "str_or_none": str_or_none,
        "int": int_,
        "decimal": decimal_,
        "upper": upper,
        "country": country,
        "bool": bool_,
        "datetime": datetime_,
        "tags": tags,
        "not_null": not_null,
        "join_words": join_words,
        "service_level": service_level,
        "money_minor": money_minor,
        "per_unit": per_unit,
        "decimal_sum": decimal_sum,
        "decimal_difference": decimal_difference,
        "name_values": name_values,
    }
)
