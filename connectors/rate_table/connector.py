"""The rate-table carrier kind (``carrier_rates``): quotes from its configured table, and
bookings that only make a reference (the label is printed at the warehouse)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel

from omniroute.connectors.base import Capability, ConnectorRuntime
from omniroute.connectors.carriers import Booking, BookingRequest, Quote, RateRequest
from omniroute.connectors.rate_table.config import NoSecrets, RateTableConfig
from omniroute.connectors.rate_table.rates import RateTable


class RateTableConnector:
    """Quotes from a table. Booking issues a deterministic reference from the idempotency
    key (``RT-`` + 16 hex digits), used as both tracking number and label reference: a
    carrier rated this way is one the warehouse books itself, and the WMS's confirmation
    brings the real tracking number, which then replaces it."""

    kind: ClassVar[str] = "carrier_rates"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.CARRIER_RATES, Capability.CARRIER_BOOKING}
    )
    config_model: ClassVar[type[BaseModel]] = RateTableConfig
    secrets_model: ClassVar[type[BaseModel]] = NoSecrets

    def __init__(
        self,
        config: RateTableConfig | Mapping[str, Any],
        secrets: NoSecrets | Mapping[str, Any] | None = None,
        *,
        runtime: ConnectorRuntime | None = None,
    ) -> None:
        self.config = RateTableConfig.model_validate(config)
        self.table = RateTable.of(self.config)
        self._warehouses = frozenset(self.config.warehouses)

    def serves(self, warehouse_code: str) -> bool:
        return not self._warehouses or warehouse_code in self._warehouses

    def quote(self, request: RateRequest) -> tuple[Quote, ...]:
        return self.table.quote(request)

    def book(self, request: BookingRequest, quote: Quote) -> Booking:
        digest = hashlib.sha256(request.idempotency_key.encode()).hexdigest()[:16].upper()
        reference = f"RT-{digest}"
        return Booking(
            carrier=quote.carrier,
            service=quote.service,
            tracking_number=reference,
            label_ref=reference,
            amount=quote.amount,
            currency=quote.currency,
        )
