"""Square Order object → canonical order.

The declarative spec ``mapping_spec.json`` beside this module holds the rules, including
the in-store rule: an order whose ``state`` is ``COMPLETED`` and that has no ``SHIPMENT``
fulfillment was sold and handed over at the POS, so it maps with
``fulfilled_externally=true`` and ``fulfilment_location=<location_id>`` (recorded and stock
posted, never routed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omniroute.connectors.base import PayloadError
from omniroute.mapping import MappingSpec, load_spec, map_order

#: This kind's mapping spec: a JSON resource of this package, installed with it.
SPEC_RESOURCE = "mapping_spec.json"


def spec() -> MappingSpec:
    """The compiled order spec (``connectors/square/mapping_spec.json``), loaded once."""
    return load_spec("omniroute.connectors.square", SPEC_RESOURCE)


def to_canonical(order: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical order (mapping/schemas/order.v1.json); raises ``mapping.MappingError``."""
    return map_order(spec(), extract_order(order))


def extract_order(document: Any) -> Mapping[str, Any]:
    """The Order object itself, or the one a RetrieveOrder response wraps as ``{"order": ...}``."""
    if not isinstance(document, Mapping):
        raise PayloadError(
            f"Square order payload must be a JSON object, got {type(document).__name__}"
        )
    wrapped = document.get("order")
    if "id" not in document and isinstance(wrapped, Mapping):
        return wrapped
    return document
