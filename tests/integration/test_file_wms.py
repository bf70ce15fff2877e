"""A file-based warehouse end to end: release → pick list file → confirmation file → shipped.

Orders come in as signed Shopify webhooks shaped by the recorded sample order; the warehouse
is a ``wms_file`` connector with two folders under ``tmp_path``; the clock is pinned.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from omniroute.cli.main import app
from omniroute.connectors.wms.file.pick_lists import PICK_COLUMNS
from omniroute.core.bootstrap import Context, bootstrap
from omniroute.core.channels import connector_admin
from omniroute.core.exceptions import queue as exception_queue
from omniroute.core.fulfilment import file_confirmations
from omniroute.core.fulfilment.file_inbox import sweep_folders, turn_for_warehouse
from omniroute.core.fulfilment.release import deliver_outbox
from omniroute.core.housekeeping.sweeper import sweep
from omniroute.core.intake.webhooks import receive_webhook
from omniroute.core.orders.cancellation import cancel_order
from omniroute.core.platform.clock import utcnow
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.errors import Conflict, Invalid
from omniroute.core.platform.models import (
    FulfilmentOrder,
    InboundMessage,
    OutboxMessage,
    SalesOrder,
    Shipment,
    StockLevel,
)
from omniroute.core.stock import warehouses
from omniroute.worker.handlers import drain
from tests.conftest import SECRET_KEY, make_settings
from tests.integration.builders import SECRET, sample_order, signed_headers, stock

GREEN, RED = "IPOD2008GREEN", "IPOD2008RED"
ORDER_ID = 450789469
CREATED = "2026-11-20T09:00:00-05:00"
HEADER = (
    "type,fulfilment_order_id,shipment_ref,line_id,sku,quantity,tracking_number,carrier,"
    "shipped_at,reason"
)


@dataclass
class PinnedClock:
    at: datetime

    def now(self) -> datetime:
        return self.at


@dataclass
class FileWorld:
    ctx: Context
    shop_id: int
    wms_id: int
    east: int
    west: int
    outbound: Path
    inbound: Path


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[FileWorld]:
    # Pinned a day past the wall clock: rows stamped at insert are due, on any date.
    clock = PinnedClock(utcnow().replace(microsecond=0) + timedelta(days=1))
    ctx = bootstrap(make_settings(db_url), clock=clock)
    try:
        outbound, inbound = tmp_path / "east" / "out", tmp_path / "east" / "in"
        wms = connector_admin.create_connector(
            ctx,
            kind="wms_file",
            name="east-files",
            config={"outbound_directory": str(outbound), "inbound_directory": str(inbound)},
            secrets={},
            enabled=True,
            actor="test",
        )
        shop = connector_admin.create_connector(
            ctx,
            kind="shopify",
            name="shop",
            config={},
            secrets={"webhook_secret": SECRET},
            enabled=True,
            actor="test",
        )
        ids = {}
        for code, priority in (("EAST", 1), ("WEST", 2)):
            ids[code] = warehouses.create_warehouse(
                ctx,
                {
                    "code": code,
                    "name": code,
                    "address": {"postal_code": "10001", "country": "US"},
                    "country": "US",
                    "postal_code": "10001",
                    "priority": priority,
                    "enabled": True,
                    "wms_connector_id": wms.id,
                },
                actor="test",
            ).id
        for sku in (GREEN, RED):
            stock(ctx, ids["EAST"], sku, 5)
        yield FileWorld(ctx, shop.id, wms.id, ids["EAST"], ids["WEST"], outbound, inbound)
    finally:
        ctx.close()


def order_in(w: FileWorld, lines: list[tuple[str, int]], **changes: Any) -> None:
    order = sample_order()
    template = order["line_items"][0]
    order["updated_at"] = CREATED
    order["line_items"] = [
        {**template, "id": ORDER_ID * 10 + i, "sku": sku, "quantity": qty}
        for i, (sku, qty) in enumerate(lines)
    ]
    order.update(changes)
    body = json.dumps(order).encode()
    receive_webhook(w.ctx, w.shop_id, signed_headers(body), body)
    drain(w.ctx)


def the_fo(w: FileWorld) -> FulfilmentOrder:
    with unit_of_work(w.ctx.sessions) as s:
        return s.scalars(select(FulfilmentOrder).order_by(FulfilmentOrder.id)).first()  # type: ignore[return-value]


def order_status(w: FileWorld) -> str:
    with unit_of_work(w.ctx.sessions) as s:
        return s.scalars(select(SalesOrder.status)).one()


def levels(w: FileWorld, warehouse_id: int) -> dict[str, tuple[int, int]]:
    with unit_of_work(w.ctx.sessions) as s:
        return {
            sku: (on_hand, reserved)
            for sku, on_hand, reserved in s.execute(
                select(StockLevel.sku, StockLevel.on_hand, StockLevel.reserved).where(
                    StockLevel.warehouse_id == warehouse_id
                )
            )
        }


def shipment_count(w: FileWorld) -> int:
    with unit_of_work(w.ctx.sessions) as s:
        return len(s.scalars(select(Shipment.id)).all())


def drop(w: FileWorld, name: str, text: str, *, crlf: bool = True, bom: bool = False) -> Path:
    """A confirmation file written as a warehouse would: a temp name, then a rename."""
    w.inbound.mkdir(parents=True, exist_ok=True)
    body = text.replace("\n", "\r\n") if crlf else text
    data = (b"\xef\xbb\xbf" if bom else b"") + body.encode("utf-8")
    temp = w.inbound / f".{name}.part"
    temp.write_bytes(data)
    return temp.rename(w.inbound / name)


def pick_files(w: FileWorld) -> list[Path]:
    return sorted(p for p in w.outbound.iterdir() if p.name.startswith("pick-"))


def test_release_file_confirmation_file_and_shipped(world: FileWorld) -> None:
    w = world
    order_in(w, [(GREEN, 1), (RED, 2)], note='Leave at "side" door, please')
    fo = the_fo(w)
    assert fo.status == "released" and order_status(w) == "released"

    # One pick list, named for the fulfilment order and its release key, RFC 4180 CSV.
    (pick,) = pick_files(w)
    assert pick.name.startswith(f"pick-fo-{fo.id}-") and pick.name == fo.external_ref
    raw = pick.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8"), newline="")))
    assert tuple(rows[0]) == PICK_COLUMNS
    assert [(r["sku"], r["quantity"]) for r in rows] == [(GREEN, "1"), (RED, "2")]
    assert {r["fulfilment_order_id"] for r in rows} == {str(fo.id)}
    assert rows[0]["note"] == 'Leave at "side" door, please'
    assert b'"Leave at ""side"" door, please"' in raw
    assert rows[0]["ship_to_country"] and rows[0]["service_level"]
    assert levels(w, w.east) == {GREEN: (5, 1), RED: (5, 2)}

    # A partial shipment: GREEN only, with a BOM and CRLF, offsets on the time.
    first = f"{HEADER}\nship,{fo.id},PKG-1,,{GREEN},1,1Z999,UPS,2026-11-21T10:00:00+01:00,\n"
    drop(w, "conf-1.csv", first, bom=True)
    assert sweep_folders(w.ctx) == 1
    assert (w.inbound / "done" / "conf-1.csv").exists()
    assert the_fo(w).status == "partially_shipped" and order_status(w) == "partially_shipped"
    assert levels(w, w.east) == {GREEN: (4, 0), RED: (5, 2)}
    with unit_of_work(w.ctx.sessions) as s:
        ship = s.scalars(select(Shipment)).one()
        assert (ship.external_ref, ship.tracking_number, ship.carrier) == ("PKG-1", "1Z999", "UPS")
        assert ship.shipped_at == datetime(2026, 11, 21, 9, 0)

    # The same file again under another name, and the same confirmation in new bytes (LF,
    # no BOM): nothing ships twice.
    drop(w, "conf-1-again.csv", first, bom=True)
    drop(w, "conf-1-lf.csv", first, crlf=False)
    assert sweep_folders(w.ctx) == 2
    assert sorted(p.name for p in (w.inbound / "done").iterdir()) == [
        "conf-1-again.csv",
        "conf-1-lf.csv",
        "conf-1.csv",
    ]
    assert shipment_count(w) == 1 and levels(w, w.east) == {GREEN: (4, 0), RED: (5, 2)}
    with unit_of_work(w.ctx.sessions) as s:
        assert len(s.scalars(select(InboundMessage.id)).all()) == 3  # order + 2 distinct files

    # The rest ships: the order is shipped.
    drop(w, "conf-2.csv", f"{HEADER}\nship,{fo.id},PKG-2,,{RED},2,1Z998,UPS,,\n")
    sweep_folders(w.ctx)
    drain(w.ctx)
    assert the_fo(w).status == "shipped" and order_status(w) == "shipped"
    assert levels(w, w.east) == {GREEN: (4, 0), RED: (3, 0)}
    assert exception_queue.list_exceptions(w.ctx) == []


def test_a_retried_release_rewrites_the_same_single_file(world: FileWorld) -> None:
    w = world
    order_in(w, [(GREEN, 1)])
    (pick,) = pick_files(w)
    before = pick.read_bytes()
    with unit_of_work(w.ctx.sessions) as s:
        outbox_id = s.scalars(select(OutboxMessage.id)).one()
        # As if the answer were lost: the row is claimed again and sent again.
        s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == outbox_id)
            .values(status="pending", next_attempt_at=utcnow() - timedelta(seconds=1))
        )
    pick.write_bytes(b"tampered")
    assert deliver_outbox(w.ctx, outbox_id) == "sent"
    assert pick_files(w) == [pick] and pick.read_bytes() == before
    assert [p.name for p in w.outbound.iterdir()] == [pick.name]  # no temp file left behind


def test_a_bad_file_goes_to_failed_with_its_reasons_and_an_exception(world: FileWorld) -> None:
    w = world
    order_in(w, [(GREEN, 1)])
    fo = the_fo(w)
    drop(
        w,
        "bad.csv",
        f"{HEADER}\nship,{fo.id},PKG-1,,{GREEN},two,,,,\nship,{fo.id},PKG-1,,,1,,,,\n",
    )
    sweep_folders(w.ctx)
    assert (w.inbound / "failed" / "bad.csv").exists()
    reason = (w.inbound / "failed" / "bad.csv.reason.txt").read_text()
    assert "row 2: quantity 'two' is not a whole number" in reason
    assert "row 3: sku is empty" in reason
    (exc,) = exception_queue.list_exceptions(w.ctx)
    assert exc.reason == "invalid_payload" and exc.inbound_message_id is not None
    assert exc.detail["file"] == "bad.csv" and len(exc.detail["problems"]) == 2
    assert shipment_count(w) == 0 and levels(w, w.east)[GREEN] == (5, 1)

    # Dropped again: the same stored row, failed again, nothing applied.
    drop(
        w, "bad.csv", f"{HEADER}\nship,{fo.id},PKG-1,,{GREEN},two,,,,\nship,{fo.id},PKG-1,,,1,,,,\n"
    )
    sweep_folders(w.ctx)
    assert (w.inbound / "failed" / "bad.csv.1").exists()
    assert "read before as inbox row" in (w.inbound / "failed" / "bad.csv.1.reason.txt").read_text()


def test_too_many_units_fail_the_file_and_a_replay_after_the_fix_applies(
    world: FileWorld,
) -> None:
    w = world
    order_in(w, [(GREEN, 1), (RED, 2)])
    fo = the_fo(w)
    drop(
        w,
        "over.csv",
        f"{HEADER}\nship,{fo.id},PKG-9,,{GREEN},1,,,,\nship,{fo.id},PKG-9,,{RED},3,,,,\n",
    )
    (taken,) = turn_for_warehouse(w.ctx, "EAST")
    assert taken.status == "failed"
    assert f"rows 2, 3: fulfilment order {fo.id}" in taken.reasons[0]
    assert "1 more than fulfilment order" in taken.reasons[0]
    assert shipment_count(w) == 0
    (exc,) = exception_queue.list_exceptions(w.ctx)

    # Replayed from the queue unchanged: it fails again for the same reason, nothing moves.
    exception_queue.retry_exception(w.ctx, exc.id, actor="ops")
    drain(w.ctx)
    with unit_of_work(w.ctx.sessions) as s:
        assert s.get_one(InboundMessage, taken.inbound_id).status == "failed"
    assert shipment_count(w) == 0 and levels(w, w.east) == {GREEN: (5, 1), RED: (5, 2)}


def test_a_replayed_file_applies_what_it_could_not_before(world: FileWorld) -> None:
    w = world
    order_in(w, [(GREEN, 1)])
    fo = the_fo(w)
    with unit_of_work(w.ctx.sessions) as s:  # the release not yet answered: not shippable
        s.execute(
            update(FulfilmentOrder).where(FulfilmentOrder.id == fo.id).values(status="failed")
        )
    drop(w, "early.csv", f"{HEADER}\nship,{fo.id},PKG-1,,{GREEN},1,,,,\n")
    sweep_folders(w.ctx)
    (exc,) = exception_queue.list_exceptions(w.ctx)
    with unit_of_work(w.ctx.sessions) as s:
        s.execute(
            update(FulfilmentOrder).where(FulfilmentOrder.id == fo.id).values(status="released")
        )
    exception_queue.retry_exception(w.ctx, exc.id, actor="ops")
    drain(w.ctx)
    assert shipment_count(w) == 1 and the_fo(w).status == "shipped"
    assert exception_queue.list_exceptions(w.ctx) == []


def test_a_rejection_file_routes_the_lines_elsewhere_once(world: FileWorld) -> None:
    w = world
    stock(w.ctx, w.west, GREEN, 5)
    order_in(w, [(GREEN, 1)])
    fo = the_fo(w)
    text = f'{HEADER}\nreject,{fo.id},,,,,,,,"damaged, cannot pick"\n'
    drop(w, "reject.csv", text)
    sweep_folders(w.ctx)
    drain(w.ctx)
    assert (w.inbound / "done" / "reject.csv").exists()
    with unit_of_work(w.ctx.sessions) as s:
        fos = [
            (f.warehouse_id, f.status)
            for f in s.scalars(select(FulfilmentOrder).order_by(FulfilmentOrder.id))
        ]
    assert fos == [(w.east, "rejected"), (w.west, "released")]
    assert levels(w, w.east)[GREEN] == (5, 0) and levels(w, w.west) == {GREEN: (5, 1)}
    # The same rejection in another file: nothing moves again.
    drop(w, "reject-again.csv", text + "\n")
    sweep_folders(w.ctx)
    assert (w.inbound / "done" / "reject-again.csv").exists()
    with unit_of_work(w.ctx.sessions) as s:
        assert len(s.scalars(select(FulfilmentOrder.id)).all()) == 2


def test_a_cancel_after_release_writes_a_cancel_file(world: FileWorld) -> None:
    w = world
    order_in(w, [(GREEN, 1), (RED, 2)])
    fo = the_fo(w)
    with unit_of_work(w.ctx.sessions) as s:
        order_id = s.scalars(select(SalesOrder.id)).one()
    cancel_order(w.ctx, order_id, reason="customer", actor="ops", notify_channel=False)
    drain(w.ctx)
    (cancel,) = [p for p in w.outbound.iterdir() if p.name.startswith("cancel-")]
    assert cancel.name.startswith(f"cancel-cancel-fo-{fo.id}-")
    rows = list(csv.DictReader(io.StringIO(cancel.read_text("utf-8"), newline="")))
    assert sorted((r["sku"], r["quantity"], r["entire"]) for r in rows) == [
        (GREEN, "1", "true"),
        (RED, "2", "true"),
    ]
    assert the_fo(w).status == "cancelled" and levels(w, w.east) == {GREEN: (5, 0), RED: (5, 0)}


def test_the_sweeper_takes_the_folder_and_leaves_unfinished_files(world: FileWorld) -> None:
    w = world
    order_in(w, [(GREEN, 1)])
    fo = the_fo(w)
    w.inbound.mkdir(parents=True, exist_ok=True)
    (w.inbound / "half.csv.part").write_text("type,fulfil")
    drop(w, "conf.csv", f"{HEADER}\nship,{fo.id},PKG-1,,{GREEN},1,,,,\n")
    sweep(w.ctx)
    assert (w.inbound / "done" / "conf.csv").exists() and (w.inbound / "half.csv.part").exists()
    assert the_fo(w).status == "shipped"


def test_a_confirmation_for_another_warehouse_is_refused(world: FileWorld, tmp_path: Path) -> None:
    w = world
    other = connector_admin.create_connector(
        w.ctx,
        kind="wms_file",
        name="west-files",
        config={
            "outbound_directory": str(tmp_path / "west" / "out"),
            "inbound_directory": str(tmp_path / "west" / "in"),
        },
        secrets={},
        enabled=True,
        actor="test",
    )
    warehouses.update_warehouse(w.ctx, w.west, {"wms_connector_id": other.id}, actor="ops")
    order_in(w, [(GREEN, 1)])
    fo = the_fo(w)  # at EAST
    west_in = tmp_path / "west" / "in"
    (west_in / "conf.csv").write_text(f"{HEADER}\nship,{fo.id},PKG-1,,{GREEN},1,,,,\n")
    (taken,) = turn_for_warehouse(w.ctx, "WEST")
    assert taken.status == "failed" and "is not one of this warehouse's" in taken.reasons[0]
    assert shipment_count(w) == 0


def test_folders_are_checked(world: FileWorld, tmp_path: Path) -> None:
    w = world

    def create(name: str, out: str, inn: str) -> None:
        connector_admin.create_connector(
            w.ctx,
            kind="wms_file",
            name=name,
            config={"outbound_directory": out, "inbound_directory": inn},
            secrets={},
            enabled=True,
            actor="test",
        )

    with pytest.raises(Invalid):
        create("relative", "out", str(tmp_path / "x"))
    with pytest.raises(Invalid):
        create("same", str(tmp_path / "s"), str(tmp_path / "s"))
    with pytest.raises(Conflict) as shared:
        create("shares", str(w.inbound), str(tmp_path / "other-in"))
    assert shared.value.code == "folder_shared"
    with pytest.raises(Conflict):
        create("inside", str(tmp_path / "o2"), str(w.outbound / "sub"))
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(Invalid):
        create("blocked", str(blocker / "out"), str(tmp_path / "in3"))
    create("fine", str(tmp_path / "f" / "out"), str(tmp_path / "f" / "in"))
    assert (tmp_path / "f" / "out").is_dir() and (tmp_path / "f" / "in").is_dir()
    shutil.rmtree(tmp_path / "f")


def test_the_cli_takes_one_warehouses_folder(
    world: FileWorld, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = world
    order_in(w, [(GREEN, 1)])
    fo = the_fo(w)
    drop(w, "conf.csv", f"{HEADER}\nship,{fo.id},PKG-1,,{GREEN},1,,,,\n")
    monkeypatch.setenv("OMNIROUTE_DATABASE_URL", db_url)
    monkeypatch.setenv("OMNIROUTE_SECRET_KEY", SECRET_KEY)
    runner = CliRunner()
    done = runner.invoke(app, ["wms", "file-turn", "--warehouse", "EAST"])
    assert done.exit_code == 0, done.output
    line = json.loads(done.output.strip())
    assert (line["file"], line["status"], line["reasons"]) == ("conf.csv", "done", [])
    assert the_fo(w).status == "shipped"
    unknown = runner.invoke(app, ["wms", "file-turn", "--warehouse", "NOPE"])
    assert unknown.exit_code == 1 and "does not exist" in unknown.output


def test_a_crash_while_applying_leaves_the_file_and_the_stored_row_applies_later(
    world: FileWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = world
    order_in(w, [(GREEN, 1)])
    fo = the_fo(w)
    real = file_confirmations.confirm_shipment

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database went away")

    monkeypatch.setattr(file_confirmations, "confirm_shipment", crash)
    drop(w, "conf.csv", f"{HEADER}\nship,{fo.id},PKG-1,,{GREEN},1,,,,\n")
    (taken,) = turn_for_warehouse(w.ctx, "EAST")
    assert taken.status == "stored" and (w.inbound / "conf.csv").exists()
    assert shipment_count(w) == 0

    # Once its claim is stale the sweeper hands the stored row to processing, which applies it.
    monkeypatch.setattr(file_confirmations, "confirm_shipment", real)
    clock = w.ctx.clock
    assert isinstance(clock, PinnedClock)
    clock.at += timedelta(seconds=w.ctx.settings.claim_timeout + 1)
    # The same sweep finds the file stored already and files it under done/.
    sweep(w.ctx)
    drain(w.ctx)
    assert shipment_count(w) == 1 and the_fo(w).status == "shipped"
    assert (w.inbound / "done" / "conf.csv").exists() and not (w.inbound / "conf.csv").exists()
