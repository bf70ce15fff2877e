"""What intake stores with a webhook body is the connector's to say; the defaults are safe."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pytest
from starlette.datastructures import Headers

from omniroute.connectors.base import (
    MAX_KEPT_HEADER_CHARS,
    MAX_KEPT_HEADERS,
    WebhookMetadata,
    default_kept_headers,
    header_value,
    keep_headers,
    kept_webhook_headers,
    webhook_topic_of,
)

ROOT = Path(__file__).resolve().parents[2]


class Undeclared:
    """A connector that says nothing about its webhooks' headers or topic."""


class Declared:
    def kept_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        return keep_headers(headers, ("x-acme-",))

    def webhook_topic(self, headers: Mapping[str, str]) -> str | None:
        return header_value(headers, "X-Acme-Event")


@pytest.mark.parametrize(
    "name",
    [
        "X-Hub-Signature-256",
        "Authorization",
        "Proxy-Authorization",
        "X-Shop-Hmac-Sha256",
        "X-Api-Token",
        "Cookie",
        "X-Api-Key",
        "X-Client-Secret",
    ],
)
def test_by_default_secret_looking_headers_are_not_stored(name: str) -> None:
    headers = {name: "s3cr3t", "X-Event": "order.created", "Content-Type": "application/json"}
    kept = kept_webhook_headers(Undeclared(), headers)
    assert kept == {"x-event": "order.created", "content-type": "application/json"}
    assert kept == default_kept_headers(headers)


def test_by_default_every_other_header_is_stored_with_no_topic() -> None:
    headers = Headers({"X-Acme-Event": "order.placed", "User-Agent": "acme/1", "Host": "h"})
    assert kept_webhook_headers(Undeclared(), headers) == {
        "x-acme-event": "order.placed",
        "user-agent": "acme/1",
        "host": "h",
    }
    assert webhook_topic_of(Undeclared(), headers) is None
    assert not isinstance(Undeclared(), WebhookMetadata)


def test_what_is_stored_is_capped_in_count_and_size() -> None:
    many = {f"X-H-{i:03}": "v" for i in range(MAX_KEPT_HEADERS + 10)}
    assert len(kept_webhook_headers(Undeclared(), many)) == MAX_KEPT_HEADERS
    big = {"X-Big": "v" * (MAX_KEPT_HEADER_CHARS + 1), "X-" + "n" * 300: "long name"}
    assert kept_webhook_headers(Undeclared(), big) == {"x-big": "v" * MAX_KEPT_HEADER_CHARS}


def test_a_connector_that_declares_is_asked() -> None:
    headers = {
        "X-Acme-Event": "order.placed",
        "X-Acme-Signature": "sha256=00",
        "Content-Type": "application/json",
    }
    assert isinstance(Declared(), WebhookMetadata)
    assert kept_webhook_headers(Declared(), headers) == {"x-acme-event": "order.placed"}
    assert webhook_topic_of(Declared(), headers) == "order.placed"
    assert webhook_topic_of(Declared(), {"X-Acme-Event": ""}) is None
    assert webhook_topic_of(Declared(), {}) is None


def test_keep_headers_matches_prefixes_case_insensitively() -> None:
    headers = Headers(
        {"Content-Type": "a", "Content-Length": "2", "X-Acme-Id": "1", "X-Acmeish": "no"}
    )
    assert keep_headers(headers, ("x-acme-", "content-type")) == {
        "content-type": "a",
        "x-acme-id": "1",
    }
    assert header_value(headers, "x-ACME-id") == "1"
    assert header_value(headers, "X-Missing") is None


def test_core_names_no_channels_headers() -> None:
    channel_header = re.compile(r"(?i)\b(x-shopify-|x-wc-|x-square-|x-amz-|webhook-(id|sig|time))")
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "core").rglob("*.py")
        if channel_header.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_a_topic_longer_than_the_inbox_column_is_cut_to_it() -> None:
    from omniroute.core.intake.webhooks import _topic

    class Chatty:
        def webhook_topic(self, headers: Mapping[str, str]) -> str:
            return "x" * 500

    topic = _topic(Chatty(), {})
    assert topic == "x" * 100
