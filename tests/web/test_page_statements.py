"""What a page sends to the database (issue 12): each read once, nothing read twice for one answer."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI
from sqlalchemy import event

from tests.factories import World
from tests.ledger.helpers import award, make_rule
from tests.web.test_admin_pages import browser


def _statements(app: FastAPI) -> list[str]:
    """Every statement the app sends from now on, through SQLAlchemy and straight to the driver."""
    sent: list[str] = []
    logged: set[int] = set()
    engine = app.state.engine.sync_engine

    def on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        driver = dbapi_connection.driver_connection
        if id(driver) not in logged:
            logged.add(id(driver))
            driver.add_query_logger(lambda query: sent.append(query.query))

    def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(engine.pool, "checkout", on_checkout)
    event.listen(engine, "before_cursor_execute", on_execute)
    return sent


def _count(sent: list[str], marker: str) -> int:
    return sum(1 for statement in sent if marker in statement)


RANKING = "WITH recent AS MATERIALIZED"  # rankings/repository.py _RANKING


async def test_the_rankings_page_reads_the_ranking_once_for_the_table_and_the_lists(
    world: World, app: FastAPI
) -> None:
    setup = await world.setup_village(households=3, grids=("一组", "二组"))
    rule = await make_rule(world, setup, 6)
    assert (await award(world, setup.people["cadre"], setup.households[1].id, rule)).status_code == 201

    async with browser(app, setup.people["villager"]) as villager:
        await villager.get("/rankings")  # warm: the actor, the village
        sent = _statements(app)
        page = await villager.get("/rankings")
        await asyncio.sleep(0)  # the driver's logger reports on the next turn of the loop
        village_wide = _count(sent, RANKING)
        sent.clear()
        grid = await villager.get("/rankings?grid=一组")
        await asyncio.sleep(0)
        one_grid = _count(sent, RANKING)

    assert page.status_code == 200
    assert "红榜" in page.text
    assert setup.households[1].code in page.text
    assert village_wide == 1, "the table and the red and black lists from one read"
    assert grid.status_code == 200
    assert one_grid == 2, "a grid's table, and the village's lists"


async def test_the_funding_page_reads_the_pegs_once(world: World, app: FastAPI) -> None:
    setup = await world.setup_village(households=2)
    async with browser(app, setup.people["village_admin"]) as admin:
        await admin.get("/admin/funding")
        sent = _statements(app)
        page = await admin.get("/admin/funding")
        await asyncio.sleep(0)

    assert page.status_code == 200
    assert _count(sent, "FROM village_pegs") == 1, "the peg in force and the history from one read"
    money = [statement for statement in sent if "FROM village_funds" in statement]
    assert len(money) == 2, "the funds received (beside the points) and the list of funds"
    assert any("FROM accounts" in statement for statement in money), "the points and the funds in one read"
