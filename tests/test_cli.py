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
from tests.live import JIFEN, ROOT


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
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith("JIFEN_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    return clean | {
        # every process compiles jifen and its dependencies; a private bytecode cache lets later ones reuse it
        "PYTHONPYCACHEPREFIX": str(tmp_path / "pycache"),
        "JIFEN_ENV": "test",
        "JIFEN_DATABASE_URL": settings.database_url,
        "JIFEN_MIGRATE_DATABASE_URL": settings.migrate_database_url,
        "JIFEN_DATA_DIR": str(tmp_path / "never-used"),  # an embedded server here would be a bug
        "JIFEN_LOG_LEVEL": "WARNING",
    }


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
    )

    # the configured server was used, none was started (the data dir may hold this install's signing key)
    assert not (tmp_path / "never-used" / "pgdata").exists()
