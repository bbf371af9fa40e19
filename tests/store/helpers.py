"""Helpers for store tests: points, items, sales and what a clerk would look at, through the HTTP API."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text

from tests.factories import Person, VillageSetup, World
from tests.ledger.helpers import award, balance, make_rule


async def fund(world: World, setup: VillageSetup, household_id: uuid.UUID, points: int) -> None:
    """Give a household exactly `points` through an award."""
    rule = await make_rule(world, setup, points)
    response = await award(world, setup.people["village_admin"], household_id, rule)
    assert response.status_code == 201, response.text


async def make_item(
    world: World,
    setup: VillageSetup,
    name: str,
    price: int,
    stock: int,
    *,
    store_id: uuid.UUID | None = None,
    **extra: Any,
) -> dict[str, Any]:
    response = await world.call(
        "POST",
        f"/stores/{store_id or setup.store.id}/items",
        setup.people["village_admin"],
        json={"name": name, "price_points": price, "stock": stock, **extra},
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def redeem(
    world: World,
    who: Person,
    store_id: uuid.UUID,
    household_id: uuid.UUID | None,
    lines: list[tuple[str, int]],
    *,
    key: str | None = None,
    household_code: str | None = None,
) -> Any:
    body: dict[str, Any] = {
        "store_id": str(store_id),
        "lines": [{"item_id": item_id, "quantity": quantity} for item_id, quantity in lines],
    }
    if household_code is not None:
        body["household_code"] = household_code
    else:
        body["household_id"] = str(household_id)
    return await world.call(
        "POST", "/redemptions", who, json=body, headers={"Idempotency-Key": key or uuid.uuid4().hex}
    )


async def cancel(world: World, who: Person, redemption_id: str, *, key: str | None = None) -> Any:
    return await world.call(
        "POST",
        f"/redemptions/{redemption_id}/cancel",
        who,
        json={"reason": "顾客拿错了商品"},
        headers={"Idempotency-Key": key or uuid.uuid4().hex},
    )


async def stocks(world: World, setup: VillageSetup, store_id: uuid.UUID | None = None) -> dict[str, int]:
    """What the catalogue shows on the shelf, by item name."""
    response = await world.call("GET", f"/stores/{store_id or setup.store.id}/items", setup.people["clerk"])
    assert response.status_code == 200, response.text
    return {item["name"]: item["stock"] for item in response.json()["items"]}


async def available(world: World, setup: VillageSetup, household_id: uuid.UUID) -> int:
    return (await balance(world, setup.people["village_admin"], household_id))["available"]


async def scalar(world: World, sql: str, **params: Any) -> Any:
    async with world.session() as session:
        return (await session.execute(text(sql), params)).scalar()


async def movements(world: World, item_id: str) -> list[tuple[str, int, int]]:
    """The item's stock history: (kind, quantity, stock after), oldest first."""
    async with world.session() as session:
        rows = await session.execute(
            text("SELECT kind, quantity, on_hand_after FROM stock_movements WHERE item_id = :i ORDER BY id"),
            {"i": uuid.UUID(item_id)},
        )
        return [tuple(row) for row in rows.all()]
