"""Product identity: a channel's line is matched by its SKU, else by the channel's variant id
through an alias or a listing; an unknown_sku exception says exactly which alias to add, and
adding it retries every order of that channel waiting for it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from omniroute.connectors.shopify.connector import ShopifyConnector
from omniroute.connectors.wms.demo_server import FakeWms
from omniroute.core.access.tokens import create_token
from omniroute.core.bootstrap import Context
from omniroute.core.exceptions import queue
from omniroute.core.platform.db import unit_of_work
from omniroute.core.platform.models import ChannelListing, OrderException, SalesOrder, Sku
from omniroute.core.platform.security import Role
from omniroute.core.stock import warehouses
from omniroute.worker.handlers import drain
from tests.integration.builders import World, build_world, post, sample_order, stock


def _order(number: int, lines: list[dict[str, Any]]) -> bytes:
    """A Shopify order shaped by the real sample, with its lines as given."""
    order = sample_order()
    template = order["line_items"][0]
    order["id"] = number
    order["name"] = f"#{number}"
    order["line_items"] = [
        {**template, "id": number * 100 + i, **line} for i, line in enumerate(lines)
    ]
    return json.dumps(order).encode()


def _ops(ctx: Context) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(ctx, role=Role.OPS, name='ops')}"}


def _world(ctx: Context, wms: FakeWms) -> World:
    world = build_world(ctx, wms.base_url)
    stock(ctx, world.warehouse_ids["EAST"], "MUG-BLUE", 10)
    return world


def _status(ctx: Context, number: int) -> str:
    with unit_of_work(ctx.sessions) as s:
        return str(
            s.scalars(select(SalesOrder.status).where(SalesOrder.external_id == str(number))).one()
        )


def _unknown_sku(ctx: Context) -> OrderException:
    (exc,) = [e for e in queue.list_exceptions(ctx) if e.reason == "unknown_sku"]
    return exc


@pytest.mark.parametrize("alias", ["variant:93", "93"])
def test_a_sku_less_line_names_its_alias_and_adding_it_releases_the_order(
    ctx: Context, client: TestClient, wms: FakeWms, alias: str
) -> None:
    world = _world(ctx, wms)
    post(ctx, world, _order(801, [{"sku": "", "variant_id": 93, "title": "Blue mug"}]))
    drain(ctx)
    assert _status(ctx, 801) == "exception"
    exc = _unknown_sku(ctx)
    (problem,) = exc.detail["problems"]
    assert problem["alias"] == "variant:93"
    assert exc.detail["connector_id"] == world.shopify_id
    assert "add the alias 'variant:93' for this channel" in problem["message"]
    assert "Blue mug" in problem["message"]

    answer = client.post(
        "/api/v1/sku-aliases",
        headers=_ops(ctx),
        json={"connector_id": world.shopify_id, "alias": alias, "sku": "MUG-BLUE"},
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["retried_exceptions"] == [exc.id]
    drain(ctx)
    assert _status(ctx, 801) == "released"
    assert wms.accepted_count == 1


def test_one_alias_retries_every_order_waiting_for_it_and_no_other(
    ctx: Context, client: TestClient, wms: FakeWms
) -> None:
    world = _world(ctx, wms)
    for number in (811, 812):
        post(ctx, world, _order(number, [{"sku": "SHOP-MUG", "title": "Mug"}]))
    post(ctx, world, _order(813, [{"sku": "SHOP-CUP", "title": "Cup"}]))
    drain(ctx)
    waiting = {e.order_id: e.id for e in queue.list_exceptions(ctx)}
    assert len(waiting) == 3

    answer = client.post(
        "/api/v1/sku-aliases",
        headers=_ops(ctx),
        json={"connector_id": world.shopify_id, "alias": "SHOP-MUG", "sku": "MUG-BLUE"},
    )
    assert answer.status_code == 201, answer.text
    assert len(answer.json()["retried_exceptions"]) == 2
    drain(ctx)
    assert [_status(ctx, n) for n in (811, 812, 813)] == ["released", "released", "exception"]


def test_an_unknown_channel_sku_is_matched_by_its_variants_alias(
    ctx: Context, wms: FakeWms
) -> None:
    world = _world(ctx, wms)
    warehouses.create_alias(ctx, world.shopify_id, "variant:94", "MUG-BLUE", actor="t")
    post(ctx, world, _order(821, [{"sku": "NOT-IN-CATALOGUE", "variant_id": 94}]))
    drain(ctx)
    assert _status(ctx, 821) == "released"


def test_a_known_channel_sku_wins_over_its_variants_alias(ctx: Context, wms: FakeWms) -> None:
    world = _world(ctx, wms)
    stock(ctx, world.warehouse_ids["EAST"], "MUG-RED", 10)
    warehouses.create_alias(ctx, world.shopify_id, "variant:95", "MUG-RED", actor="t")
    post(ctx, world, _order(831, [{"sku": "MUG-BLUE", "variant_id": 95}]))
    drain(ctx)
    with unit_of_work(ctx.sessions) as s:
        order = s.scalars(select(SalesOrder).where(SalesOrder.external_id == "831")).one()
        assert [line.sku for line in order.lines] == ["MUG-BLUE"]


class ListedShopify(ShopifyConnector):
    """A channel whose listings are keyed by the variant id of its order lines."""

    def listing_refs(self, line: Mapping[str, Any]) -> Sequence[str]:
        return (str(line["variant_id"]),)


def test_a_sku_less_line_is_matched_through_the_channels_listing(
    ctx: Context, wms: FakeWms
) -> None:
    ctx.registry.kinds["shopify"] = ListedShopify  # type: ignore[assignment]
    world = _world(ctx, wms)
    with unit_of_work(ctx.sessions) as s:
        assert s.get(Sku, "MUG-BLUE") is not None
        s.add(ChannelListing(connector_id=world.shopify_id, sku="MUG-BLUE", channel_ref="96"))
    post(ctx, world, _order(841, [{"sku": "", "variant_id": 96}]))
    drain(ctx)
    assert _status(ctx, 841) == "released"
