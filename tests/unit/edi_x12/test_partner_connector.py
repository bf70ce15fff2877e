"""The ``edi_x12`` connector kind on its own: declaration, token, cutting files into
interchanges, reading them into sets and replies, rendering replies, delivering them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from pydantic import ValidationError

from omniroute.connectors import testkit
from omniroute.connectors.base import ConnectorRuntime, PayloadError, SignatureError
from omniroute.connectors.edi import CHILD_TOPIC, EdiPartner, Reading, Rendered, collect
from omniroute.connectors.edi_delivery import from_payload, to_payload
from omniroute.connectors.edi_x12.connector import X12PartnerConnector
from omniroute.connectors.edi_x12.inbound import AckReceived, read_inbound
from omniroute.connectors.edi_x12.interchanges import GROUP, INTERCHANGE

SAMPLES = Path(__file__).parents[2] / "fixtures" / "third_party" / "x12"
EDINET = (SAMPLES / "edinet_x12.850.edi").read_bytes()
BOTS = (SAMPLES / "bots_850-004010-01.x12").read_bytes()
TOKEN = "s3cret-token"
AT = dt.datetime(2026, 12, 7, 10, 30)


def _config(**extra: Any) -> dict[str, Any]:
    return {
        "our_qualifier": "ZZ",
        "our_id": "PARTNERID",
        "their_qualifier": "01",
        "their_id": "000123456",
        "our_code": "PARTNERID",
        "their_code": "000123456",
        **extra,
    }


def _partner(**extra: Any) -> X12PartnerConnector:
    return X12PartnerConnector(
        _config(**extra), {"intake_token": TOKEN}, runtime=ConnectorRuntime()
    )


def test_kind_declaration_and_protocols() -> None:
    partner = _partner()
    testkit.check_kind(X12PartnerConnector, partner)
    assert isinstance(partner, EdiPartner)


def test_config_refuses_what_the_agreement_cannot_hold() -> None:
    with pytest.raises(ValidationError, match="our_id"):
        X12PartnerConnector(_config(our_id="X" * 16), {}, runtime=ConnectorRuntime())
    with pytest.raises(ValidationError, match="qualifier>:<code"):
        X12PartnerConnector(
            _config(locations={"0012": {"address1": "a", "city": "b", "country": "US"}}),
            {},
            runtime=ConnectorRuntime(),
        )
    with pytest.raises(ValidationError, match="not both"):
        _partner(delivery_url="https://x.example", delivery_directory="/tmp/x")  # noqa: S108
    with pytest.raises(ValueError, match="differ"):
        _partner(element_separator="~")


def test_token_is_checked_and_webhooks_are_refused() -> None:
    partner = _partner()
    partner.check_token(f"Bearer {TOKEN}")
    partner.check_token(f"bearer {TOKEN}")
    for wrong in (None, TOKEN, "Bearer nope", f"Basic {TOKEN}"):
        with pytest.raises(SignatureError):
            partner.check_token(wrong)
    no_token = X12PartnerConnector(_config(), {}, runtime=ConnectorRuntime())
    with pytest.raises(SignatureError, match="no intake_token"):
        no_token.check_token(f"Bearer {TOKEN}")
    with pytest.raises(SignatureError, match="/edi/"):
        partner.verify_webhook({}, EDINET)


def test_a_file_of_interchanges_with_different_separators_is_cut_at_each_isa() -> None:
    # edinet: "*", ">" and "~" with a BOM; bots: "*", "@" and a line break as terminator
    pieces = _partner().split(EDINET + b"\n" + BOTS)
    assert [p.dedupe_key for p in pieces] == [
        "01:000123456:000000055",
        "08:AAAAAAAAAA:112240001",
    ]
    assert pieces[0].body.startswith(b"ISA*00") and not pieces[0].body.startswith(b"\xef")
    assert pieces[1].body.rstrip() == BOTS.rstrip()
    assert all(p.problem is None for p in pieces)


def test_bytes_that_are_not_x12_are_one_piece_keyed_by_their_hash() -> None:
    (piece,) = _partner().split(b"UNA:+.? 'UNB+UNOC:3")
    assert piece.dedupe_key.startswith("sha256:") and piece.problem


@pytest.mark.parametrize(
    ("raw", "ids"),
    [
        (EDINET, {}),
        (
            BOTS,
            {
                "their_qualifier": "08",
                "their_id": "AAAAAAAAAA",
                "our_id": "test22222",
                "locations": {"92:333333": {"address1": "a", "city": "b", "country": "US"}},
            },
        ),
    ],
)
def test_each_sample_850_is_a_child_that_maps_alone(raw: bytes, ids: dict[str, Any]) -> None:
    partner = _partner(**ids)
    reading = partner.read_interchange(partner.split(raw)[0].body)
    assert not reading.rejected
    (child,) = reading.children
    assert child.set_id == "850"
    event = partner.parse_webhook({}, child.body)
    assert event.topic == CHILD_TOPIC and event.order is not None
    canonical = testkit.check_maps_to_canonical(partner, event.order)
    assert canonical["external_id"] == child.reference
    assert {r.doc_type for r in reading.replies} >= {"997"}


def test_a_set_we_do_not_take_is_a_child_that_fails_with_its_reason() -> None:
    invoice = (SAMPLES / "bots_810-004010-01.x12").read_bytes()
    head = invoice.split(b"\n", 1)[0].decode()
    parts = head.split("*")
    partner = _partner(
        their_qualifier=parts[5],
        their_id=parts[6].strip(),
        our_qualifier=parts[7],
        our_id=parts[8].strip(),
    )
    reading = partner.read_interchange(invoice)
    assert reading.children and all(c.set_id == "810" for c in reading.children)
    assert any("not one we take" in p for p in reading.problems)
    with pytest.raises(PayloadError, match="810"):
        partner.parse_webhook({}, reading.children[0].body)


def test_replies_render_with_the_numbers_given_and_read_back() -> None:
    partner = _partner(version="005010", send=["997"])
    reading = partner.read_interchange(EDINET)
    (reply,) = reading.replies
    assert reply.scopes == (INTERCHANGE, GROUP)
    doc = partner.render(reply, {INTERCHANGE: 42, GROUP: 7}, AT)
    assert doc.filename == "997_000123456_000000042.x12"
    assert b"*00501*000000042*" in doc.body and b"GS*FA*PARTNERID*000123456" in doc.body
    (ack,) = [e for e in read_inbound(doc.body, channel="c") if isinstance(e, AckReceived)]
    assert ack.ack.code == "A" and ack.ack.group_control_number == "2"
    assert from_payload(to_payload(doc)) == doc


def test_documents_are_written_atomically_into_the_directory(tmp_path: Path) -> None:
    partner = _partner(delivery_directory=str(tmp_path / "out"))
    doc = Rendered("997", b"ISA*...~", "997_X_000000001.x12", "000000001")
    receipt = partner.send_document(doc, idempotency_key="k1")
    assert receipt.external_ref == doc.filename
    assert [p.name for p in (tmp_path / "out").iterdir()] == [doc.filename]
    partner.send_document(doc, idempotency_key="k1")  # again: the same file, no temp left
    assert [p.name for p in (tmp_path / "out").iterdir()] == [doc.filename]


@respx.mock
def test_documents_are_posted_with_an_idempotency_key() -> None:
    route = respx.post("https://partner.example/edi").mock(return_value=httpx.Response(200))
    partner = X12PartnerConnector(
        _config(delivery_url="https://partner.example/edi"),
        {"outbound_token": "theirs"},
        runtime=ConnectorRuntime(allow_private_urls=True),
    )
    doc = Rendered("TA1", b"ISA*...~", "TA1_X_000000002.x12", "000000002")
    partner.send_document(doc, idempotency_key="edi:1:TA1:000000002")
    sent = route.calls.last.request
    assert sent.headers["Idempotency-Key"] == "edi:1:TA1:000000002"
    assert sent.headers["Authorization"] == "Bearer theirs"
    assert sent.content == doc.body


def test_without_a_way_out_a_document_is_a_permanent_error() -> None:
    from omniroute.connectors.base import PermanentError

    with pytest.raises(PermanentError, match="nowhere to send"):
        _partner().send_document(Rendered("997", b"x", "f", "1"), idempotency_key="k")


def test_children_stream_out_before_the_reading_that_ends_them() -> None:
    partner = _partner()
    stream = partner.stream_interchange(EDINET)
    first = next(stream)
    assert not isinstance(first, Reading) and first.set_id == "850"
    (last,) = list(stream)
    assert isinstance(last, Reading) and last.children == () and not last.rejected
    assert partner.read_interchange(EDINET).children == (first,)


def test_a_file_broken_after_its_first_set_streams_that_set_then_a_rejection() -> None:
    partner = _partner()
    body = EDINET[: EDINET.index(b"GE*")] + b"*~"  # the reader gives up there
    items = list(partner.stream_interchange(body))
    assert [type(i).__name__ for i in items] == ["Child", "Reading"]
    last = items[-1]
    assert isinstance(last, Reading) and last.rejected
    assert "not readable as X12" in last.problems[0]
    # read whole, a rejected interchange has no children: the caller drops what came first
    assert partner.read_interchange(body).children == ()


def test_collect_wants_the_reading_last() -> None:
    with pytest.raises(ValueError, match="without its verdict"):
        collect(iter(()))
