"""The due job posts each clearing exactly once: run twice, raced by two `jifen jobs run` processes and the
server's own loop, the ledger holds one expiry per household and cutoff."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI

from jifen.expiry.service import run_due
from jifen.kit.timeutil import utcnow
from jifen.settings import Settings
from tests.expiry.helpers import backdate, db_now, set_policy, superuser
from tests.factories import World
from tests.ledger.helpers import key, make_rule


async def test_two_processes_and_the_server_racing_the_due_job_expire_each_household_once(
    world: World, app: FastAPI, settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests.test_cli import JIFEN, _env, _run

    setup = await world.setup_village(households=6)
    admin, cadre = setup.people["village_admin"], setup.people["cadre"]
    rule = await make_rule(world, setup, 7)
    mark = await db_now(settings)
    items = [{"household_id": str(h.id), "rule_id": rule["id"]} for h in setup.households for _ in range(3)]
    batch = await world.call("POST", "/awards/batch", cadre, json={"items": items}, headers=key())
    assert batch.status_code == 201, batch.text
    # earned fourteen months ago; the village keeps points twelve months, set a month ago
    await backdate(settings, setup.village.id, mark, utcnow() - timedelta(days=14 * 31))
    monkeypatch.setattr("jifen.expiry.service.utcnow", lambda: utcnow() - timedelta(days=31))
    assert (await set_policy(world, admin, setup.village.id, mode="rolling", months=12)).status_code == 200
    monkeypatch.undo()

    env = _env(settings, tmp_path)
    first, second, in_process = await asyncio.gather(
        _run(str(JIFEN), "jobs", "run", env=env),
        _run(str(JIFEN), "jobs", "run", env=env),
        run_due(app.state.sessionmaker),
    )
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    counted = [
        int(line.rsplit(" ", 1)[-1])
        for r in (first, second)
        for line in r.stdout.splitlines()
        if line.startswith("expiry transactions posted")
    ]
    assert len(counted) == 2
    assert sum(counted) + in_process == len(setup.households)
    assert await run_due(app.state.sessionmaker) == 0  # and once more: nothing

    conn = await superuser(settings)
    try:
        rows = await conn.fetch(
            "SELECT household_id, count(*) AS n, sum(amount) AS points FROM expiries WHERE village_id = $1"
            " GROUP BY household_id",
            setup.village.id,
        )
        assert sorted((r["n"], r["points"]) for r in rows) == [(1, 21)] * len(setup.households)
        posted = await conn.fetch(
            "SELECT a.posted, (SELECT count(*) FROM postings p JOIN ledger_transactions t"
            "   ON t.village_id = p.village_id AND t.id = p.transaction_id"
            "   WHERE p.village_id = a.village_id AND p.account_id = a.id AND t.kind = 'expiry') AS expiries"
            "  FROM accounts a WHERE a.village_id = $1 AND a.kind = 'household'",
            setup.village.id,
        )
        assert [(r["posted"], r["expiries"]) for r in posted] == [(0, 1)] * len(setup.households)
        runs = await conn.fetchval("SELECT count(*) FROM expiry_runs WHERE village_id = $1", setup.village.id)
        assert runs == 1
    finally:
        await conn.close()
