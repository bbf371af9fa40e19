from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import text

from jifen.demo import DEMO_LOGINS, DEMO_PASSWORD, is_empty, load_demo
from tests.factories import World


async def test_the_demo_village_shows_households_rules_and_points(app: FastAPI, world: World) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        assert await is_empty(session)
        await load_demo(session)
    async with app.state.sessionmaker() as session:
        assert not await is_empty(session)
        grids = (await session.execute(text("SELECT count(DISTINCT grid), count(*) FROM households"))).one()
        assert tuple(grids) == (3, 30)
        rules = (await session.execute(text("SELECT count(*) FROM rules"))).scalar_one()
        assert rules >= 6
        earned = (
            await session.execute(
                text("SELECT count(*) FROM accounts WHERE kind = 'household' AND posted > 0")
            )
        ).scalar_one()
        assert earned >= 25
        reversals = (
            await session.execute(text("SELECT count(*) FROM ledger_transactions WHERE kind = 'reversal'"))
        ).scalar_one()
        assert reversals == 1
    for login in DEMO_LOGINS:
        response = await world.client.post(
            "/api/v1/auth/token", data={"username": login.username, "password": DEMO_PASSWORD}
        )
        assert response.status_code == 200, login
