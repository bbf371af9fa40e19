"""The role matrix for funding and settlement, and the QR codes.

See tests/role_matrix.py for what each answer must be. Paths name village A's store, a fund (a fresh one
for every caller of a void: a fund is voided once), the villager's reservation and the households."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from tests.factories import World
from tests.funding.helpers import add_fund
from tests.ledger.helpers import award
from tests.role_matrix import (
    HOUSEHOLD_COUNTER,
    OWN_HOUSEHOLD_COUNTER,
    ROLES,
    VILLAGE_USERS,
    Operation,
    Scene,
    build_scene,
    check_matrix,
)

IDS: dict[str, Any] = {}
days = itertools.count(0)

ADMIN = frozenset({"village_admin"})
BOOK_READERS = frozenset({"village_admin", "town_admin"})
STORE_BOOK_READERS = frozenset({"village_admin", "clerk", "town_admin"})
PICKUP = frozenset({"village_admin", "clerk", "villager"})


@dataclass(frozen=True)
class FundingOperation(Operation):
    fresh_fund: bool = False

    def url(self, scene: Scene) -> str:
        funds: Iterator[str] = IDS["funds"]
        return self.path.format(
            village_a=scene.village_a.id,
            store=scene.store_a.id,
            household=scene.household.id,
            own_household=scene.own_household.id,
            reservation=IDS["reservation"],
            fund=next(funds) if self.fresh_fund else IDS["fund"],
        )


def _fund(scene: Scene) -> dict[str, Any]:
    return {
        "source": "donor",
        "source_name": "富民农业有限公司",
        "amount_fen": 10_000,
        "received_on": "2026-11-01",
    }


def _settlement(scene: Scene) -> dict[str, Any]:
    day = date(2001, 1, 1) + timedelta(days=next(days))  # a fresh ended stretch for every caller
    return {"period": f"{day}/{day}", "note": "付款"}


OPERATIONS = [
    FundingOperation("read the peg", "GET", "/villages/{village_a}/peg", VILLAGE_USERS | {"town_admin"}),
    FundingOperation(
        "set the peg",
        "PUT",
        "/villages/{village_a}/peg",
        ADMIN,
        lambda s: {"fen_per_point": 100 + next(days), "reason": "村民代表大会决议"},
    ),
    FundingOperation("record a fund", "POST", "/villages/{village_a}/funds", ADMIN, _fund, moves_points=True),
    FundingOperation("list funds", "GET", "/villages/{village_a}/funds", BOOK_READERS),
    FundingOperation(
        "void a fund",
        "POST",
        "/funds/{fund}/void",
        ADMIN,
        lambda s: {"reason": "重复录入"},
        moves_points=True,
        fresh_fund=True,
    ),
    FundingOperation("the overview", "GET", "/villages/{village_a}/funding", BOOK_READERS),
    FundingOperation(
        "settlement report", "GET", "/stores/{store}/settlement?period=2026-10", STORE_BOOK_READERS
    ),
    FundingOperation(
        "record a settlement", "POST", "/stores/{store}/settlements", ADMIN, _settlement, moves_points=True
    ),
    FundingOperation("list settlements", "GET", "/stores/{store}/settlements", STORE_BOOK_READERS),
    FundingOperation("pickup QR (svg)", "GET", "/reservations/{reservation}/qr.svg", PICKUP),
    FundingOperation("pickup QR (png)", "GET", "/reservations/{reservation}/qr.png", PICKUP),
    FundingOperation(
        "household card QR (svg)",
        "GET",
        "/households/{household}/qr.svg",
        HOUSEHOLD_COUNTER,
        hidden_from=frozenset({"other_village_admin", "villager"}),
    ),
    FundingOperation(
        "own household card QR (png)",
        "GET",
        "/households/{own_household}/qr.png",
        OWN_HOUSEHOLD_COUNTER,
    ),
    # the reservation itself: the town admin may audit it, without its live code (see Scene.private)
    FundingOperation("a reservation", "GET", "/reservations/{reservation}", PICKUP | {"town_admin"}),
    # a household's reservations: a clerk lists those of their own store (other_clerk: none of store A's)
    FundingOperation(
        "a household's reservations",
        "GET",
        "/households/{own_household}/reservations",
        PICKUP | {"town_admin", "other_clerk"},
    ),
    FundingOperation(
        "a neighbour's reservations",
        "GET",
        "/households/{household}/reservations",
        frozenset({"town_admin", "village_admin", "clerk", "other_clerk"}),
        hidden_from=frozenset({"other_village_admin", "villager"}),
    ),
]


async def test_funding_role_matrix(world: World) -> None:
    scene = await build_scene(world)
    admin, villager = scene.person("village_admin"), scene.person("villager")
    assert (await award(world, admin, scene.own_household.id, scene.rule)).status_code == 201  # 12 points
    item = await world.call(
        "POST",
        f"/stores/{scene.store_a.id}/items",
        admin,
        json={"name": "香皂", "price_points": 1, "stock": 50},
    )
    assert item.status_code == 201, item.text
    reserved = await world.call(
        "POST",
        "/reservations",
        villager,
        json={"store_id": str(scene.store_a.id), "lines": [{"item_id": item.json()["id"], "quantity": 1}]},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert reserved.status_code == 201, reserved.text
    IDS["reservation"] = reserved.json()["id"]
    scene.private[reserved.json()["code"]] = PICKUP  # the household and store A's staff only
    funds = []
    for _ in range(len(ROLES) + 1):
        response = await add_fund(world, admin, scene.village_a.id, 5_000)
        assert response.status_code == 201, response.text
        funds.append(response.json()["id"])
    IDS["fund"], IDS["funds"] = funds[0], iter(funds[1:])

    await check_matrix(world, scene, OPERATIONS)

    # what the refused callers tried moved nothing: one more fund (¥100), one void (¥50), one settlement,
    # one peg
    overview = await world.call("GET", f"/villages/{scene.village_a.id}/funding", admin)
    assert overview.json()["funds_received_fen"] == 5_000 * len(funds) + 10_000 - 5_000
    settled = await world.call("GET", f"/stores/{scene.store_a.id}/settlements", admin)
    assert len(settled.json()["items"]) == 1
    peg = await world.call("GET", f"/villages/{scene.village_a.id}/peg", admin)
    assert len(peg.json()["history"]) == 1
