"""A consolidated fulfilment order and the ERP: each order of the group gets its own sales
order when the warehouse takes the shared fulfilment order, and its own invoice, with only
its own lines, when it ships."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from omniroute.connectors.erp_rest.demo_server import FakeErp
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.bootstrap import Context
from omniroute.core.channels import connector_admin
from omniroute.core.erp.reconciliation import erp_reconciliation
from omniroute.core.fulfilment.shipments import ShipmentInput, confirm_shipment
from omniroute.core.platform.clock import utcnow
from omniroute.worker.handlers import drain
from tests.integration.test_consolidation import (  # noqa: F401 - the shop fixture
    Shop,
    fulfilment_orders,
    place,
    shop,
    window_ends,
)
from tests.invariants.checks import assert_invariants


@pytest.fixture
def erp() -> Iterator[FakeErp]:
    with FakeErp() as server:
        yield server


def test_each_order_of_a_group_is_posted_and_invoiced_on_its_own(
    ctx: Context,
    shop: Shop,  # noqa: F811
    wms: FakeWms,
    erp: FakeErp,
) -> None:
    connector_admin.create_connector(
        ctx,
        kind="erp_rest",
        name="erp",
        config={"base_url": erp.base_url, "stock_path": "", "items_path": ""},
        secrets={},
        enabled=True,
        actor="test",
    )
    first = place(ctx, shop, 911, [("A", 1)])
    second = place(ctx, shop, 912, [("B", 2)])
    assert window_ends(ctx) == 1
    orders = sorted(erp.bodies("/sales-orders"), key=lambda d: d["reference"])
    assert [(d["reference"], [(i["item_code"], i["qty"]) for i in d["items"]]) for d in orders] == [
        (f"order-{first}", [("A", 1)]),
        (f"order-{second}", [("B", 2)]),
    ]

    (fo,) = fulfilment_orders(ctx)
    confirm_shipment(ctx, fo.id, ShipmentInput(external_ref="S-1", lines=None), actor="wms")
    drain(ctx)
    invoices = sorted(erp.bodies("/invoices"), key=lambda d: d["reference"])
    assert [(d["sales_order_reference"], [(i["item_code"], i["qty"]) for i in d["items"]])
            for d in invoices] == [
        (f"order-{first}", [("A", 1)]),
        (f"order-{second}", [("B", 2)]),
    ]  # fmt: skip
    today = utcnow().date()  # the context's clock is the system's; a day either side
    days = {"date_from": today - timedelta(days=1), "date_to": today + timedelta(days=1)}
    assert erp_reconciliation(ctx, **days)["clean"]
    assert_invariants(ctx, wms)
