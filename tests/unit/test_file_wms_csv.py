"""The CSV files of a file-based warehouse: pick lists and cancels written, confirmations read."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from omniroute.connectors import testkit
from omniroute.connectors.base import (
    CancelLine,
    CancelOutcome,
    CancelRequest,
    ConnectorRuntime,
    ReleaseLine,
    ReleaseOrder,
    ReleaseRequest,
    TransientError,
)
from omniroute.connectors.files import write_atomically
from omniroute.connectors.wms.file.confirmations import COLUMNS, REJECT, SHIP, read_confirmations
from omniroute.connectors.wms.file.connector import FileWmsConfig, FileWmsConnector
from omniroute.connectors.wms.file.pick_lists import (
    PICK_COLUMNS,
    file_stem,
    pick_list_name,
    render_cancel,
    render_pick_list,
)

DIGEST = "ab" * 32


def request(**changes: object) -> ReleaseRequest:
    values: dict[str, object] = {
        "fulfilment_order_id": 7,
        "order_id": 3,
        "order_reference": "#1001",
        "warehouse_code": "EAST",
        "ship_to": {
            "name": "Zoë O'Brien",
            "address1": '12 "Old" Mill, Unit 4',
            "city": "Cork",
            "country": "IE",
        },
        "lines": (
            ReleaseLine(11, "SKU-A", 2, properties=({"name": "Engraving", "value": "A, B"},)),
            ReleaseLine(12, "SKU-B", 1, gift_message="Happy\nbirthday"),
        ),
        "idempotency_key": "fo-7-0123456789abcdef",
        "service_level": "express",
        "note": "ring twice",
        "extra": {"carrier": "DHL"},
    }
    values.update(changes)
    return ReleaseRequest(**values)  # type: ignore[arg-type]


def rows_of(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8"), newline="")))


def test_a_pick_list_is_rfc4180_csv_with_a_header_and_one_row_per_line() -> None:
    body = render_pick_list(request())
    assert not body.startswith(b"\xef\xbb\xbf")
    assert body.split(b"\r\n")[0].decode() == ",".join(PICK_COLUMNS)
    assert body.endswith(b"\r\n")
    rows = rows_of(body)
    assert [(r["line_id"], r["sku"], r["quantity"]) for r in rows] == [
        ("11", "SKU-A", "2"),
        ("12", "SKU-B", "1"),
    ]
    first, second = rows
    assert first["ship_to_name"] == "Zoë O'Brien"
    assert first["ship_to_address1"] == '12 "Old" Mill, Unit 4'
    assert b'"12 ""Old"" Mill, Unit 4"' in body  # quotes doubled inside a quoted field
    assert (first["service_level"], first["carrier"], first["note"]) == (
        "express",
        "DHL",
        "ring twice",
    )
    assert first["line_properties"] == "Engraving: A, B"
    assert second["line_gift_message"] == "Happy\nbirthday"  # a line break stays in its field
    assert {r["order_number"] for r in rows} == {"#1001"}
    assert first["ship_to_company"] == "" and first["ship_to_phone"] == ""


def test_a_consolidated_pick_list_names_each_lines_own_order() -> None:
    req = request(
        lines=(
            ReleaseLine(11, "SKU-A", 1, order_id=3, order_reference="#1001"),
            ReleaseLine(21, "SKU-A", 1, order_id=4, order_reference="#1002"),
        ),
        orders=(
            ReleaseOrder(3, "#1001", note="first"),
            ReleaseOrder(4, "#1002", gift_message="for you"),
        ),
    )
    rows = rows_of(render_pick_list(req))
    assert [(r["order_id"], r["order_number"], r["note"], r["gift_message"]) for r in rows] == [
        ("3", "#1001", "first", ""),
        ("4", "#1002", "", "for you"),
    ]


def test_file_names_carry_the_release_key_and_are_safe() -> None:
    assert pick_list_name(request()) == "pick-fo-7-0123456789abcdef.csv"
    assert file_stem("../etc/passwd") == "_etc_passwd"
    assert file_stem("..") == "_"


def test_the_connector_writes_one_file_per_release_key(tmp_path: Path) -> None:
    runtime = ConnectorRuntime()
    config = {
        "outbound_directory": str(tmp_path / "out"),
        "inbound_directory": str(tmp_path / "in"),
    }
    wms = FileWmsConnector(config, {}, runtime=runtime)
    testkit.check_kind(FileWmsConnector, wms)
    first = wms.release(request())
    again = wms.release(request(note="changed"))
    assert first.external_ref == again.external_ref == "pick-fo-7-0123456789abcdef.csv"
    (only,) = (tmp_path / "out").iterdir()
    assert rows_of(only.read_bytes())[0]["note"] == "changed"
    cancel = CancelRequest(
        7,
        3,
        "#1001",
        "EAST",
        first.external_ref,
        (CancelLine(11, "SKU-A", 2),),
        True,
        "customer",
        "cancel-fo-7-5",
    )
    receipt = wms.cancel(cancel)
    assert receipt.outcome == CancelOutcome.CANCELLED
    (row,) = rows_of((tmp_path / "out" / "cancel-cancel-fo-7-5.csv").read_bytes())
    assert (row["entire"], row["sku"], row["quantity"], row["external_ref"]) == (
        "true",
        "SKU-A",
        "2",
        first.external_ref,
    )
    assert render_cancel(cancel).startswith(b"fulfilment_order_id,")


def test_a_file_that_cannot_be_written_is_transient(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    wms = FileWmsConnector(
        {"outbound_directory": str(blocker / "out"), "inbound_directory": str(tmp_path / "in")},
        {},
        runtime=ConnectorRuntime(),
    )
    with pytest.raises(TransientError):
        wms.release(request())


def test_an_atomic_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    write_atomically(tmp_path, "a.csv", b"1")
    write_atomically(tmp_path, "a.csv", b"2")
    assert [(p.name, p.read_bytes()) for p in tmp_path.iterdir()] == [("a.csv", b"2")]


@pytest.mark.parametrize(
    "config",
    [
        {"outbound_directory": "relative/out", "inbound_directory": "/srv/in"},
        {"outbound_directory": "/srv/x", "inbound_directory": "/srv/x"},
        {"outbound_directory": "/srv/x", "inbound_directory": "/srv/x/in"},
        {"outbound_directory": "/srv/../etc", "inbound_directory": "/srv/in"},
    ],
)
def test_folder_configs_that_are_refused(config: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        FileWmsConfig.model_validate(config)


HEADER = ",".join((*COLUMNS[:6], "tracking_number", "carrier", "shipped_at", "reason"))


def test_confirmations_read_with_bom_crlf_and_quoting() -> None:
    text = (
        f"{HEADER}\r\n"
        "ship,7,PKG-1,11,SKU-A,2,1Z1,UPS,2026-11-21T10:00:00+01:00,\r\n"
        ",7,PKG-1,12,SKU-B,1,,,,\r\n"
        "\r\n"
        'reject,8,,,,,,,,"no stock, bin empty"\r\n'
    )
    reading = read_confirmations(b"\xef\xbb\xbf" + text.encode(), digest=DIGEST)
    assert reading.problems == ()
    ship, reject = reading.confirmations
    assert (ship.kind, ship.fulfilment_order_id, ship.shipment_ref, ship.rows) == (
        SHIP,
        7,
        "PKG-1",
        (2, 3),
    )
    assert [(ln.sku, ln.quantity, ln.line_id) for ln in ship.lines] == [
        ("SKU-A", 2, 11),
        ("SKU-B", 1, 12),
    ]
    assert (ship.tracking_number, ship.carrier) == ("1Z1", "UPS")
    assert ship.shipped_at == datetime(2026, 11, 21, 9, 0)
    assert (reject.kind, reject.fulfilment_order_id, reject.reason) == (
        REJECT,
        8,
        "no stock, bin empty",
    )
    assert reject.rows == (5,)


def test_the_shipment_reference_falls_back_to_tracking_then_the_file() -> None:
    text = (
        "FULFILMENT_ORDER_ID, SKU ,Quantity,Tracking_Number,extra\n"
        "7,SKU-A,1,1Z1,ignored\n"
        "7,SKU-B,1,,\n"
        "9,SKU-C,3,,\n"
    )
    reading = read_confirmations(text.encode(), digest=DIGEST)
    refs = [(c.fulfilment_order_id, c.shipment_ref) for c in reading.confirmations]
    assert refs == [(7, "1Z1"), (7, f"file-{DIGEST[:16]}"), (9, f"file-{DIGEST[:16]}")]
    assert reading.confirmations[0].shipped_at is None  # naive times are UTC; none is none


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"", "the file is empty"),
        (b"sku,quantity\nA,1\n", "row 1: the header has no column fulfilment_order_id"),
        (f"{HEADER}\n".encode(), "no confirmation rows"),
        (b"\xff\xfe" + HEADER.encode(), "not UTF-8"),
        (f'{HEADER}\nship,7,"PKG,1\n'.encode(), "not valid CSV"),
        (f"{HEADER}\nship,7,P,,A,0,,,,\n".encode(), "row 2: quantity must be above 0"),
        (f"{HEADER}\nship,7,P,,A,-1,,,,\n".encode(), "row 2: quantity '-1' is not a whole number"),
        (f"{HEADER}\nship,x,P,,A,1,,,,\n".encode(), "row 2: fulfilment_order_id 'x' is not"),
        (f"{HEADER}\nship,7,P,,,1,,,,\n".encode(), "row 2: sku is empty"),
        (f"{HEADER}\nreturn,7,P,,A,1,,,,\n".encode(), "row 2: type 'return' is neither"),
        (f"{HEADER}\nreject,7,,,,,,,,\n".encode(), "row 2: a reject row needs a reason"),
        (f"{HEADER}\nship,7,P,,A,1,,,yesterday,\n".encode(), "row 2: shipped_at 'yesterday'"),
        (f"{HEADER}\nship,7,P,,A,1,,,,,surplus\n".encode(), "row 2: 11 fields, the header has 10"),
    ],
)
def test_bad_files_are_refused_with_a_reason_naming_the_row(body: bytes, problem: str) -> None:
    reading = read_confirmations(body, digest=DIGEST)
    assert reading.confirmations == ()
    assert any(problem in p for p in reading.problems), reading.problems


def test_one_bad_row_refuses_the_whole_file_and_every_bad_row_is_named() -> None:
    text = f"{HEADER}\nship,7,P,,A,1,,,,\nship,7,P,,B,x,,,,\nship,7,P,,,1,,,,\n"
    reading = read_confirmations(text.encode(), digest=DIGEST)
    assert reading.confirmations == ()
    assert [p.split(":")[0] for p in reading.problems] == ["row 3", "row 4"]
