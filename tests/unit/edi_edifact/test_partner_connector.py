"""The ``edi_edifact`` connector kind on its own: declaration, cutting files, reading
messages into children, CONTRL content and rendering, the location book."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from omniroute.connectors import testkit
from omniroute.connectors.base import ConnectorRuntime, PayloadError, SignatureError
from omniroute.connectors.edi import EdiPartner, Reading
from omniroute.connectors.edi_edifact.connector import EdifactPartnerConnector
from omniroute.connectors.edi_edifact.envelope import parse_interchanges

SAMPLES = Path(__file__).parents[2] / "fixtures" / "third_party" / "edifact"
BOTS = (SAMPLES / "bots_my_first_plugin_order01.edi").read_bytes()
BOOK = {"9:PARTNER1": {"address1": "1 Dock Rd", "city": "Newark", "country": "US"}}


def _partner(**extra: Any) -> EdifactPartnerConnector:
    config = {
        "our_id": "PARTNER2",
        "their_id": "8712345678906",
        "locations": BOOK,
        "default_currency": "EUR",
        **extra,
    }
    return EdifactPartnerConnector(config, {"intake_token": "t0k"}, runtime=ConnectorRuntime())


def _uci_action(text: str) -> str:
    (ic,) = parse_interchanges(text)
    return next(s for s in ic.messages[0].segments if s.tag == "UCI").value(3)


def test_kind_declaration_token_and_config() -> None:
    partner = _partner()
    testkit.check_kind(EdifactPartnerConnector, partner)
    assert isinstance(partner, EdiPartner)
    partner.check_token("Bearer t0k")
    with pytest.raises(SignatureError):
        partner.check_token("Bearer other")
    with pytest.raises(ValueError, match="time_zone"):
        _partner(time_zone="Mars/Olympus")


def test_each_interchange_and_message_is_its_own_piece_and_child() -> None:
    partner = _partner()
    pieces = partner.split(BOTS)
    assert [p.dedupe_key for p in pieces] == [
        "14:8712345678906:T0000000004-1",
        "14:8712345678906:T0000000004-2",
    ]
    reading = partner.read_interchange(pieces[0].body)
    assert not reading.rejected and len(reading.children) == 2
    for child in reading.children:
        event = partner.parse_webhook({}, child.body)
        assert event.order is not None
        order = testkit.check_maps_to_canonical(partner, event.order)
        assert order["external_id"] == child.reference
        assert order["ship_to"]["city"] == "Newark"  # the buyer's GLN, from the book
    (reply,) = reading.replies
    doc = partner.render(reply, {"interchange": 12}, dt.datetime(2026, 12, 7, 8, 0))
    assert doc.filename == "CONTRL_8712345678906_000000012.edi"
    assert _uci_action(doc.body.decode()) == "7"


def test_another_sender_is_rejected_whole_with_contrl_4() -> None:
    partner = _partner(their_id="SOMEONE")
    reading = partner.read_interchange(partner.split(BOTS)[0].body)
    assert reading.rejected and not reading.children
    assert "not a known partner" in reading.problems[0]
    doc = partner.render(reading.replies[0], {"interchange": 1}, dt.datetime(2026, 12, 7))
    assert _uci_action(doc.body.decode()) == "4"


def test_a_message_type_we_do_not_take_is_refused_in_contrl_and_as_a_child() -> None:
    invoic = (SAMPLES / "bots_invoic2.edi").read_bytes()
    (ic, *_) = parse_interchanges(invoic.decode("latin-1"))
    partner = _partner(their_id=ic.sender.id, our_id=ic.recipient.id)
    reading = partner.read_interchange(partner.split(invoic)[0].body)
    assert reading.children and any("not taken" in p for p in reading.problems)
    with pytest.raises(PayloadError, match="not taken"):
        partner.parse_webhook({}, reading.children[0].body)


def test_messages_stream_out_one_by_one_and_a_rejection_comes_before_any() -> None:
    partner = _partner()
    body = partner.split(BOTS)[0].body
    items = list(partner.stream_interchange(body))
    assert [type(i).__name__ for i in items] == ["Child", "Child", "Reading"]
    assert partner.read_interchange(body).children == tuple(items[:2])
    # the whole text is parsed first, so an envelope that does not hold yields no child
    (only,) = list(_partner(their_id="SOMEONE").stream_interchange(body))
    assert isinstance(only, Reading) and only.rejected
