"""A person's fixes of an order (pure): the address checked as intake checks it, and the
fixes put on a version from the channel only while it carries what was fixed."""

from __future__ import annotations

import pytest

from omniroute.core.orders.fixes import address
from omniroute.core.orders.fixes.apply import keep_fixes
from omniroute.core.platform.errors import Invalid


def test_new_ship_to_checks_as_intake_and_keeps_unnamed_fields() -> None:
    current = {"address1": "Main St 1", "postal_code": "4020", "country": "US", "company": None}
    fixed = address.new_ship_to(current, {"postal_code": " 40202 ", "country": "us"})
    assert fixed == {
        "address1": "Main St 1",
        "postal_code": "40202",
        "country": "US",
        "company": None,
    }
    with pytest.raises(Invalid, match="not a valid postal code for GB"):
        address.new_ship_to(current, {"country": "GB"})
    with pytest.raises(Invalid, match="no street"):
        address.new_ship_to(current, {"postal_code": "40202", "address1": ""})
    with pytest.raises(Invalid, match="two-letter"):
        address.new_ship_to(current, {"postal_code": "40202", "country": "USA"})
    with pytest.raises(Invalid, match="unknown address fields: street"):
        address.new_ship_to(current, {"street": "x"})


def test_keep_fixes_only_while_the_channel_sends_what_was_fixed() -> None:
    fixes = {
        "ship_to": {"channel": {"postal_code": "4020"}, "fixed": {"postal_code": "40202"}},
        "quantities": {"7": {"channel": 0, "fixed": 0}, "8": {"channel": 2, "fixed": 1}},
    }
    same = {
        "ship_to": {"postal_code": "4020"},
        "lines": [
            {"external_line_id": "7", "quantity": 0},
            {"external_line_id": "8", "quantity": 2},
            {"external_line_id": "9", "quantity": 4},
        ],
    }
    assert keep_fixes(fixes, same)
    assert same["ship_to"] == {"postal_code": "40202"}
    assert same["lines"] == [
        {"external_line_id": "8", "quantity": 1},
        {"external_line_id": "9", "quantity": 4},
    ]
    newer = {
        "ship_to": {"postal_code": "40203"},
        "lines": [{"external_line_id": "8", "quantity": 3}],
    }
    assert not keep_fixes(fixes, newer)
    assert newer["ship_to"] == {"postal_code": "40203"}
    assert newer["lines"] == [{"external_line_id": "8", "quantity": 3}]
    assert not keep_fixes(None, newer)
