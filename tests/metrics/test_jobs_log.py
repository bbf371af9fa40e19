"""One structured log line per run of the background jobs: what ran, how many records, how long, what failed —
from the server's loop and from `jifen jobs run`."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text

from jifen.app import create_app
from jifen.kit.logging import configure_logging
from jifen.settings import Settings
from tests.factories import World
from tests.ledger.helpers import award, make_rule
from tests.test_cli import JIFEN, _env, _run

JOBS = {"notice", "reservations", "expiry", "reminders", "deliveries", "chain_link", "chain_seal"}


def _json_lines(output: str) -> list[dict[str, Any]]:
    lines = []
    for line in output.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


async def _run_loop(
    settings: Settings, capsys: pytest.CaptureFixture[str], seconds: float
) -> list[dict[str, Any]]:
    """Serve with the background loop every 0.1 s for a while; the JSON log lines it wrote."""
    app = create_app(Settings(**(settings.model_dump() | {"chain_interval_seconds": 0.1})))
    configure_logging(json=True, level="INFO")  # as in prod: one JSON object a line
    try:
        async with LifespanManager(app):
            await asyncio.sleep(seconds)
    finally:
        with capsys.disabled():
            configure_logging(json=False, level="WARNING")
    return _json_lines(capsys.readouterr().err)


async def test_every_pass_of_the_background_loop_logs_one_line_with_its_jobs(
    world: World, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    setup = await world.setup_village(households=2)
    rule = await make_rule(world, setup, 10)
    assert (await award(world, setup.people["cadre"], setup.households[0].id, rule)).status_code == 201

    lines = await _run_loop(settings, capsys, 1.0)

    passes = [line for line in lines if line["event"] == "jobs_run"]
    assert len(passes) >= 2, lines
    first = passes[0]
    assert first["level"] == "info"
    assert first["failed"] == []
    assert set(first["jobs"]) == JOBS
    assert first["jobs"]["chain_link"]["records"] > 0  # the award, its postings and its audit events
    assert all(isinstance(job["duration_ms"], float) for job in first["jobs"].values())
    assert first["records"] == sum(job["records"] for job in first["jobs"].values())
    assert all(line["jobs"]["chain_link"]["records"] == 0 for line in passes[1:])  # nothing new since


async def test_a_failing_job_is_named_in_the_line_and_the_others_still_run(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gone = settings.model_copy(update={"database_url": f"postgresql://jifen_app@127.0.0.1:{port}/jifen"})

    lines = await _run_loop(gone, capsys, 0.5)

    passes = [line for line in lines if line["event"] == "jobs_run"]
    assert passes, lines
    assert passes[0]["level"] == "error"
    assert set(passes[0]["failed"]) == JOBS  # every job was tried, though the first one failed
    # a database that is away is a warning saying so, not a traceback to debug
    waiting = [
        line for line in lines if line["event"] == "job_waiting_for_database" and line["job"] == "notice"
    ]
    assert waiting, lines
    assert waiting[0]["error"] == "database_unavailable"
    assert not any(line["event"] == "job_failed" for line in lines)


async def test_jobs_run_on_the_command_line_logs_the_same_line(
    world: World, settings: Settings, tmp_path: Path
) -> None:
    setup = await world.setup_village(households=1)
    admin = setup.people["village_admin"]
    await world.call("PATCH", f"/villages/{setup.village.id}", admin, json={"notice_days": 1})
    rule = await make_rule(world, setup, 10)
    assert (await award(world, setup.people["cadre"], setup.households[0].id, rule)).json()["status"] == (
        "public_notice"
    )
    async with world.session() as session, session.begin():
        await session.execute(text("UPDATE awards SET notice_until = now() - interval '1 second'"))
    env = _env(settings, tmp_path) | {"JIFEN_LOG_LEVEL": "INFO"}

    result = await _run(str(JIFEN), "jobs", "run", env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "awards posted after their public notice: 1"
    assert "jobs_run" in result.stderr
    assert "'notice': {'records': 1" in result.stderr
