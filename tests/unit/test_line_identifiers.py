"""Canonical line ``identifiers`` and ``unit_of_measure``: schema bounds, alias keys, SKU
resolution in their order (any channel may set them; X12 850 lines do)."""

from __future__ import annotations

from typing import Any

import pytest

from omniroute.mapping import MappingError, resolve_skus, sku_keys, validate_order


def _order(**line: Any) -> dict[str, Any]:
    return {
        "external_id": "1",
        "channel": "edi",
        "currency": "USD",
        "cancelled": False,
        "lines": [{"external_line_id": "1", "quantity": 1, **line}],
    }


GTIN = {"scheme": "gtin", "qualifier": "UP", "value": "012345678905"}
BUYER = {"scheme": "buyer_part", "qualifier": "BP", "value": "B-1"}


def test_schema_takes_identifiers_and_unit() -> None:
    validate_order(
        _order(identifiers=[GTIN, {"scheme": "sku", "value": "S"}], unit_of_measure="CA")
    )


@pytest.mark.parametrize(
    ("line", "path"),
    [
        ({"identifiers": [GTIN] * 21}, "lines[0].identifiers"),
        ({"identifiers": [{"scheme": "gtin"}]}, "lines[0].identifiers[0].value"),
        ({"identifiers": [{"scheme": "gtin", "value": ""}]}, "lines[0].identifiers[0].value"),
        ({"identifiers": [{**GTIN, "extra": 1}]}, "lines[0].identifiers[0].extra"),
        ({"unit_of_measure": "X" * 17}, "lines[0].unit_of_measure"),
    ],
)
def test_schema_bounds(line: dict[str, Any], path: str) -> None:
    with pytest.raises(MappingError) as caught:
        validate_order(_order(**line))
    assert caught.value.path == path


def test_alias_keys_follow_the_identifiers() -> None:
    line = {"channel_sku": "B-1", "identifiers": [BUYER, GTIN]}
    assert sku_keys(line) == ["B-1", "buyer_part:B-1", "gtin:012345678905"]
    assert sku_keys({"identifiers": [GTIN, GTIN]}) == ["gtin:012345678905"]
    assert sku_keys({"channel_sku": "A"}) == ["A"]  # lines without identifiers: as before


def test_resolution_tries_each_identifier_in_order() -> None:
    order = _order(channel_sku="B-1", identifiers=[BUYER, GTIN])
    both = {"buyer_part:B-1": "RED", "gtin:012345678905": "BLUE"}
    assert resolve_skus(order, both, known=set())["lines"][0]["sku"] == "RED"
    gtin_only = {"gtin:012345678905": "BLUE"}
    assert resolve_skus(order, gtin_only, known=set())["lines"][0]["sku"] == "BLUE"
    # an alias of the channel SKU itself still comes first
    assert resolve_skus(order, {**both, "B-1": "GREEN"}, known=set())["lines"][0]["sku"] == "GREEN"
