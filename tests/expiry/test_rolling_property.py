"""Rolling expiry against a FIFO model: random awards, deductions, redemptions at the counter, reversals of
awards and clock advances, in a village that keeps points N months.

The model keeps each household's lots (points credited at a moment) oldest first; every debit — deduction,
redemption, reversal of an award, expiry — takes from the oldest lot. At every local midnight the lots whose
validity ended expire. After every step the database must agree: the same balance (so nothing spendable
expired early and nothing expired late or twice), the household's own view lists exactly the model's
remaining lots by the day they expire, a second run of the due job posts nothing, no balance is negative,
and every transaction still sums to zero.

Months cannot pass in a test: each operation runs at the database's clock and the rows it wrote are then
back-dated to the example's simulated time (tests/expiry/helpers.py). JIFEN_PROPERTY_EXAMPLES=200 runs a
longer search (20 by default).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, event, example, given, settings
from hypothesis import strategies as st

from jifen.auth.actor import console_actor
from jifen.expiry import service as expiry
from jifen.expiry.policy import ExpiryMode, local_date, local_midnight, rolling_expiry
from jifen.settings import Settings
from tests.expiry.helpers import backdate, db_now, local, superuser
from tests.factories import VillageSetup, World
from tests.ledger.helpers import award, key, make_rule

HOUSEHOLDS = 2
START = local("2027-01-30 10:00:00")  # a month end ahead: Jan 31 + 1 month is clipped to Feb 28


@dataclass
class Lot:
    at: datetime
    points: int


@dataclass
class Household:
    id: uuid.UUID
    lots: list[Lot] = field(default_factory=list)
    awards: list[tuple[str, int]] = field(default_factory=list)  # (transaction id, points) not yet reversed

    @property
    def balance(self) -> int:
        return sum(lot.points for lot in self.lots)

    def debit(self, points: int) -> None:
        """FIFO: the oldest points go first."""
        for lot in self.lots:
            taken = min(lot.points, points)
            lot.points -= taken
            points -= taken
        assert points == 0
        self.lots = [lot for lot in self.lots if lot.points > 0]


@dataclass
class Scene:
    setup: VillageSetup
    plus: dict[str, Any]
    minus: dict[str, Any]
    item: str
    months: int
    households: list[Household]
    now: datetime = START


async def make_scene(world: World, months: int) -> Scene:
    setup = await world.setup_village(households=HOUSEHOLDS)
    admin = setup.people["village_admin"]
    plus, minus = await make_rule(world, setup, 1), await make_rule(world, setup, -1)
    item = await world.call(
        "POST",
        f"/stores/{setup.store.id}/items",
        admin,
        json={"name": "香皂", "price_points": 1, "stock": 100000},
    )
    assert item.status_code == 201, item.text
    # the policy starts the day before the example's first moment
    with mock.patch("jifen.expiry.service.utcnow", return_value=START - timedelta(days=1)):
        async with world.app.state.sessionmaker() as session, session.begin():
            await expiry.set_policy(
                session,
                console_actor(),
                setup.village.id,
                expiry.PolicyChange(mode=ExpiryMode.rolling, months=months),
                reason="性质测试",
            )
    return Scene(setup, plus, minus, item.json()["id"], months, [Household(h.id) for h in setup.households])


async def step(world: World, settings: Settings, scene: Scene, op: tuple[Any, ...]) -> None:
    admin, cadre, clerk = (scene.setup.people[r] for r in ("village_admin", "cadre", "clerk"))
    kind = op[0]
    if kind == "advance":
        await advance(world, settings, scene, timedelta(hours=op[1]))
        return
    household = scene.households[op[1]]
    mark = await db_now(settings)
    if kind == "award":
        response = await award(world, cadre, household.id, scene.plus, op[2])
        assert response.status_code == 201, response.text
        household.lots.append(Lot(scene.now, op[2]))
        household.awards.append((response.json()["transaction_id"], op[2]))
    elif kind in ("deduct", "redeem"):
        if kind == "deduct":
            response = await award(world, cadre, household.id, scene.minus, op[2])
        else:
            response = await world.call(
                "POST",
                "/redemptions",
                clerk,
                json={
                    "store_id": str(scene.setup.store.id),
                    "household_id": str(household.id),
                    "lines": [{"item_id": scene.item, "quantity": op[2]}],
                },
                headers=key(),
            )
        if op[2] > household.balance:
            assert response.status_code == 409, response.text
            assert response.json()["error"] == "insufficient_points"
            event(f"{kind} refused")
        else:
            assert response.status_code == 201, response.text
            household.debit(op[2])
    elif kind == "reverse":
        if not household.awards:
            return
        transaction_id, points = household.awards.pop(op[2] % len(household.awards))
        response = await world.call(
            "POST", f"/transactions/{transaction_id}/reverse", admin, json={"reason": "评错了"}, headers=key()
        )
        if points > household.balance:
            assert response.status_code == 409, response.text
            household.awards.append((transaction_id, points))
            event("reversal refused")
        else:
            assert response.status_code == 201, response.text
            household.debit(points)
    await backdate(settings, scene.setup.village.id, mark, scene.now)
    scene.now += timedelta(minutes=1)


async def advance(world: World, settings: Settings, scene: Scene, by: timedelta) -> None:
    scene.now += by
    midnight = local_midnight(local_date(scene.now))
    for household in scene.households:
        expiring = sum(
            lot.points
            for lot in household.lots
            if rolling_expiry(local_date(lot.at), scene.months) <= midnight
        )
        if expiring:
            household.debit(expiring)
            event("points expired")
    sessionmaker = world.app.state.sessionmaker
    await expiry.run_due(sessionmaker, now=scene.now)
    assert await expiry.run_due(sessionmaker, now=scene.now) == 0  # nothing twice
    await check(world, settings, scene)


async def check(world: World, settings: Settings, scene: Scene) -> None:
    conn = await superuser(settings)
    try:
        accounts = {
            r["id"]: (r["posted"], r["held"])
            for r in await conn.fetch(
                "SELECT id, posted, held FROM accounts WHERE village_id = $1 AND kind = 'household'",
                scene.setup.village.id,
            )
        }
        unbalanced = await conn.fetchval(
            "SELECT count(*) FROM (SELECT transaction_id FROM postings WHERE village_id = $1"
            " GROUP BY transaction_id HAVING sum(amount) <> 0) x",
            scene.setup.village.id,
        )
        drifted = await conn.fetchval(
            "SELECT count(*) FROM accounts a WHERE a.village_id = $1 AND a.kind = 'household'"
            " AND a.posted <> (SELECT coalesce(sum(amount), 0) FROM postings p"
            "                   WHERE p.village_id = a.village_id AND p.account_id = a.id)",
            scene.setup.village.id,
        )
        twice = await conn.fetchval(
            "SELECT count(*) FROM (SELECT household_id, cutoff FROM expiries WHERE village_id = $1"
            " GROUP BY 1, 2 HAVING count(*) > 1) x",
            scene.setup.village.id,
        )
    finally:
        await conn.close()
    assert unbalanced == drifted == twice == 0
    for household in scene.households:
        posted, held = accounts[household.id]
        assert held == 0
        assert posted >= 0
        assert posted == household.balance, (household.lots, posted)
        # the household's own view: the model's lots, by the day they expire
        until = local_date(scene.now) + timedelta(days=31 * scene.months + 2)
        with mock.patch("jifen.expiry.service.utcnow", return_value=scene.now):
            async with world.app.state.sessionmaker() as session, session.begin():
                listed = await expiry.expiring(
                    session, scene.setup.village.id, until=until, household_id=household.id, now=scene.now
                )
        expected: dict[datetime, int] = {}
        for lot in household.lots:
            at = rolling_expiry(local_date(lot.at), scene.months)
            expected[at] = expected.get(at, 0) + lot.points
        assert {e.expires_at: e.amount for e in listed} == expected


amounts = st.integers(1, 40)
awards = st.tuples(st.just("award"), st.integers(0, HOUSEHOLDS - 1), amounts)
operations = st.lists(
    st.one_of(
        awards,
        awards,  # earning is the common case: give the debits and the clock something to take
        awards,
        st.tuples(st.just("deduct"), st.integers(0, HOUSEHOLDS - 1), amounts),
        st.tuples(st.just("redeem"), st.integers(0, HOUSEHOLDS - 1), amounts),
        st.tuples(st.just("reverse"), st.integers(0, HOUSEHOLDS - 1), st.integers(0, 10)),
        # from an hour to about two months
        st.tuples(st.just("advance"), st.integers(1, 24 * 62)),
    ),
    min_size=1,
    max_size=20,
)

EVERY_PATH = [
    ("award", 0, 10),
    ("advance", 24 * 10),
    ("award", 0, 5),
    ("award", 1, 3),
    ("redeem", 0, 4),  # from the oldest lot: 6 of the first 10 are left
    ("advance", 24 * 22),  # past Feb 28: the first lot (Jan 30) has expired, the second not
    ("deduct", 0, 9),  # more than is left: refused
    ("reverse", 1, 0),
    ("award", 1, 7),
    ("advance", 24 * 40),
    ("advance", 24 * 40),
]


@settings(
    max_examples=int(os.environ.get("JIFEN_PROPERTY_EXAMPLES", 20)),
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(months=st.integers(1, 2), ops=operations)
@example(months=1, ops=EVERY_PATH)
async def test_rolling_expiry_spends_oldest_first_and_expires_each_point_once_on_time(
    world: World, app: FastAPI, settings: Settings, months: int, ops: list[tuple[Any, ...]]
) -> None:
    scene = await make_scene(world, months)
    for op in ops:
        await step(world, settings, scene, op)
    # long enough for every lot left to reach its end: all of it expires, once, and nothing is left
    await advance(world, settings, scene, timedelta(days=31 * months + 1))
    assert all(household.balance == 0 for household in scene.households)
