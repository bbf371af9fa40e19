"""A ranking reads each household's rolled-up points (household_period_points) plus what came after the
village's roll-up mark; whenever it is asked (before any roll-up, right after one, with new postings since)
it answers what the whole ledger says, for a month, a year and all time, by grid and by household class,
computed here the direct way as the reference."""

from __future__ import annotations

from typing import Any

import asyncpg

from jifen.audit import chain
from jifen.kit.timeutil import to_local, utcnow
from jifen.models import Household
from jifen.rankings import service as rankings
from jifen.town import repository as town
from tests.audit.test_chain import service_db  # noqa: F401 (the fixture)
from tests.factories import World
from tests.ledger.helpers import award, key, make_rule

# the ranking as it was computed before the roll-up (every posting of the period)
REFERENCE = """
WITH earned AS (
    SELECT p.account_id, sum(p.amount) AS points
      FROM postings p
      JOIN ledger_transactions t ON t.village_id = p.village_id AND t.id = p.transaction_id
     WHERE p.village_id = $1 AND p.account_version IS NOT NULL
       AND (t.kind IN ('award', 'deduction', 'rectification', 'reversal')
            OR (t.kind = 'adjustment' AND t.source_type = 'award'))
       AND ($2::timestamptz IS NULL OR (t.created_at >= $2 AND t.created_at < $3))
     GROUP BY p.account_id
)
SELECT rank() OVER (ORDER BY coalesce(e.points, 0) DESC)::int AS rank, h.id AS household_id,
       coalesce(e.points, 0)::bigint AS points
  FROM households h LEFT JOIN earned e ON e.account_id = h.id
 WHERE h.village_id = $1 AND ($4::text IS NULL OR h.grid = $4) AND ($5::text IS NULL OR h.class = $5)
 ORDER BY rank, h.code
"""


async def test_the_ranking_agrees_with_the_ledger_before_and_after_each_roll_up(
    world: World,
    service_db: asyncpg.Connection,  # noqa: F811 (the fixture imported above)
) -> None:
    service = service_db
    setup = await world.setup_village(households=4)
    village = setup.village.id
    cadre = setup.people["cadre"]
    async with world.session() as session, session.begin():
        for household in setup.households[:2]:
            row = await session.get(Household, (village, household.id))
            assert row is not None
            row.household_class = "党员户"
    month = to_local(utcnow()).strftime("%Y-%m")
    filters = [(None, None), ("一组", None), (None, "党员户"), ("二组", "党员户")]

    async def agree() -> None:
        for label in (month, month[:4], None):
            period = rankings.parse_period(label)
            for grid, household_class in filters:
                expected = [
                    (r["rank"], r["household_id"], r["points"])
                    for r in await service.fetch(
                        REFERENCE, village, period.start, period.end, grid, household_class
                    )
                ]
                async with world.session() as session, session.begin():
                    ranked = await rankings.ranking(session, village, period, grid, household_class)
                assert [(r.rank, r.household_id, r.points) for r in ranked] == expected, (label, grid)

    async def roll_up() -> int:
        upto = await chain.horizon(service)
        assert upto is not None
        return await town.roll_up(service, upto, villages=10_000)

    async def awards(points: int, households: Any) -> Any:
        rule = await make_rule(world, setup, points)
        made = [await award(world, cadre, h.id, rule) for h in households]
        assert all(m.status_code == 201 for m in made), [m.text for m in made]
        return made

    await awards(10, setup.households)
    await awards(5, setup.households[1:3])
    await agree()  # nothing rolled up yet: everything is read after the mark
    assert await roll_up() >= 1
    await agree()
    points = await service.fetchval(
        "SELECT sum(points) FROM household_period_points WHERE village_id = $1 AND period = '*'", village
    )
    assert points == 4 * 10 + 2 * 5

    # after the roll-up: a deduction and a reversal of an award
    await awards(-3, setup.households[2:])
    made = await awards(4, setup.households[:1])
    reverse = await world.call(
        "POST",
        f"/transactions/{made[0].json()['transaction_id']}/reverse",
        setup.people["village_admin"],
        json={"reason": "录错了"},
        headers=key(),
    )
    assert reverse.status_code == 201, reverse.text
    await agree()
    assert await roll_up() >= 1
    await agree()
