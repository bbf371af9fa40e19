"""Page speed on a loaded machine is mostly round trips to PostgreSQL (docs/benchmarks.md, issue #12): the
villager's first screen and an admin page stay within their budgets, and a page reads its village once however
many access checks it makes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import pytest
from asyncpg.prepared_stmt import PreparedStatement
from fastapi import FastAPI

from tests.factories import World
from tests.web.test_admin_pages import browser


@contextmanager
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every statement sent to PostgreSQL meanwhile (BEGIN and COMMIT included), through either path asyncpg
    offers: the driver's own calls (Sql) and SQLAlchemy's prepared statements."""
    sent: list[str] = []
    execute, inner, bound = (
        asyncpg.Connection.execute,
        asyncpg.Connection._execute,
        PreparedStatement._PreparedStatement__bind_execute,
    )

    async def simple(self: asyncpg.Connection, query: str, *args: Any, **kw: Any) -> Any:
        if not args:
            sent.append(query)
        return await execute(self, query, *args, **kw)

    async def extended(self: asyncpg.Connection, query: str, *args: Any, **kw: Any) -> Any:
        sent.append(query)
        return await inner(self, query, *args, **kw)

    async def prepared(self: PreparedStatement, *args: Any, **kw: Any) -> Any:
        sent.append(self.get_query())
        return await bound(self, *args, **kw)

    with monkeypatch.context() as patch:
        patch.setattr(asyncpg.Connection, "execute", simple)
        patch.setattr(asyncpg.Connection, "_execute", extended)
        patch.setattr(PreparedStatement, "_PreparedStatement__bind_execute", prepared)
        yield sent


async def test_the_villagers_first_screen_and_an_admin_page_keep_their_round_trips(
    world: World, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = await world.setup_village(households=2)
    async with browser(app, setup.people["villager"]) as villager:
        assert (await villager.get("/me")).status_code == 200  # the first one reads the header's village
        with statements(monkeypatch) as sent:
            shown = await villager.get("/me")
        assert shown.status_code == 200
        assert "我的积分" in shown.text
        # BEGIN, actor, household, members and balance, entries, reservations, expiry policy, ranking (2),
        # the year's balances, COMMIT: 36 when pages called the API in-process, 16 before this budget
        assert len(sent) <= 11, sent
        assert not [s for s in sent if "FROM villages" in s], sent
    async with browser(app, setup.people["village_admin"]) as admin:
        with statements(monkeypatch) as sent:
            shown = await admin.get("/admin/expiry")
        assert shown.status_code == 200
        assert "积分清零" in shown.text
        # three access checks of the village (the admin's, the policy reader's, the preview reader's)
        assert len([s for s in sent if "FROM villages" in s]) == 1, sent
        assert len(sent) <= 8, sent
