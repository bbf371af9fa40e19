"""jifen under load while its processes die and its database crashes.

16 clients award, redeem and reserve against `jifen serve --workers 2` (a real subprocess on a free port),
each retrying every request that got no answer with the same Idempotency-Key until it gets one. The server
runs on a PostgreSQL cluster of this module's own, which it may crash (`pg_ctl -m immediate`); the shared
test cluster is never stopped. Both tests share the cluster and the server (a server start costs several
seconds of CPU on a 2-core machine); each test has its own village, so each checks only its own load.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
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

SECRET = "faults-test-secret-0123456789abcdef0123456789"


@dataclass
class Live:
    postgres: ThrowawayPostgres
    server: JifenServer
    world: World
    env: dict[str, str]

    @property
    def owner_dsn(self) -> str:
        return _asyncpg_url(self.postgres.owner_url)


@pytest.fixture(scope="module")
async def live() -> AsyncIterator[Live]:
    # a directory of its own, not pytest's tmp_path: other pytest runs on the machine prune old pytest-N dirs
    scratch = Path(tempfile.mkdtemp(prefix="jifen-faults-"))
    postgres = ThrowawayPostgres(scratch / "postgres")
    server: JifenServer | None = None
    try:
        await asyncio.to_thread(upgrade, postgres.owner_url)
        env = server_env(postgres.app_url, postgres.owner_url, scratch / "data", secret=SECRET)
        server = JifenServer(env, scratch / "server.log", workers=2)
        server.start()
        settings = Settings(
            env="test",
            database_url=postgres.app_url,
            migrate_database_url=postgres.owner_url,
            secret_key=SECRET,  # type: ignore[arg-type]
            log_level="WARNING",
            log_requests=False,
            chain_interval_seconds=0,
        )
        app = create_app(settings)  # the factories' app, in this process: tokens signed with the server's key
        async with (
            LifespanManager(app),
            AsyncClient(transport=ASGITransport(app=app), base_url="http://jifen.test") as http,
        ):
            await server.wait_ready(timeout=60)
            yield Live(postgres=postgres, server=server, world=World(app=app, client=http), env=env)
    finally:
        if server is not None:
            server.kill_everything()
        postgres.cleanup()
        shutil.rmtree(scratch, ignore_errors=True)


def _no_500(load: Load, allowed: set[str]) -> None:
    statuses = load.statuses()
    assert not [s for s in statuses if s.startswith("5") and s not in allowed], statuses


async def test_workers_and_the_whole_server_killed_under_load_lose_nothing(live: Live) -> None:
    scenario = await build_scenario(live.world)
    server = live.server
    await server.wait_ready()
    load = Load(server.url, scenario)
    recoveries: list[str] = []

    async def faults() -> None:
        for n in range(1, 4):
            await asyncio.sleep(0.7)
            killed_at = load.now()
            pid = server.kill_worker()
            started = time.monotonic()
            # uvicorn's supervisor notices the dead worker and starts another in its place
            while pid in server.worker_pids() or len(server.worker_pids()) < 2:
                assert time.monotonic() - started < 30, "the killed worker was not replaced"
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
        await server.wait_ready(timeout=60)
        deadline = time.monotonic() + 30
        while load.first_answer_after(killed_at) is None:
            assert time.monotonic() < deadline, "nothing was answered within 30 s of the restart"
            await asyncio.sleep(0.05)
        recovered = load.first_answer_after(killed_at) or 0
        await asyncio.sleep(1)  # more load on the restarted server
        recoveries.append(
            f"whole server killed and restarted: answering again {recovered:.1f} s after the kill"
        )

    await load.run(faults)
    _no_500(load, {"503 database_unavailable"})
    lost, duplicated = await check_ledger(live.owner_dsn, load, live.env)
    REPORT.append(load.summary("kill -9 under load", duplicated, lost, recoveries))
    assert lost == 0
    assert duplicated == 0
    assert not load.unanswered
    assert sum(1 for o in load.outcomes.values() if o.status < 300) > 0, load.statuses()


async def test_postgres_crash_and_restart_under_load_is_503_then_recovers_by_itself(live: Live) -> None:
    scenario = await build_scenario(live.world)
    await live.server.wait_ready()
    load = Load(live.server.url, scenario)
    recoveries: list[str] = []
    down: list[float] = []

    async def faults() -> None:
        await asyncio.sleep(1.5)
        await asyncio.to_thread(live.postgres.crash)  # returns once PostgreSQL has stopped
        crashed_at = load.now()
        await asyncio.sleep(2)  # the clients keep sending while PostgreSQL is down
        down.extend([crashed_at, load.now()])
        await asyncio.to_thread(live.postgres.start)
        started_at = load.now()
        deadline = time.monotonic() + 15
        while load.first_answer_after(started_at) is None:
            assert time.monotonic() < deadline, "jifen did not recover within 15 s of PostgreSQL starting"
            await asyncio.sleep(0.05)
        recovered = load.first_answer_after(started_at) or 0
        recoveries.append(
            f"PostgreSQL down {down[1] - down[0]:.1f} s (answers meanwhile: 503 database_unavailable, "
            f"slowest {load.slowest_503:.2f} s); requests done again {recovered:.2f} s after it started"
        )
        await asyncio.sleep(1.5)

    await load.run(faults)
    _no_500(load, {"503 database_unavailable"})
    # a request sent while it was down was answered the 503: no 500, no other error (a request sent before the
    # crash may still be answered 201 afterwards on a loaded machine: it committed before PostgreSQL stopped)
    during = {(status, code) for t, status, code, sent in load.answers if down[0] < sent and t < down[1]}
    assert during == {(503, "database_unavailable")}, during
    assert load.slowest_503 < 5, "a 503 must come at once, not after a hang"
    lost, duplicated = await check_ledger(live.owner_dsn, load, live.env)
    REPORT.append(load.summary("PostgreSQL crash-restart under load", duplicated, lost, recoveries))
    assert lost == 0
    assert duplicated == 0
    assert not load.unanswered
