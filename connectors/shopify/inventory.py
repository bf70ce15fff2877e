"""Stock out to Shopify by compare-and-set: the GraphQL documents, bodies and the arithmetic.

Shopify lowers ``available`` itself when a customer orders in the shop. An order omniroute
has not taken in yet (its webhook still on the way) is therefore in Shopify's figure and not
in ours; setting ours blindly would give that unit back and let the shop sell it twice. So a
push reads the current ``available`` first and works out what Shopify sold that omniroute
has not seen:

- ``expected = previous - channel_units_since``: where Shopify should stand if every sale it
  made since our last push had reached omniroute;
- ``unseen = max(0, expected - current)``: what it sold beyond that;
- the value set is ``max(0, available - unseen)``, sent with ``current`` as the value to
  compare against, so a sale made between the read and the write makes the write fail
  (``COMPARE_QUANTITY_STALE``) instead of being overwritten; the caller reads again.

Without ``previous`` (a first push) nothing can be told apart and ``available`` is set as is.
API versions from 2026-01 name the compare field ``changeFromQuantity`` (``compareQuantity``
is deprecated there and removed in 2026-04, which also requires the ``@idempotent``
directive); both are handled by the configured version.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from omniroute.connectors.base import PayloadError, PermanentError, StockUpdate, TransientError
from omniroute.connectors.shopify.mapping import shopify_id

#: Shopify refuses any GraphQL input array longer than this (nodes ids, quantities).
MAX_ITEMS_PER_CALL = 250
#: The quantity name omniroute sets, and the reason Shopify shows in the inventory history.
QUANTITY_NAME = "available"
REASON = "correction"
#: The first API version with ``changeFromQuantity`` and the ``@idempotent`` directive.
CHANGE_FROM_VERSION = "2026-01"
STALE_CODES = frozenset({"COMPARE_QUANTITY_STALE", "CHANGE_FROM_QUANTITY_STALE"})
#: User errors that a later try can clear (the same idempotency key still in flight).
TRANSIENT_CODES = frozenset({"IDEMPOTENCY_CONCURRENT_REQUEST"})

READ_QUERY = """\
query OmnirouteAvailable($ids: [ID!]!, $locationId: ID!) {
  nodes(ids: $ids) {
    ... on InventoryItem {
      id
      inventoryLevel(locationId: $locationId) {
        quantities(names: ["available"]) { name quantity }
      }
    }
  }
}"""

_SET_MUTATION = """\
mutation OmnirouteSetAvailable($input: InventorySetQuantitiesInput!{key_variable}) {{
  inventorySetQuantities(input: $input){directive} {{
    userErrors {{ code field message }}
  }}
}}"""


@dataclass(frozen=True)
class Target:
    """One inventory item to set, with what omniroute knows of its history."""

    sku: str
    item_id: int
    available: int
    previous: int | None
    channel_units_since: int

    @classmethod
    def of(cls, update: StockUpdate) -> Target:
        item = shopify_id(update.channel_ref, f"inventory item id of {update.sku}")
        return cls(update.sku, item, update.available, update.previous, update.channel_units_since)

    def unseen(self, current: int) -> int:
        """Units Shopify sold beyond the sales omniroute has taken in since its last push."""
        if self.previous is None:
            return 0
        return max(0, self.previous - self.channel_units_since - current)

    def value(self, current: int) -> int:
        """What to set: omniroute's figure less what Shopify sold that omniroute has not seen."""
        return max(0, self.available - self.unseen(current))


def chunks(targets: Sequence[Target]) -> Iterator[Sequence[Target]]:
    """The targets in groups Shopify takes in one call."""
    for start in range(0, len(targets), MAX_ITEMS_PER_CALL):
        yield targets[start : start + MAX_ITEMS_PER_CALL]


def item_gid(item_id: int) -> str:
    return f"gid://shopify/InventoryItem/{item_id}"


def location_gid(location_id: int) -> str:
    return f"gid://shopify/Location/{location_id}"


def uses_change_from(api_version: str) -> bool:
    """Whether this API version takes ``changeFromQuantity`` and ``@idempotent``."""
    return api_version == "unstable" or api_version >= CHANGE_FROM_VERSION


def read_body(targets: Sequence[Target], location_id: int) -> dict[str, Any]:
    """The GraphQL request reading ``available`` of the targets at the location."""
    return {
        "query": READ_QUERY,
        "variables": {
            "ids": [item_gid(target.item_id) for target in targets],
            "locationId": location_gid(location_id),
        },
    }


