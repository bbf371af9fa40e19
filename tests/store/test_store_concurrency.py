"""Races at the counter, decided by PostgreSQL's locks: each request in flight holds its own connection
(the test pool is 40 + 20)."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.factories import World
from tests.store.helpers import available, fund, make_item, movements, redeem, scalar, stocks


async def test_32_clerks_race_for_the_last_5_units(world: World) -> None:
    setup = await world.setup_village(households=32)
    oil = await make_item(world, setup, "食用油", 85, 5)
    for household in setup.households:
        await fund(world, setup, household.id, 100)

    answers = await asyncio.gather(
        *(
            redeem(world, setup.people["clerk"], setup.store.id, household.id, [(oil["id"], 1)])
            for household in setup.households
        )
    )

    statuses = Counter(a.status_code for a in answers)
    assert statuses == {201: 5, 409: 27}, statuses
    assert {a.json()["error"] for a in answers if a.status_code == 409} == {"out_of_stock"}
    assert await stocks(world, setup) == {"食用油": 0}
    history = await movements(world, oil["id"])
    assert [after for _, _, after in history] == [5, 4, 3, 2, 1, 0]
    buyers = {a.json()["household_id"] for a in answers if a.status_code == 201}
    balances = [await available(world, setup, h.id) for h in setup.households]
    assert sorted(balances) == [15] * 5 + [100] * 27
    assert {str(h.id) for h, b in zip(setup.households, balances, strict=True) if b == 15} == buyers


async def test_32_sales_to_one_household_spend_exactly_what_it_had(world: World) -> None:
    setup = await world.setup_village(households=2)
    household = setup.households[1]
    await fund(world, setup, household.id, 100)
    soap = await make_item(world, setup, "香皂", 15, 100)

    answers = await asyncio.gather(
        *(
            redeem(world, setup.people["clerk"], setup.store.id, household.id, [(soap["id"], 1)])
            for _ in range(32)
        )
    )

    statuses = Counter(a.status_code for a in answers)
    assert statuses == {201: 6, 409: 26}, statuses  # 6 × 15 = 90 of 100
    assert {a.json()["error"] for a in answers if a.status_code == 409} == {"insufficient_points"}
    assert await available(world, setup, household.id) == 10
    assert await stocks(world, setup) == {"香皂": 94}
    assert sorted(a.json()["balance_after"] for a in answers if a.status_code == 201) == [
        10,
        25,
        40,
        55,
        70,
        85,
    ]
    assert await scalar(world, "SELECT count(*) FROM redemptions") == 6
    assert (
        await scalar(world, "SELECT min(balance_after) FROM postings WHERE account_id = :h", h=household.id)
        == 10
    )
