"""Returns in Shopify, through the GraphQL Admin API (scopes ``read_returns``,
``write_returns``), and the ``returns/*`` webhooks.

Pushed by omniroute (``push_return``), per step of an RMA:

- ``authorised``: a return the customer asked for in Shopify (the RMA carries its id) is
  approved with ``returnApproveRequest``; any other is created with ``returnCreate`` (status
  OPEN) for the fulfillment line items Shopify says are still returnable
  (``returnableFulfillments``), each line's ``returnReason`` mapped from omniroute's reason and
  its ``returnReasonNote`` carrying ``omniroute <RMA number>``.
- ``received`` with every unit back, or ``closed``: ``returnClose``. Shopify has no status
  for part of a return received, so a partial receipt changes nothing there.
- ``cancelled``: ``returnDeclineRequest`` (reason OTHER) for a requested one,
  ``returnCancel`` for an open one.

Shopify takes no idempotency key on these mutations. Each push reads first: the return by
its id, or the order's returns, where the note of a line names the RMA, so a repeat after a
timeout finds the return the first try made rather than creating a second; a return already
in the wanted status is left alone. The mutation itself is sent once per outbox attempt.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from omniroute.connectors.base import (
    ChannelReturn,
    ChannelReturnLine,
    PayloadError,
    PermanentError,
    PushReceipt,
    ReturnLine,
    ReturnNotice,
)

# The connector's paced GraphQL call: (body, write) -> (data, requests made).
Graphql = Callable[[Mapping[str, Any], bool], tuple[dict[str, Any], int]]

DENIED_HINT = "grant the Shopify app read_returns and write_returns"

#: omniroute's reason codes (core.returns.rules.ReasonCode) as Shopify's ReturnReason enum;
#: one not here is OTHER, with the reason in the note.
TO_SHOPIFY = {
    "damaged": "DEFECTIVE",
    "defective": "DEFECTIVE",
    "wrong_item": "WRONG_ITEM",
    "not_as_described": "NOT_AS_DESCRIBED",
    "no_longer_needed": "UNWANTED",
}
#: Shopify's ReturnReason as omniroute's reason codes; one not here is ``other``.
FROM_SHOPIFY = {
    "DEFECTIVE": "defective",
    "WRONG_ITEM": "wrong_item",
    "NOT_AS_DESCRIBED": "not_as_described",
    "UNWANTED": "no_longer_needed",
    "SIZE_TOO_LARGE": "size_or_fit",
    "SIZE_TOO_SMALL": "size_or_fit",
}
#: The webhook topics that tell of a return, and what each says its status is.
TOPICS = {
    "returns/request": "requested",
    "returns/approve": "authorised",
    "returns/decline": "declined",
    "returns/cancel": "cancelled",
    "returns/close": "closed",
}
#: Shopify's Return.status values a push leaves alone or acts on.
REQUESTED, OPEN, CLOSED, DECLINED, CANCELED = "REQUESTED", "OPEN", "CLOSED", "DECLINED", "CANCELED"
_MARK = re.compile(r"omniroute (RMA-[A-Za-z0-9-]+)")

ORDER_RETURNS = """
query OmnirouteOrderReturns($id: ID!) {
  order(id: $id) {
    id
    returns(first: 50) {
      nodes {
        id
        name
        status
        returnLineItems(first: 100) { nodes { ... on ReturnLineItem { returnReasonNote } } }
      }
    }
  }
  returnableFulfillments(orderId: $id, first: 50) {
    nodes {
      returnableFulfillmentLineItems(first: 100) {
        nodes { quantity fulfillmentLineItem { id lineItem { id } } }
      }
    }
  }
}
"""
RETURN_STATUS = """
query OmnirouteReturn($id: ID!) { return(id: $id) { id name status } }
"""
_PAYLOAD = "return { id name status } userErrors { field message }"
CREATE = f"""
mutation OmnirouteReturnCreate($input: ReturnInput!) {{
  returnCreate(returnInput: $input) {{ {_PAYLOAD} }}
}}
"""
APPROVE = f"""
mutation OmnirouteReturnApprove($input: ReturnApproveRequestInput!) {{
  returnApproveRequest(input: $input) {{ {_PAYLOAD} }}
}}
"""
DECLINE = f"""
mutation OmnirouteReturnDecline($input: ReturnDeclineRequestInput!) {{
  returnDeclineRequest(input: $input) {{ {_PAYLOAD} }}
}}
"""
CANCEL = f"""
mutation OmnirouteReturnCancel($id: ID!) {{ returnCancel(id: $id) {{ {_PAYLOAD} }} }}
"""
CLOSE = f"""
mutation OmnirouteReturnClose($id: ID!) {{ returnClose(id: $id) {{ {_PAYLOAD} }} }}
"""


def order_gid(external_order_id: str) -> str:
    return _gid("Order", external_order_id)


def _gid(kind: str, value: str) -> str:
    value = value.strip()
    if value.startswith("gid://shopify/"):
        return value
    if not value.isdigit():
        raise PermanentError(f"{value!r} is not a Shopify {kind} id", reason="bad_reference")
    return f"gid://shopify/{kind}/{value}"


def tail(gid: str) -> str:
    """``123`` of ``gid://shopify/LineItem/123`` (a bare id as it is)."""
    return gid.rsplit("/", 1)[-1]


