"""PostgreSQL crashes under load (`pg_ctl -m immediate`) and starts again: jifen answers 503
database_unavailable while it is down (never 500, never a hang) and recovers by itself within seconds."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from jifen.app import create_app
from jifen.kit.migrate import upgrade
from jifen.settings import Settings
from tests.db import _asyncpg_url
from tests.factories import World
from tests.faults.conftest import REPORT
from tests.faults.load import JifenServer, Load, ThrowawayPostgres, build_scenario, check_ledger, server_env

pytestmark = pytest.mark.faults(timeout=120)


@pytest.fixture
def own_postgres() -> Iterator[ThrowawayPostgres]:
    # its own directory, not pytest's tmp_path: other pytest runs on the machine prune old pytest-N dirs
    cluster = ThrowawayPostgres(Path(tempfile.mkdtemp(prefix="jifen-faults-pg-")))
    try:
        upgrade(cluster.owner_url)
        yield cluster
    finally:
        cluster.cleanup()


@pytest.fixture
async def own_world(own_postgres: ThrowawayPostgres, settings: Settings) -> AsyncIterator[World]:
    """The factories, on the throwaway cluster (tokens signed with the test settings' key)."""
    app = create_app(
        settings.model_copy(
            update={"database_url": own_postgres.app_url, "migrate_database_url": own_postgres.owner_url}
        )
    )
    async with (
        LifespanManager(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://jifen.test") as http,
    ):
        yield World(app=app, client=http)


async def test_postgres_crash_and_restart_under_load_is_503_then_recovers_by_itself(
    own_world: World, own_postgres: ThrowawayPostgres, settings: Settings, tmp_path: Path
) -> None:
    scenario = await build_scenario(own_world)
    env = server_env(own_postgres.app_url, own_postgres.owner_url, tmp_path, secret=settings.signing_key)
    server = JifenServer(env, tmp_path / "server.log", workers=2)
    server.start()
    recoveries: list[str] = []
    down: list[float] = []
    try:
        await server.wait_ready()
        load = Load(server.url, scenario)

        async def faults() -> None:
            await asyncio.sleep(2)
            crashed_at = load.now()
            await asyncio.to_thread(own_postgres.crash)
            await asyncio.sleep(2)  # the clients keep sending while PostgreSQL is down
            down.extend([crashed_at, load.now()])
            await asyncio.to_thread(own_postgres.start)
            started_at = load.now()
            deadline = time.monotonic() + 15
            while load.first_answer_after(started_at) is None:
                assert time.monotonic() < deadline, "jifen did not recover within 15 s of PostgreSQL starting"
                await asyncio.sleep(0.05)
            recovered = load.first_answer_after(started_at) or 0
            recoveries.append(
                f"PostgreSQL down {down[1] - down[0]:.1f} s (503 answers slowest {load.slowest_503:.2f} s); "
                f"requests done again {recovered:.2f} s after it started"
            )
            await asyncio.sleep(1.5)

        await load.run(faults)
        statuses = load.statuses()
        assert not [s for s in statuses if s.startswith("5") and s != "503 database_unavailable"], statuses
        during = [(t, status, code) for t, status, code in load.answers if down[0] + 0.5 < t < down[1]]
        assert during, "no request was answered while PostgreSQL was down"
        assert {(status, code) for _, status, code in during} == {(503, "database_unavailable")}, during
        assert load.slowest_503 < 5, "a 503 must come at once, not after a hang"
        lost, duplicated = await check_ledger(_asyncpg_url(own_postgres.owner_url), load, env)
        REPORT.append(load.summary("PostgreSQL crash-restart under load", duplicated, lost, recoveries))
        assert lost == 0
        assert duplicated == 0
        assert len(load.unanswered) == 0
    finally:
        server.kill_everything()
