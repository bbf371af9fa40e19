"""The verdict on the admin page (issue 12): the page never verifies a long chain while it answers. It shows
the kept verdict (audit_verifications) and how much is not verified yet; it verifies only a little itself; the
background loop's chain job verifies what it linked (audit.verify_behind); a broken verdict stays."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from jifen.audit import chain
from jifen.audit import service as audit
from jifen.background import chain_now
from jifen.demo import DEMO_PASSWORD, load_demo
from jifen.settings import Settings
from tests.audit.test_chain import history
from tests.db import _asyncpg_url
from tests.factories import World
from tests.ledger.helpers import award, make_rule
from tests.web.test_admin_pages import CSRF, browser


@pytest.fixture
async def conn(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    assert settings.database_url
    connection = await asyncpg.connect(_asyncpg_url(settings.database_url))
    yield connection
    await connection.close()


async def _marks(conn: asyncpg.Connection, village: object) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM audit_verifications WHERE scope = $1", village))


async def test_the_page_shows_the_kept_verdict_and_verifies_only_a_little_itself(
    world: World, app: FastAPI, conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = await history(world)
    village = setup.village.id
    monkeypatch.setattr(audit, "PAGE_VERIFY_LIMIT", 3)

    async with browser(app, setup.people["village_admin"]) as admin:
        # nothing linked yet, but more waits to be linked than the page would hash while it answers
        unlinked = await admin.get("/admin")
        assert "尚未核验（由后台核验，请稍后刷新本页）：已入链 0 条记录，另有" in unlinked.text
        assert await _marks(conn, village) == 0

        linked = await chain.link(conn, village, 10**12)
        monkeypatch.setattr(audit, "PAGE_VERIFY_LIMIT", linked - 1)
        never = await admin.get("/admin")
        assert never.status_code == 200
        # too long to verify while answering: not verified, and the page says so
        assert "✓ 记录完整" not in never.text
        assert f"尚未核验（由后台核验，请稍后刷新本页）：已入链 {linked} 条记录" in never.text
        assert await _marks(conn, village) == 0

        # the background loop's chain job verifies it in full and keeps the verdict the page then shows
        assert await audit.verify_behind(conn) == 1
        assert await audit.verify_behind(conn) == 0  # nothing linked since
        kept = await admin.get("/admin")
        assert f"✓ 记录完整</span> 已核对至第 {linked} 条记录" in kept.text
        assert "尚未核验" not in kept.text

        # a little linked since: the page verifies that itself and keeps it
        cadre = setup.people["cadre"]
        rule = await make_rule(world, setup, 4)
        assert (await award(world, cadre, setup.households[0].id, rule)).status_code == 201
        waiting = await admin.get("/admin")
        assert "条等待入链" in waiting.text  # the award's records, not linked yet
        new = await chain.link(conn, village, 10**12)
        assert 0 < new < linked - 1
        fresh = await admin.get("/admin")
        assert f"已核对至第 {linked + new} 条记录" in fresh.text
        assert await _marks(conn, village) == 2

        # more than the page verifies: the kept verdict, and how much came after it
        monkeypatch.setattr(audit, "PAGE_VERIFY_LIMIT", 0)
        assert (await award(world, cadre, setup.households[1].id, rule)).status_code == 201
        more = await chain.link(conn, village, 10**12)
        later = await admin.get("/admin")
        assert f"已核对至第 {linked + new} 条记录" in later.text
        assert f"其后 {more} 条新记录尚未核验" in later.text
        assert await _marks(conn, village) == 2

        # a broken verdict stays on the page, and the loop leaves it to a full verification
        broken = chain.Verdict(
            scope=village,
            ok=False,
            seq=linked + new,
            first_bad={"kind": "posting", "id": "x", "chain_id": 1, "seq": 3, "problem": "changed: test"},
        )
        head = await conn.fetchval(
            "SELECT link_hash FROM chain_links WHERE scope = $1 AND seq = $2", village, linked + new
        )
        broken.head = bytes(head).hex()
        await chain.record_mark(conn, broken, full_scan=False)
        shown = await admin.get("/admin")
        assert "✗ 发现记录被改动：changed: test" in shown.text
        assert await audit.verify_behind(conn) == 0


async def test_the_demo_is_linked_and_verified_once_it_is_loaded(app: FastAPI) -> None:
    """What `jifen demo load` does after loading (cli._chain_now): the chain job once."""
    async with app.state.sessionmaker() as session, session.begin():
        village = await load_demo(session)
    assert await chain_now(app.state.engine) is not None

    async with browser(app) as anyone:
        login = await anyone.http.get("/login")
        token = CSRF.search(login.text)
        assert token
        done = await anyone.http.post(
            "/login", data={"username": "admin", "password": DEMO_PASSWORD, "csrf_token": token.group(1)}
        )
        assert done.status_code == 303
        home = await anyone.get("/admin")
    assert "✓ 记录完整</span> 已核对至第" in home.text
    assert "尚未核验" not in home.text
    assert "等待入链" not in home.text
    async with app.state.sessionmaker() as session:
        marks = await session.execute(
            text("SELECT count(*) FROM audit_verifications WHERE scope = :v AND full_scan"), {"v": village.id}
        )
        assert marks.scalar_one() == 1
