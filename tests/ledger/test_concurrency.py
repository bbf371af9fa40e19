"""Real parallel requests: each request in flight holds its own database connection (the test pool is
40 + 20), so these races are decided by PostgreSQL's locks, not by the event loop's scheduling."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from typing import Any

from sqlalchemy import text

from jifen.auth.actor import console_actor
from jifen.ledger import service as ledger
from tests.factories import World
from tests.ledger.helpers import award, balance, key, make_rule


async def postings_of(world: World, household_id: uuid.UUID) -> list[Any]:
    async with world.session() as session:
        result = await session.execute(
            text(
                "SELECT transaction_id, amount, balance_after FROM postings "
                "WHERE account_id = :h ORDER BY account_version"
            ),
            {"h": household_id},
        )
        return list(result.all())


async def test_fifty_deductions_race_a_balance_that_covers_ten(world: World) -> None:
    setup = await world.setup_village(households=2)
    cadre, admin = setup.people["cadre"], setup.people["village_admin"]
    household = setup.households[1]
    d = 7
    fund = await make_rule(world, setup, 10 * d)
    minus = await make_rule(world, setup, -d)
    assert (await award(world, cadre, household.id, fund)).status_code == 201

    answers = await asyncio.gather(*(award(world, cadre, household.id, minus) for _ in range(50)))

    statuses = Counter(a.status_code for a in answers)
    assert statuses == {201: 10, 409: 40}, statuses
    assert {a.json()["error"] for a in answers if a.status_code == 409} == {"insufficient_points"}
    assert await balance(world, admin, household.id) == {
        "household_id": str(household.id),
        "posted": 0,
        "held": 0,
        "available": 0,
        "lifetime_earned": 10 * d,
    }
    # the history shows the balance walking down one deduction at a time and never below zero
    history = await postings_of(world, household.id)
    assert [p.balance_after for p in history] == [10 * d - i * d for i in range(11)]
    entries = (await world.call("GET", f"/households/{household.id}/entries?limit=200", admin)).json()
    assert [e["balance_after"] for e in entries["items"]] == [i * d for i in range(11)]
    assert sorted(e["transaction_id"] for e in entries["items"][:10]) == sorted(
        a.json()["transaction_id"] for a in answers if a.status_code == 201
    )


async def test_one_idempotency_key_sent_twenty_times_at_once(world: World) -> None:
    setup = await world.setup_village(households=2)
    cadre, admin = setup.people["cadre"], setup.people["village_admin"]
    household = setup.households[1]
    plus = await make_rule(world, setup, 12)
    same_key = uuid.uuid4().hex

    answers = await asyncio.gather(
        *(award(world, cadre, household.id, plus, idempotency_key=same_key) for _ in range(20))
    )

    assert {a.status_code for a in answers} == {201}
    assert len({a.content for a in answers}) == 1, "the replays differ from the first answer"
    body = answers[0].json()
    history = await postings_of(world, household.id)
    assert [(p.transaction_id, p.amount) for p in history] == [(uuid.UUID(body["transaction_id"]), 12)]
    assert (await balance(world, admin, household.id))["posted"] == 12
    # and later with the same key still the same answer, nothing new
    later = await award(world, cadre, household.id, plus, idempotency_key=same_key)
    assert later.status_code == 201
    assert later.content == answers[0].content
    assert len(await postings_of(world, household.id)) == 1


async def test_concurrent_reversals_of_one_transaction(world: World) -> None:
    setup = await world.setup_village(households=2)
    cadre, admin = setup.people["cadre"], setup.people["village_admin"]
    household = setup.households[1]
    plus = await make_rule(world, setup, 20)
    tx_id = (await award(world, cadre, household.id, plus)).json()["transaction_id"]

    answers = await asyncio.gather(
        *(
            world.call(
                "POST", f"/transactions/{tx_id}/reverse", admin, json={"reason": f"评错了 {i}"}, headers=key()
            )
            for i in range(12)
        )
    )

    statuses = Counter(a.status_code for a in answers)
    assert statuses == {201: 1, 409: 11}, statuses
    assert {a.json()["error"] for a in answers if a.status_code == 409} == {"already_reversed"}
    [reversal] = [a.json() for a in answers if a.status_code == 201]
    assert (await balance(world, admin, household.id))["posted"] == 0
    original = (await world.call("GET", f"/transactions/{tx_id}", admin)).json()
    assert original["reversed_by"] == reversal["id"]
    assert [p.amount for p in await postings_of(world, household.id)] == [20, -20]


async def test_overlapping_batches_in_different_orders_do_not_deadlock(world: World) -> None:
    setup = await world.setup_village(households=8)
    cadre, admin = setup.people["cadre"], setup.people["village_admin"]
    households = setup.households
    plus = await make_rule(world, setup, 5)
    minus = await make_rule(world, setup, -3)
    fund = [{"household_id": str(h.id), "rule_id": plus["id"], "quantity": 20} for h in households]
    assert (
        await world.call("POST", "/awards/batch", cadre, json={"items": fund}, headers=key())
    ).status_code == 201

    shuffle = random.Random(20261122)
    batches: list[list[dict[str, Any]]] = []
    for _ in range(12):
        items = [
            {"household_id": str(h.id), "rule_id": rule["id"]}
            for h in households
            for rule in (plus, minus)
            if shuffle.random() < 0.8
        ]
        shuffle.shuffle(items)
        batches.append(items)

    answers = await asyncio.gather(
        *(
            world.call("POST", "/awards/batch", cadre, json={"items": items}, headers=key())
            for items in batches
        )
    )

    assert [a.status_code for a in answers] == [201] * len(batches), [a.text[:200] for a in answers]
    points = {plus["id"]: 5, minus["id"]: -3}
    for h in households:
        expected = 100 + sum(
            points[i["rule_id"]] for items in batches for i in items if i["household_id"] == str(h.id)
        )
        got = await balance(world, admin, h.id)
        assert got["posted"] == got["available"] == expected
        history = await postings_of(world, h.id)
        assert history[-1].balance_after == expected
        assert all(p.balance_after >= 0 for p in history)


async def test_holds_and_deductions_race_for_the_same_points(world: World) -> None:
    """Holds (the store's and the public notice's primitive) count against `available` under the same race."""
    setup = await world.setup_village(households=2)
    cadre, admin = setup.people["cadre"], setup.people["village_admin"]
    household = setup.households[1]
    d = 5
    assert (await award(world, cadre, household.id, await make_rule(world, setup, 10 * d))).status_code == 201
    minus = await make_rule(world, setup, -d)

    async def hold() -> str:
        try:
            async with world.session() as session, session.begin():
                await ledger.place_hold(
                    session,
                    console_actor(),
                    ledger.HoldTerms(village_id=setup.village.id, household_id=household.id, amount=d),
                )
        except ledger.InsufficientPoints:
            return "refused"
        return "held"

    async def deduct() -> str:
        response = await award(world, cadre, household.id, minus)
        if response.status_code == 409:
            assert response.json()["error"] == "insufficient_points"
            return "refused"
        assert response.status_code == 201, response.text
        return "deducted"

    outcomes = Counter(await asyncio.gather(*(hold() if i % 2 else deduct() for i in range(30))))

    assert outcomes["held"] + outcomes["deducted"] == 10, outcomes
    assert outcomes["refused"] == 20
    got = await balance(world, admin, household.id)
    assert got["held"] == outcomes["held"] * d
    assert got["posted"] == (10 - outcomes["deducted"]) * d
    assert got["available"] == 0