def read_available(
    data: Mapping[str, Any], targets: Sequence[Target], location_id: int
) -> dict[int, int]:
    """``available`` per inventory item id from the read's ``data``.

    An unknown inventory item, or one not stocked at the location, is a ``PermanentError``
    naming the SKU: setting it cannot succeed until someone fixes the listing or the shop.
    """
    nodes = data.get("nodes")
    if not isinstance(nodes, list) or len(nodes) != len(targets):
        raise PayloadError("Shopify's inventory read has no 'nodes' list matching the items asked")
    current: dict[int, int] = {}
    for target, node in zip(targets, nodes, strict=True):
        if not isinstance(node, dict) or node.get("id") != item_gid(target.item_id):
            raise PermanentError(
                f"Shopify has no inventory item {target.item_id} (listing of {target.sku}); "
                "check the listing's channel_ref",
                reason="unknown_inventory_item",
            )
        level = node.get("inventoryLevel")
        if not isinstance(level, dict):
            raise PermanentError(
                f"inventory item {target.item_id} ({target.sku}) is not stocked at Shopify "
                f"location {location_id}; stock it there in the Shopify admin",
                reason="not_stocked",
            )
        current[target.item_id] = _available_of(level, target)
    return current


def _available_of(level: Mapping[str, Any], target: Target) -> int:
    for quantity in level.get("quantities") or ():
        if isinstance(quantity, dict) and quantity.get("name") == QUANTITY_NAME:
            value = quantity.get("quantity")
            if isinstance(value, int) and not isinstance(value, bool):
                return value
    raise PayloadError(f"Shopify's inventory read has no available quantity for {target.sku}")


@dataclass(frozen=True)
class SetRequest:
    """One ``inventorySetQuantities`` call; ``body`` is None when nothing needs to change."""

    body: dict[str, Any] | None
    values: Mapping[int, int]  # the value set per inventory item id (changed or not)


def set_request(
    targets: Sequence[Target],
    current: Mapping[int, int],
    *,
    location_id: int,
    api_version: str,
    idempotency_key: str,
    new_key: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> SetRequest:
    """The compare-and-set mutation for the targets whose figure differs from Shopify's.

    From 2026-01 it carries an ``@idempotent`` key, new for every request built: a resend of
    this body (after a timeout) repeats the key, a later round with fresh figures does not.
    """
    values = {target.item_id: target.value(current[target.item_id]) for target in targets}
    compare = "changeFromQuantity" if uses_change_from(api_version) else "compareQuantity"
    quantities = [
        {
            "inventoryItemId": item_gid(target.item_id),
            "locationId": location_gid(location_id),
            "quantity": values[target.item_id],
            compare: current[target.item_id],
        }
        for target in targets
        if values[target.item_id] != current[target.item_id]
    ]
    if not quantities:
        return SetRequest(None, values)
    variables: dict[str, Any] = {
        "input": {
            "name": QUANTITY_NAME,
            "reason": REASON,
            "referenceDocumentUri": reference_uri(idempotency_key),
            "quantities": quantities,
        }
    }
    if uses_change_from(api_version):
        variables["idempotencyKey"] = new_key()
        document = _SET_MUTATION.format(
            key_variable=", $idempotencyKey: String!",
            directive=" @idempotent(key: $idempotencyKey)",
        )
    else:
        document = _SET_MUTATION.format(key_variable="", directive="")
    return SetRequest({"query": document, "variables": variables}, values)


def reference_uri(idempotency_key: str) -> str:
    """Where Shopify's inventory history points for this change: the omniroute push."""
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in idempotency_key)
    return f"gid://omniroute/StockPush/{safe}"


def is_stale(data: Mapping[str, Any]) -> bool:
    """Whether the mutation was refused (only) because a compared quantity had moved.

    Any other user error is raised: ``TransientError`` for the retryable codes, otherwise
    ``PermanentError`` with Shopify's messages. The whole call is retried on a stale answer,
    never a part of it: Shopify's docs do not say whether the others in the call were set.
    """
    payload = data.get("inventorySetQuantities")
    if not isinstance(payload, dict):
        raise PayloadError("Shopify's answer to inventorySetQuantities has no payload")
    errors = payload.get("userErrors") or []
    if not isinstance(errors, list) or not all(isinstance(e, dict) for e in errors):
        raise PayloadError("Shopify's inventorySetQuantities userErrors is not a list of objects")
    codes = {str(error.get("code")) for error in errors}
    if not errors or codes <= STALE_CODES:
        return bool(errors)
    others = [error for error in errors if error.get("code") not in STALE_CODES]
    messages = "; ".join(_describe(error) for error in others)
    if codes - STALE_CODES <= TRANSIENT_CODES:
        raise TransientError(f"Shopify: {messages}", reason="shopify_busy")
    raise PermanentError(f"Shopify refused the stock update: {messages}", reason="user_error")


def _describe(error: Mapping[str, Any]) -> str:
    field = ".".join(str(part) for part in error.get("field") or ())
    where = f" ({field})" if field else ""
    return f"{error.get('code') or 'ERROR'}{where}: {error.get('message') or 'no message'}"
