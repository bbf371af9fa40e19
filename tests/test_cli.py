"""The `jifen` command and the OpenAPI check, run as a person runs them: in a separate process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

from httpx import AsyncClient

from jifen.settings import Settings
from tests.helpers import bearer, login
from tests.live import JIFEN, ROOT, bytecode_env


async def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        list(args),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    assert settings.database_url
    assert settings.migrate_database_url
    clean = {k: v for k, v in os.environ.items() if not k.startswith("JIFEN_")}
    return (
        clean
        | bytecode_env()
        | {
            "JIFEN_ENV": "test",
            "JIFEN_DATABASE_URL": settings.database_url,
            "JIFEN_MIGRATE_DATABASE_URL": settings.migrate_database_url,
            "JIFEN_DATA_DIR": str(tmp_path / "never-used"),  # an embedded server here would be a bug
            "JIFEN_LOG_LEVEL": "WARNING",
        }
    )


async def _admin_create_prints_the_id_and_refuses_a_taken_name(
    env: dict[str, str], client: AsyncClient
) -> None:
    command = (str(JIFEN), "admin", "create", "--username", "Chief", "--password", "chief-password")

    first = await _run(*command, env=env)
    second = await _run(*command[:4], "chief", *command[5:], env=env)

    assert first.returncode == 0, first.stderr
    uuid.UUID(first.stdout.strip())
    assert second.returncode == 1, second.stdout
    assert "duplicate_username" in second.stderr
    token = await login(client, "chief", "chief-password")
    assert token.status_code == 200, token.text
    me = await client.get("/api/v1/auth/me", headers=bearer(token.json()["access_token"]))
    assert me.json()["id"] == first.stdout.strip()
    assert [r["role"] for r in me.json()["roles"]] == ["town_admin"]


async def _village_create_then_roll_import(env: dict[str, str], client: AsyncClient) -> None:
    """A real village from the command line, its admin signs in with the one-time password; the sample roll
    (GBK CSV) as a dry run, applied, and applied again."""
    roll = str(ROOT / "docs" / "samples" / "roll-500-gbk.csv")
    created = await _run(
        str(JIFEN), "village", "create", "--code", "CLI", "--name", "命令村", "--admin", "cliadmin", env=env
    )
    dry = await _run(str(JIFEN), "import", "households", roll, "--village", "CLI", env=env)
    applied = await _run(str(JIFEN), "import", "households", roll, "--village", "CLI", "--apply", env=env)
    again = await _run(str(JIFEN), "import", "households", roll, "--village", "CLI", "--apply", env=env)
    unknown = await _run(str(JIFEN), "import", "households", roll, "--village", "NOPE", env=env)

    assert created.returncode == 0, created.stderr
    password = created.stdout.split("one-time password: ")[1].split()[0]
    token = await login(client, "cliadmin", password)
    assert token.status_code == 200, token.text
    assert token.json()["must_change_password"] is True
    assert dry.returncode == 0, dry.stderr
    assert "refuse  CSV row    42  -  缺少户号" in dry.stdout
    assert "504 rows: 499 to add, 0 to change, 0 unchanged, 5 refused" in dry.stdout
    assert "dry run: nothing written" in dry.stdout
    assert applied.returncode == 0, applied.stderr
    assert "applied: the good rows are written" in applied.stdout
    assert "0 to add, 0 to change, 499 unchanged" in again.stdout
    assert "nothing to change" in again.stdout
    assert unknown.returncode == 1
    assert "找不到编号为 NOPE 的村" in unknown.stderr


async def _db_upgrade_is_safe_to_run_again(env: dict[str, str]) -> None:
    first = await _run(str(JIFEN), "db", "upgrade", env=env)
    second = await _run(str(JIFEN), "db", "upgrade", env=env)

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr


async def _committed_openapi_spec_is_current(env: dict[str, str]) -> None:
    result = await _run(sys.executable, "-m", "jifen.openapi", "--check", env=env)

    assert result.returncode == 0, result.stderr


async def test_the_command_line(settings: Settings, client: AsyncClient, tmp_path: Path) -> None:
    """Each process spends seconds importing, so the three independent checks run side by side."""
    env = _env(settings, tmp_path)

    await asyncio.gather(
        _admin_create_prints_the_id_and_refuses_a_taken_name(env, client),
        _db_upgrade_is_safe_to_run_again(env),
        _committed_openapi_spec_is_current(env),
        _village_create_then_roll_import(env, client),
    )

    # the configured server was used, none was started (the data dir may hold this install's signing key)
    assert not (tmp_path / "never-used" / "pgdata").exists()