def marker(rma_number: str) -> str:
    return f"omniroute {rma_number}"


def push_return(graphql: Graphql, notice: ReturnNotice, *, notify_customer: bool) -> PushReceipt:
    """Bring the Shopify return of ``notice`` to its step (see the module's docstring)."""
    if notice.status == "authorised":
        return _authorise(graphql, notice, notify_customer)
    if notice.status == "closed" or (notice.status == "received" and notice.return_complete):
        return _settle(graphql, notice, want=CLOSED)
    if notice.status == "cancelled":
        return _settle(graphql, notice, want=CANCELED)
    return PushReceipt(external_ref=None, attempts=0)  # nothing Shopify can show for it


def _authorise(graphql: Graphql, notice: ReturnNotice, notify: bool) -> PushReceipt:
    if notice.external_return_id:
        current, attempts = _status(graphql, notice.external_return_id)
        if current[1] == REQUESTED:
            body = {"query": APPROVE, "variables": {"input": {"id": current[0]}}}
            attempts += _mutate(graphql, body, "returnApproveRequest")
        elif current[1] not in (OPEN, CLOSED):
            raise PermanentError(
                f"Shopify return {current[0]} is {current[1]}: it cannot be approved; "
                f"cancel RMA {notice.rma_number} or settle it in the Shopify admin",
                reason="return_state",
            )
        return PushReceipt(external_ref=current[0], attempts=attempts)
    order_id = order_gid(notice.external_order_id)
    data, attempts = graphql({"query": ORDER_RETURNS, "variables": {"id": order_id}}, False)
    existing = _shaped(lambda: _ours(data, notice.rma_number))
    if existing is not None and existing[1] not in (CANCELED, DECLINED):
        return PushReceipt(external_ref=existing[0], attempts=attempts)
    returnable = _shaped(lambda: _returnable(data))
    lines = return_line_inputs(notice, returnable)
    body = {
        "query": CREATE,
        "variables": {
            "input": {"orderId": order_id, "returnLineItems": lines, "notifyCustomer": notify}
        },
    }
    data, made = graphql(body, True)
    created = _result(data, "returnCreate")
    return PushReceipt(external_ref=created[0], attempts=attempts + made)


