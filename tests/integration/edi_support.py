"""What the EDI partner integration tests share: partners configured like the samples'
envelopes, posting a file, reading what was sent, building 850s."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from omniroute.connectors.edi_x12.serializer import (
    GroupOut,
    InterchangeOut,
    Party,
    TransactionOut,
    seg,
    write_interchange,
)
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.bootstrap import Context
from omniroute.core.channels import connector_admin
from tests.integration.builders import build_world, stock

SAMPLES = Path(__file__).parents[1] / "fixtures" / "third_party" / "x12"
TOKEN = "partner-intake-token-1"

BOOK: dict[str, Any] = {
    "92:0012": {
        "address1": "12 Store Rd",
        "city": "Albany",
        "region": "NY",
        "postal_code": "12207",
        "country": "US",
    },
    # the bots sample's N3/N4 has no country: the partner's book gives it
    "92:333333": {"address1": "Store 333333", "city": "Guaynabo", "country": "US"},
}


def x12_partner(ctx: Context, out: Path, name: str | None = None, **ids: str) -> int:
    config: dict[str, Any] = {
        "our_qualifier": ids["our_q"],
        "our_id": ids["our_id"],
        "their_qualifier": ids["their_q"],
        "their_id": ids["their_id"],
        "our_code": ids["our_id"],
        "their_code": ids["their_id"],
        "delivery_directory": str(out),
        "send": ["997", "TA1"],
        "locations": BOOK,
    }
    row = connector_admin.create_connector(
        ctx,
        kind="edi_x12",
        name=name or f"partner {ids['their_id']}",
        config=config,
        secrets={"intake_token": TOKEN},
        enabled=True,
        actor="test",
    )
    return row.id


def edinet_partner(ctx: Context, out: Path) -> int:
    return x12_partner(ctx, out, our_q="ZZ", our_id="PARTNERID", their_q="01", their_id="000123456")


def post_file(client: TestClient, partner: int, body: bytes, token: str = TOKEN) -> Any:
    return client.post(
        f"/edi/{partner}",
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/edi-x12"},
    )


def sent_documents(out: Path, prefix: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted(out.glob(f"{prefix}_*.x12"))]


def our_850(control: int, po: str) -> bytes:
    body = [
        seg("BEG", "00", "SA", po, None, "20261207"),
        seg("N1", "ST", "Store 12", "92", "0012"),
        seg("PO1", "1", "2", "EA", "4.00", None, "UP", "012345678905"),
        seg("CTT", "1"),
    ]
    out = InterchangeOut(
        Party("01", "000123456"),
        Party("ZZ", "PARTNERID"),
        control,
        dt.datetime(2026, 12, 7, 9, 0),
        groups=[GroupOut("000123456", "PARTNERID", 5, [TransactionOut("850", 1, body)])],
    )
    return write_interchange(out)


EDIFACT = Path(__file__).parents[1] / "fixtures" / "third_party" / "edifact"


def edifact_partner(ctx: Context, out: Path, their: str, our: str) -> int:
    book = {
        "9:PARTNER1": {
            "address1": "1 Dock Rd",
            "city": "Newark",
            "region": "NJ",
            "postal_code": "07102",
            "country": "US",
        }
    }
    row = connector_admin.create_connector(
        ctx,
        kind="edi_edifact",
        name=f"edifact {their}",
        config={
            "our_id": our,
            "their_id": their,
            "default_currency": "EUR",
            "delivery_directory": str(out),
            "locations": book,
        },
        secrets={"intake_token": TOKEN},
        enabled=True,
        actor="test",
    )
    return row.id


def po_interchange(po: str, *segments: Any) -> bytes:
    out = InterchangeOut(
        Party("01", "000123456"),
        Party("ZZ", "PARTNERID"),
        int(po.rsplit("-", 1)[-1]),
        dt.datetime(2026, 12, 7, 9, 0),
        groups=[
            GroupOut(
                "000123456",
                "PARTNERID",
                7,
                [TransactionOut("850", n + 1, body) for n, body in enumerate(segments)],
            )
        ],
    )
    return write_interchange(out)


def edi_world(ctx: Context, wms: FakeWms) -> dict[str, int]:
    """Two warehouses with MUG, TEA and SHIRT in stock at EAST."""
    built = build_world(ctx, wms.base_url)
    for sku in ("MUG", "TEA", "SHIRT"):
        stock(ctx, built.warehouse_ids["EAST"], sku, 100)
    return built.warehouse_ids


def agree(ctx: Context, partner: int, *, drop: tuple[str, ...] = (), **changes: Any) -> None:
    """Change a partner's agreement (its connector config): ``changes`` set, ``drop`` unset."""
    from omniroute.core.platform.db import unit_of_work
    from omniroute.core.platform.models import Connector

    with unit_of_work(ctx.sessions) as s:
        row = s.get_one(Connector, partner)
        kept = {k: v for k, v in row.config.items() if k not in drop}
        row.config = {**kept, **changes}


BOTS_GTINS = ("2000100873151", "2000100873168", "2000100873175", "2000100873182")


def bots_orders_in(
    ctx: Context, client: TestClient, partner: int, east: int, gtins: tuple[str, ...] = BOTS_GTINS
) -> None:
    """The bots sample's three ORDERS posted and processed, with MUG in stock for them."""
    from omniroute.core.stock import warehouses
    from omniroute.worker.handlers import drain

    stock(ctx, east, "MUG", 20_000)  # the sample orders ten thousand of one
    for gtin in gtins:
        warehouses.create_alias(ctx, partner, f"gtin:{gtin}", "MUG", actor="test")
    post_file(client, partner, (EDIFACT / "bots_my_first_plugin_order01.edi").read_bytes())
    drain(ctx)
