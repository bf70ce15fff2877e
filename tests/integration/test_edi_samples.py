"""Every X12 and EDIFACT sample through ``POST /edi/{id}`` for a partner configured from its
own envelope: stored raw, answered (997/TA1 or CONTRL, read back by our parsers), and each
transaction set or message either an order or kept with the reason it is not one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from omniroute.connectors.base import ConnectorRuntime
from omniroute.connectors.edi_edifact.connector import EdifactPartnerConnector
from omniroute.connectors.edi_edifact.envelope import parse_interchanges as edifact_interchanges
from omniroute.connectors.edi_x12.envelope import InterchangeHeader
from omniroute.connectors.edi_x12.tokenizer import iter_segments
from omniroute.core.bootstrap import Context
from omniroute.core.channels import connector_admin
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import InboundMessage, OrderException
from omniroute.worker.handlers import drain

FIXTURES = Path(__file__).parents[1] / "fixtures" / "third_party"
TOKEN = "sample-token"
X12 = sorted((FIXTURES / "x12").iterdir())
EDIFACT = sorted((FIXTURES / "edifact").iterdir())


def _x12_config(raw: bytes, out: Path) -> dict[str, Any]:
    header = InterchangeHeader.of(next(iter_segments(raw)))
    return {
        "our_qualifier": header.receiver_qualifier,
        "our_id": header.receiver_id,
        "their_qualifier": header.sender_qualifier,
        "their_id": header.sender_id,
        "our_code": "US",
        "their_code": "THEM",
        "delivery_directory": str(out),
        "default_currency": "USD",
    }


def _edifact_config(raw: bytes, out: Path) -> dict[str, Any]:
    first = edifact_interchanges(raw.decode("utf-8", "replace"))[0]
    return {
        "our_id": first.recipient.id,
        "our_qualifier": first.recipient.qualifier,
        "their_id": first.sender.id,
        "their_qualifier": first.sender.qualifier,
        "delivery_directory": str(out),
        "default_currency": "EUR",
    }


@pytest.mark.parametrize("path", X12 + EDIFACT, ids=lambda p: p.name)
def test_each_sample_is_kept_answered_and_accounted_for(
    client: TestClient, ctx: Context, tmp_path: Path, path: Path
) -> None:
    raw = path.read_bytes()
    out = tmp_path / "out"
    x12 = path in X12
    config = _x12_config(raw, out) if x12 else _edifact_config(raw, out)
    row = connector_admin.create_connector(
        ctx,
        kind="edi_x12" if x12 else "edi_edifact",
        name=path.name,
        config=config,
        secrets={"intake_token": TOKEN},
        enabled=True,
        actor="test",
    )
    r = client.post(f"/edi/{row.id}", content=raw, headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 202, r.text
    entries = r.json()["interchanges"]
    assert entries and all(e["status"] in ("accepted", "rejected") for e in entries)
    drain(ctx)

    with unit_of_work(ctx.sessions) as s:
        rows = s.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
        stored = [m for m in rows if m.topic == "edi.interchange"]
        children = [m for m in rows if m.topic == "edi.set"]
        if len(stored) == 1:
            assert stored[0].body == raw  # kept as it came
        exceptions = {e.inbound_message_id: e for e in s.scalars(select(OrderException))}
        for child in children:
            # an order (done), or kept failed with an exception naming why
            assert child.status in ("done", "failed"), (child.status, child.last_error)
            if child.status == "failed":
                assert exceptions[child.id].reason == "invalid_payload"
        for interchange in stored:
            assert interchange.status in ("done", "failed")
            if interchange.status == "failed":
                assert exceptions[interchange.id].detail["problems"]
    answers = sorted(out.glob("*"))
    if x12:
        assert any(a.name.startswith(("997_", "TA1_")) for a in answers) or not children
    else:
        assert any(a.name.startswith("CONTRL_") for a in answers)
        for answer in answers:
            assert edifact_interchanges(answer.read_text())


def test_the_samples_parse_with_the_connector_alone() -> None:
    """The EDIFACT kind takes every EDIFACT sample as a file of pieces."""
    for path in EDIFACT:
        raw = path.read_bytes()
        partner = EdifactPartnerConnector(
            _edifact_config(raw, Path("unused")), {}, runtime=ConnectorRuntime()
        )
        assert partner.split(raw)