def _settle(graphql: Graphql, notice: ReturnNotice, *, want: str) -> PushReceipt:
    """Close (``want`` CLOSED) or cancel the return, if Shopify has one for this RMA."""
    attempts = 0
    if notice.external_return_id:
        current: tuple[str, str] | None
        current, attempts = _status(graphql, notice.external_return_id)
    else:
        order_id = order_gid(notice.external_order_id)
        data, attempts = graphql({"query": ORDER_RETURNS, "variables": {"id": order_id}}, False)
        current = _shaped(lambda: _ours(data, notice.rma_number))
    if current is None:
        return PushReceipt(external_ref=None, attempts=attempts)  # never made there
    if current[1] in (CLOSED, CANCELED, DECLINED):
        return PushReceipt(external_ref=current[0], attempts=attempts)
    return_id, status = current
    if want == CLOSED:
        if status == REQUESTED:  # received here before anyone approved it there
            body = {"query": APPROVE, "variables": {"input": {"id": return_id}}}
            attempts += _mutate(graphql, body, "returnApproveRequest")
        attempts += _mutate(
            graphql, {"query": CLOSE, "variables": {"id": return_id}}, "returnClose"
        )
    elif status == REQUESTED:
        decline = {"id": return_id, "declineReason": "OTHER"}
        body = {"query": DECLINE, "variables": {"input": decline}}
        attempts += _mutate(graphql, body, "returnDeclineRequest")
    else:
        attempts += _mutate(
            graphql, {"query": CANCEL, "variables": {"id": return_id}}, "returnCancel"
        )
    return PushReceipt(external_ref=return_id, attempts=attempts)


def return_line_inputs(
    notice: ReturnNotice, returnable: Sequence[tuple[str, str, int]]
) -> list[dict[str, Any]]:
    """``ReturnLineItemInput``s for the notice's lines, spread over the returnable
    fulfillment line items ``(fulfillment line item id, line item id, quantity)`` of each
    line item in Shopify's order; ``PermanentError`` for units Shopify will not take back."""
    left = {index: qty for index, (_, _, qty) in enumerate(returnable)}
    reason = TO_SHOPIFY.get(notice.reason, "OTHER")
    note = marker(notice.rma_number) + (f" ({notice.reason})" if reason == "OTHER" else "")
    inputs: list[dict[str, Any]] = []
    short: list[str] = []
    for line in notice.lines:
        wanted = line.quantity
        item = _line_item(line)
        for index, (fulfillment_line_item, line_item, _) in enumerate(returnable):
            if wanted == 0:
                break
            if tail(line_item) != item or left[index] <= 0:
                continue
            part = min(wanted, left[index])
            left[index] -= part
            wanted -= part
            inputs.append(
                {
                    "fulfillmentLineItemId": fulfillment_line_item,
                    "quantity": part,
                    "returnReason": reason,
                    "returnReasonNote": note[:255],
                }
            )
        if wanted:
            short.append(f"{wanted} of {line.quantity} x {line.sku} (line item {item})")
    if short:
        raise PermanentError(
            f"Shopify will not take back {', '.join(short)} for RMA {notice.rma_number}: "
            "not fulfilled there, or returned or refunded already; check the order in the "
            "Shopify admin, then resolve or redrive this push",
            reason="not_returnable",
        )
    return inputs


def _line_item(line: ReturnLine) -> str:
    if not line.external_line_id:
        raise PermanentError(
            f"line {line.line_id} ({line.sku}) has no Shopify line item id", reason="bad_reference"
        )
    return tail(line.external_line_id)


def _status(graphql: Graphql, return_id: str) -> tuple[tuple[str, str], int]:
    gid = _gid("Return", return_id)
    data, attempts = graphql({"query": RETURN_STATUS, "variables": {"id": gid}}, False)
    found = data.get("return")
    if not isinstance(found, dict):
        raise PermanentError(f"Shopify has no return {gid}", reason="unknown_return")
    return (str(found.get("id") or gid), str(found.get("status") or "")), attempts


def _mutate(graphql: Graphql, body: Mapping[str, Any], name: str) -> int:
    data, made = graphql(body, True)
    _result(data, name)
    return made


def _result(data: Mapping[str, Any], name: str) -> tuple[str, str]:
    """``(id, status)`` of the return a mutation answered with; its user errors refuse it."""
    payload = data.get(name)
    if not isinstance(payload, dict):
        raise PayloadError(f"Shopify's answer has no {name!r} object")
    errors = payload.get("userErrors") or []
    if errors:
        text = "; ".join(
            f"{'.'.join(map(str, e.get('field') or ()))}: {e.get('message')}"
            if isinstance(e, dict)
            else str(e)
            for e in errors
        )
        raise PermanentError(f"Shopify refused {name}: {text}"[:1000], reason="return_refused")
    found = payload.get("return")
    if not isinstance(found, dict) or not found.get("id"):
        raise PayloadError(f"Shopify answered {name} without the return")
    return str(found["id"]), str(found.get("status") or "")


