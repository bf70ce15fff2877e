"""Every connector kind installed through the entry-point group passes the kit's declaration
checks; the per-connector suites (tests/unit/test_<kind>.py) run the rest of the kit."""

from __future__ import annotations

import pytest

from omniroute.connectors import testkit
from omniroute.core.platform.live_connectors import ConnectorRegistry

REGISTRY = ConnectorRegistry.discover()
BUILT_IN = {
    "shopify",
    "rest_wms",
    "wms_file",
    "woocommerce",
    "square",
    "amazon_sp",
    "generic_webhook",
    "easypost",
    "aftership",
    "edi_x12",
    "edi_edifact",
    "carrier_rates",
    "carrier_rest",
    "erp_rest",
}


def test_every_built_in_kind_loads() -> None:
    assert REGISTRY.broken == {}
    assert set(REGISTRY.kinds) >= BUILT_IN


@pytest.mark.parametrize("kind", sorted(REGISTRY.kinds))
def test_kind_declares_itself_properly(kind: str) -> None:
    testkit.check_kind(REGISTRY.kinds[kind])
