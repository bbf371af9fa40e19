"""The role matrix for the store: stores, catalogue, stock, sales at the counter and their cancellation.

See tests/role_matrix.py for what each answer must be. Store paths name a store, an item or a sale of
village A's store, so they format with `StoreOperation.url`; cancelling uses a fresh sale for every caller
(a sale is cancelled once)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tests.factories import World
from tests.ledger.helpers import award, balance
from tests.role_matrix import ROLES, VILLAGE_USERS, Operation, Scene, build_scene, check_matrix, unique

CATALOGUE_ADMINS = frozenset({"town_admin", "village_admin"})
STORE_STAFF = frozenset({"village_admin", "clerk"})

IDS: dict[str, Any] = {}


@dataclass(frozen=True)
class StoreOperation(Operation):
    fresh_sale: bool = False

    def url(self, scene: Scene) -> str:
        sales: Iterator[str] = IDS["sales"]
        return self.path.format(
            store=scene.store_a.id,
            item=IDS["item"],
            sale=next(sales) if self.fresh_sale else IDS["sale"],
        )


def _item(scene: Scene) -> dict[str, Any]:
    return {"name": f"商品{next(unique)}", "price_points": 3, "stock": 2}


def _redeem(scene: Scene) -> dict[str, Any]:
    return {
        "store_id": str(scene.store_a.id),
        "household_id": str(scene.own_household.id),
        "lines": [{"item_id": IDS["item"], "quantity": 1}],
    }


OPERATIONS = [
    StoreOperation(
        "change store",
        "PATCH",
        "/stores/{store}",
        CATALOGUE_ADMINS,
        lambda s: {"name": f"超市{next(unique)}"},
    ),
    StoreOperation("create item", "POST", "/stores/{store}/items", CATALOGUE_ADMINS, _item),
    StoreOperation("list items", "GET", "/stores/{store}/items", VILLAGE_USERS | {"town_admin"}),
    StoreOperation(
        "change item", "PATCH", "/items/{item}", CATALOGUE_ADMINS, lambda s: {"category": f"类{next(unique)}"}
    ),
    StoreOperation(
        "restock", "POST", "/items/{item}/restock", STORE_STAFF | {"town_admin"}, lambda s: {"quantity": 1}
    ),
    StoreOperation("redeem", "POST", "/redemptions", STORE_STAFF, _redeem, moves_points=True),
    StoreOperation("read a sale", "GET", "/redemptions/{sale}", STORE_STAFF | {"town_admin", "villager"}),
    StoreOperation(
        "cancel a sale",
        "POST",
        "/redemptions/{sale}/cancel",
        STORE_STAFF,
        lambda s: {"reason": "拿错了"},
        moves_points=True,
        fresh_sale=True,
    ),
]


async def test_store_role_matrix(world: World) -> None:
    scene = await build_scene(world)
    admin, clerk = scene.person("village_admin"), scene.person("clerk")
    for _ in range(2):
        assert (await award(world, admin, scene.own_household.id, scene.rule)).status_code == 201  # 24 points
    item = await world.call(
        "POST",
        f"/stores/{scene.store_a.id}/items",
        admin,
        json={"name": "香皂", "price_points": 1, "stock": 50},
    )
    assert item.status_code == 201, item.text
    IDS["item"] = item.json()["id"]
    sales = []
    for _ in range(len(ROLES) + 1):
        sold = await world.call(
            "POST", "/redemptions", clerk, json=_redeem(scene), headers={"Idempotency-Key": uuid.uuid4().hex}
        )
        assert sold.status_code == 201, sold.text
        sales.append(sold.json()["id"])
    IDS["sale"], IDS["sales"] = sales[0], iter(sales[1:])

    await check_matrix(world, scene, OPERATIONS)

    # 24 points, one sale of 1 per role and one more before the matrix, 2 allowed sales in it, 2 allowed
    # cancellations; the refused sales and cancellations moved nothing
    before = len(ROLES) + 1
    assert (await balance(world, admin, scene.own_household.id))["posted"] == 24 - before - 2 + 2
    items = (await world.call("GET", f"/stores/{scene.store_a.id}/items", admin)).json()["items"]
    soap = next(i for i in items if i["id"] == IDS["item"])
    assert soap["stock"] == 50 - before - 2 + 2 + 3  # three allowed restocks