def _ours(data: Mapping[str, Any], rma_number: str) -> tuple[str, str] | None:
    """``(id, status)`` of the order's return whose line notes name this RMA (a live one
    first, as an earlier try may have been cancelled in Shopify)."""
    order = data.get("order")
    if not isinstance(order, dict):
        raise PermanentError("Shopify has no such order", reason="unknown_order")
    found: list[tuple[str, str]] = []
    for node in order["returns"]["nodes"]:
        notes = [n.get("returnReasonNote") or "" for n in node["returnLineItems"]["nodes"]]
        if any(rma_number in _MARK.findall(note) for note in notes):
            found.append((str(node["id"]), str(node["status"])))
    found.sort(key=lambda f: f[1] in (CANCELED, DECLINED))
    return found[0] if found else None


def _returnable(data: Mapping[str, Any]) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    for fulfillment in data["returnableFulfillments"]["nodes"]:
        for entry in fulfillment["returnableFulfillmentLineItems"]["nodes"]:
            item = entry["fulfillmentLineItem"]
            out.append((str(item["id"]), str(item["lineItem"]["id"]), int(entry["quantity"])))
    return out


def _shaped(compute: Callable[[], Any]) -> Any:
    try:
        return compute()
    except (KeyError, TypeError, ValueError) as exc:
        raise PayloadError(f"Shopify's response has an unexpected shape: {exc!r}") from None


# --- webhooks ----------------------------------------------------------------------------------


def return_event(topic: str | None, document: Any) -> ChannelReturn:
    """The return a ``returns/*`` delivery tells of (``topic`` one of ``TOPICS``).

    The body is Shopify's return: ``id`` / ``admin_graphql_api_id``, ``name``, ``order``
    (``id``), and for a request its ``return_line_items`` (each with ``quantity``,
    ``return_reason``, ``return_reason_note``, ``customer_note`` and the
    ``fulfillment_line_item`` with its ``line_item``)."""
    status = TOPICS[(topic or "").strip().lower()]
    if not isinstance(document, dict):
        raise PayloadError("Shopify return webhook body is not a JSON object")
    return_id = document.get("admin_graphql_api_id") or document.get("id")
    if return_id is None:
        raise PayloadError("Shopify return webhook has no return id")
    order = document.get("order")
    order_id = order.get("id") if isinstance(order, dict) else document.get("order_id")
    lines, ours = _event_lines(document.get("return_line_items"))
    return ChannelReturn(
        external_return_id=_event_gid(str(return_id)),
        external_order_id=tail(str(order_id)) if order_id is not None else None,
        status=status,
        lines=tuple(lines),
        name=str(document["name"]) if document.get("name") else None,
        rma_number=ours,
    )


def _event_gid(value: str) -> str:
    if value.startswith("gid://shopify/Return/") or value.isdigit():
        return value if value.startswith("gid://") else f"gid://shopify/Return/{value}"
    raise PayloadError(f"Shopify return webhook: {value!r} is not a return id")


def _event_lines(items: Any) -> tuple[list[ChannelReturnLine], str | None]:
    if items is None:
        return [], None
    if not isinstance(items, list):
        raise PayloadError("Shopify return webhook: return_line_items is not a list")
    lines: list[ChannelReturnLine] = []
    ours: str | None = None
    for item in items:
        try:
            line_item = item["fulfillment_line_item"]["line_item"]["id"]
            quantity = int(item["quantity"])
        except (KeyError, TypeError, ValueError) as exc:
            raise PayloadError(
                f"Shopify return webhook: a return line item lacks {exc!s}"
            ) from None
        reason_note = str(item.get("return_reason_note") or "")
        found = _MARK.findall(reason_note)
        ours = ours or (found[0] if found else None)
        code = str(item.get("return_reason") or "").upper()
        notes = [n for n in (item.get("customer_note"), reason_note) if n]
        lines.append(
            ChannelReturnLine(
                external_line_id=tail(str(line_item)),
                quantity=quantity,
                reason=FROM_SHOPIFY.get(code, "other"),
                note="; ".join(str(n) for n in notes) or None,
            )
        )
    return lines, ours
