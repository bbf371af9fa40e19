"""The town page reads the overview and its charts' months in one statement: it answers exactly what the two
reads answer alone, for a month and a year, before and after a roll-up."""

from __future__ import annotations

import asyncpg

from jifen.audit import chain
from jifen.kit.timeutil import to_local, utcnow
from jifen.town import charts, service
from jifen.town import repository as town
from tests.audit.test_chain import service_db  # noqa: F401 (the fixture)
from tests.factories import World
from tests.ledger.helpers import award, make_rule


async def test_one_statement_answers_what_the_two_reads_answer(
    world: World,
    service_db: asyncpg.Connection,  # noqa: F811 (the fixture imported above)
) -> None:
    villages = [await world.setup_village(households=3) for _ in range(2)]

    async def agree() -> None:
        month = to_local(utcnow()).strftime("%Y-%m")
        for period in (month, month[:4], "2025-03"):
            async with world.session() as session, session.begin():
                together, months = await service.overview_and_monthly(session, period)
                assert together == await service.overview(session, period)
                assert months == await charts.monthly(session)
                assert list(months) == [v.village_id for v in together.villages]

    for points in (10, -3):
        for setup in villages:
            rule = await make_rule(world, setup, points)
            for household in setup.households[1:]:
                made = await award(world, setup.people["cadre"], household.id, rule)
                assert made.status_code == 201, made.text
        await agree()  # what came after the marks
        upto = await chain.horizon(service_db)
        assert upto is not None
        assert await town.roll_up(service_db, upto, villages=10_000) >= 2
        await agree()  # rolled up
