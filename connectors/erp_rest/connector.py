"""The generic REST ERP connector: sales orders and invoices POSTed with an Idempotency-Key,
stock on hand, the item master and the invoice list read with GET.

Retry rule (as the REST WMS): a POST reaches the ERP at most once per call; only a
connection never made is tried again within the call, and everything else goes back to
the outbox as a ``TransientError`` (5xx, 429, timeouts) or a ``PermanentError`` (other
4xx: a dead letter ops can redrive). A ``409`` whose JSON says ``{"duplicate": true}`` is
the ERP answering a repeated key: success. GETs are retried in the call (they change
nothing). Every URL passes the SSRF guard (``connectors/http``); the auth header's value is
a sealed secret, never logged (``connectors/http`` redacts it) nor returned.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel

from omniroute.connectors.base import Capability, ConnectorRuntime, PayloadError, PermanentError
from omniroute.connectors.erp import (
    ErpInvoice,
    ErpReceipt,
    InvoiceDocument,
    PurchaseRequest,
    Records,
    SalesOrderDocument,
)
from omniroute.connectors.erp_rest.config import ErpRestConfig, ErpRestSecrets
from omniroute.connectors.erp_rest.payloads import (
    document_number,
    invoice_payload,
    json_object,
    page_of,
    read_invoice,
    read_item,
    read_stock,
    sales_order_payload,
)
from omniroute.connectors.http import UrlGuard, build_client, raise_for_status, send_with_retry

CORRELATION_HEADER = "X-Correlation-ID"


class ErpRestConnector:
    """An ERP behind plain JSON resources. Long-lived and thread-safe: the ``httpx.Client``
    is made on first use and kept until ``close()``."""

    kind: ClassVar[str] = "erp_rest"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.ERP_POSTING,
            Capability.ERP_STOCK_SNAPSHOT,
            Capability.ERP_ITEM_MASTER,
            Capability.PURCHASE_REQUESTS,
        }
    )
    config_model: ClassVar[type[BaseModel]] = ErpRestConfig
    secrets_model: ClassVar[type[BaseModel]] = ErpRestSecrets

    def __init__(
        self,
        config: ErpRestConfig | Mapping[str, Any],
        secrets: ErpRestSecrets | Mapping[str, Any],
        *,
        runtime: ConnectorRuntime,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = ErpRestConfig.model_validate(config)
        self._secrets = ErpRestSecrets.model_validate(secrets)
        self._runtime = runtime
        self._transport = transport
        self._lock = threading.Lock()
        self._http: httpx.Client | None = None
        self._guard = UrlGuard(allow_private=runtime.allow_private_urls)
        # A feature whose path is empty is off for this instance.
        wanted = {
            Capability.ERP_POSTING: True,
            Capability.ERP_STOCK_SNAPSHOT: bool(self.config.stock_path),
            Capability.ERP_ITEM_MASTER: bool(self.config.items_path),
            Capability.PURCHASE_REQUESTS: bool(self.config.purchase_request_path),
        }
        self.enabled_capabilities = frozenset(cap for cap, on in wanted.items() if on)
        #: How often the core reads stock and items (minutes; 0: never).
        self.poll_every_minutes = self.config.poll_every_minutes

    # --- writes

    def post_sales_order(self, document: SalesOrderDocument, *, idempotency_key: str) -> ErpReceipt:
        return self._post(
            self.config.sales_order_path, sales_order_payload(document), idempotency_key
        )

    def post_invoice(self, document: InvoiceDocument, *, idempotency_key: str) -> ErpReceipt:
        return self._post(self.config.invoice_path, invoice_payload(document), idempotency_key)

    def send_purchase_request(
        self, payload: Mapping[str, Any], *, idempotency_key: str
    ) -> ErpReceipt:
        """POST a purchase request (payload: ``connectors.erp.PurchaseRequest``); a payload
        that does not describe one raises ``PayloadError`` (permanent) before any call."""
        if not self.config.purchase_request_path:
            raise PermanentError("this ERP connector has no purchase_request_path", reason="off")
        request = PurchaseRequest.from_payload(payload)
        return self._post(self.config.purchase_request_path, request.to_payload(), idempotency_key)

    def _post(self, path: str, body: dict[str, Any], idempotency_key: str) -> ErpReceipt:
        http = self._client()
        headers = {"Idempotency-Key": idempotency_key}
        response, attempts = send_with_retry(
            lambda: http.post(path, json=body, headers=headers),
            attempts=self._runtime.retry_attempts,
            max_wait=self._runtime.retry_max_wait,
            check=_check_write,
            repeat_sent=False,
        )
        return ErpReceipt(document_number(_body(response)), response.status_code, attempts)

    # --- reads

    def check_connection(self) -> str:
        """One page of the item master (or of the stock, or the invoice list): the address
        and the auth header work."""
        readable = [
            (path, what)
            for path, what in (
                (self.config.items_path, "item master"),
                (self.config.stock_path, "stock snapshot"),
                (self.config.invoice_list_path, "invoice list"),
            )
            if path
        ]
        if not readable:
            return "no read path is configured: nothing to call (postings show in its health)"
        path, what = readable[0]
        http = self._client()
        send_with_retry(lambda: http.get(path), attempts=1, max_wait=self._runtime.retry_max_wait)
        return f"the ERP answered: its {what} can be read"

    def fetch_stock_snapshot(self) -> Records:
        return self._read_all(self.config.stock_path, "stock", read_stock, {})

    def fetch_items(self) -> Records:
        return self._read_all(self.config.items_path, "items", read_item, {})

    def list_invoices(self, date_from: date, date_to: date) -> Sequence[ErpInvoice]:
        got = self._read_all(
            self.config.invoice_list_path,
            "invoices",
            read_invoice,
            {"from": date_from.isoformat(), "to": date_to.isoformat()},
        )
        return tuple(got.records)

    def _read_all(
        self,
        path: str,
        resource: str,
        read: Callable[[Any], Any],
        params: dict[str, str],
    ) -> Records:
        if not path:
            raise PermanentError(f"this ERP connector reads no {resource}", reason="off")
        http = self._client()
        records: list[Any] = []
        rejected: list[tuple[Any, str]] = []
        token: str | None = None
        for _ in range(self.config.max_pages):
            query = params | ({"page": token} if token else {})
            response, _ = send_with_retry(
                lambda q=query: http.get(path, params=q),  # type: ignore[misc]
                attempts=self._runtime.retry_attempts,
                max_wait=self._runtime.retry_max_wait,
            )
            page, token = page_of(_body(response), resource)
            for record in page:
                try:
                    records.append(read(record))
                except ValueError as exc:
                    rejected.append((record, str(exc)))
            if token is None:
                return Records(tuple(records), tuple(rejected))
        raise PayloadError(f"{resource}: more than {self.config.max_pages} pages")

    # --- the client

    def close(self) -> None:
        with self._lock:
            http, self._http = self._http, None
        if http is not None:
            http.close()

    def _client(self) -> httpx.Client:
        self._guard.check(self.config.base_url)
        with self._lock:
            if self._http is None:
                self._http = build_client(
                    timeout=self.config.timeout_seconds,
                    base_url=self.config.base_url,
                    headers=self._auth_headers(),
                    transport=self._transport,
                )
            return self._http

    def _auth_headers(self) -> dict[str, str]:
        value = self._secrets.auth_header_value
        if value is None or not value.get_secret_value():
            return {}
        return {self.config.auth_header_name: value.get_secret_value()}


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _check_write(response: httpx.Response) -> None:
    if response.status_code == 409 and json_object(_body(response)).get("duplicate") is True:
        return
    raise_for_status(response)
