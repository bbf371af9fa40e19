"""The town overview reads rolled-up figures plus what came after each village's mark; whenever it is asked
(before any roll-up, right after one, with new postings since) it answers what the whole ledger says,
computed here the direct way as the reference."""

from __future__ import annotations

from typing import Any

import asyncpg

from jifen.audit import chain
from jifen.kit.timeutil import to_local, utcnow
from jifen.rankings.service import parse_period
from jifen.town import repository as town
from tests.audit.test_chain import service_db  # noqa: F401 (the fixture)
from tests.factories import World
from tests.ledger.helpers import award, key, make_rule

# the overview as it was computed before the roll-up (every posting of the period, every balance)
REFERENCE = """
WITH moves AS (
    SELECT p.village_id, p.account_id, t.kind, p.amount
      FROM postings p
      JOIN ledger_transactions t ON t.village_id = p.village_id AND t.id = p.transaction_id
      JOIN accounts a ON a.village_id = p.village_id AND a.id = p.account_id AND a.kind = 'household'
     WHERE t.created_at >= $1 AND t.created_at < $2
), figures AS (
    SELECT village_id,
           count(DISTINCT account_id) FILTER (WHERE kind IN ('award', 'deduction')) AS taking_part,
           coalesce(sum(amount) FILTER (WHERE kind IN ('award', 'rectification') AND amount > 0), 0)
             AS issued,
           coalesce(-sum(amount) FILTER (WHERE kind = 'deduction'), 0) AS deducted,
           coalesce(-sum(amount) FILTER (WHERE kind IN ('redemption', 'redemption_cancel')), 0) AS redeemed
      FROM moves GROUP BY village_id
)
SELECT v.id::text AS village_id, v.code, v.name,
       (SELECT count(*) FROM households h WHERE h.village_id = v.id) AS households,
       coalesce(f.taking_part, 0) AS taking_part, coalesce(f.issued, 0) AS issued,
       coalesce(f.deducted, 0) AS deducted, coalesce(f.redeemed, 0) AS redeemed,
       (SELECT coalesce(sum(a.posted), 0) FROM accounts a WHERE a.village_id = v.id AND a.kind = 'household')
         AS outstanding
  FROM villages v LEFT JOIN figures f ON f.village_id = v.id
 ORDER BY v.code
"""


async def test_the_overview_agrees_with_the_ledger_before_and_after_each_roll_up(
    world: World,
    service_db: asyncpg.Connection,  # noqa: F811 (the fixture imported above)
) -> None:
    service = service_db
    town_admin = await world.town_admin()
    villages = [await world.setup_village(households=3) for _ in range(2)]
    month = to_local(utcnow()).strftime("%Y-%m")

    async def expected(period: str) -> list[dict[str, Any]]:
        window = parse_period(period)
        return [dict(row) for row in await service.fetch(REFERENCE, window.start, window.end)]

    async def answered(period: str) -> list[dict[str, Any]]:
        response = await world.call("GET", "/town/overview", town_admin, params={"period": period})
        assert response.status_code == 200, response.text
        return [{**v, "village_id": str(v["village_id"])} for v in response.json()["villages"]]

    async def awards(points: int) -> None:
        for setup in villages:
            rule = await make_rule(world, setup, points)
            for household in setup.households[1:]:
                made = await award(world, setup.people["cadre"], household.id, rule)
                assert made.status_code == 201, made.text

    async def agree() -> None:
        for period in (month, month[:4]):
            assert await answered(period) == await expected(period)

    await awards(10)
    await agree()  # nothing rolled up yet: everything is read after the marks
    upto = await chain.horizon(service)
    assert upto is not None
    assert await town.roll_up(service, upto) == 2
    assert await town.roll_up(service, upto) == 0  # nothing new
    figures = await answered(month)
    assert [v["issued"] for v in figures[-2:]] == [20, 20]  # two households of each new village, +10
    assert [v["taking_part"] for v in figures[-2:]] == [2, 2]
    await agree()

    # after the roll-up: a deduction (the same households take part again: not counted twice), a reversal
    await awards(-3)
    first = villages[0]
    tx = await award(world, first.people["cadre"], first.households[1].id, await make_rule(world, first, 4))
    reverse = await world.call(
        "POST",
        f"/transactions/{tx.json()['transaction_id']}/reverse",
        first.people["village_admin"],
        json={"reason": "录错了"},
        headers=key(),
    )
    assert reverse.status_code == 201, reverse.text
    await agree()
    upto = await chain.horizon(service)
    assert upto is not None
    assert await town.roll_up(service, upto) == 2
    await agree()
    figures = await answered(month)
    assert [v["deducted"] for v in figures[-2:]] == [6, 6]
    assert [v["taking_part"] for v in figures[-2:]] == [2, 2]
