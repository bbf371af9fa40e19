"""kill -9 under load: workers of `jifen serve --workers 2` die with SIGKILL while 16 clients award, redeem
and reserve (and retry, with their keys, whatever got no answer); then the whole server dies and restarts.
Nothing acknowledged is lost, nothing is posted twice, and the books balance."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from jifen.settings import Settings
from tests.db import _asyncpg_url
from tests.factories import World
from tests.faults.conftest import REPORT
from tests.faults.load import JifenServer, Load, build_scenario, check_ledger, server_env

pytestmark = pytest.mark.faults(timeout=120)


async def test_workers_and_the_whole_server_killed_under_load_lose_nothing(
    world: World, settings: Settings, tmp_path: Path
) -> None:
    assert settings.database_url
    assert settings.migrate_database_url
    scenario = await build_scenario(world)
    env = server_env(
        settings.database_url, settings.migrate_database_url, tmp_path, secret=settings.signing_key
    )
    server = JifenServer(env, tmp_path / "server.log", workers=2)
    server.start()
    recoveries: list[str] = []
    try:
        await server.wait_ready()
        load = Load(server.url, scenario)

        async def faults() -> None:
            for n in range(1, 4):
                await asyncio.sleep(0.7)
                killed_at = load.now()
                pid = server.kill_worker()
                started = time.monotonic()
                # uvicorn's supervisor notices the dead worker and starts another in its place
                while pid in server.worker_pids() or len(server.worker_pids()) < 2:
                    assert time.monotonic() - started < 20, "the killed worker was not replaced"
                    await asyncio.sleep(0.1)
                took = time.monotonic() - started
                answer = load.first_answer_after(killed_at) or 0
                recoveries.append(
                    f"worker kill {n}: next answer after {answer:.2f} s, replaced after {took:.1f} s"
                )
            await asyncio.sleep(0.5)
            killed_at = load.now()
            server.kill_everything()
            await asyncio.sleep(0.2)
            server.start()
            await server.wait_ready()
            await asyncio.sleep(1)
            recovered = load.first_answer_after(killed_at)
            assert recovered is not None, "nothing was answered after the restart"
            recoveries.append(f"whole server killed and restarted: answering again after {recovered:.1f} s")

        await load.run(faults)
        statuses = load.statuses()
        assert not [s for s in statuses if s.startswith("5") and not s.startswith("503")], statuses
        lost, duplicated = await check_ledger(_asyncpg_url(settings.migrate_database_url), load, env)
        REPORT.append(load.summary("kill -9 under load", duplicated, lost, recoveries))
        assert lost == 0
        assert duplicated == 0
        assert len(load.unanswered) == 0
        assert sum(1 for o in load.outcomes.values() if o.status < 300) > 100, statuses
    finally:
        server.kill_everything()
