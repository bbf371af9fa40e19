"""Every install signs with its own key: without JIFEN_SECRET_KEY jifen makes a random one on first start and
keeps it in the data directory, so no key that was ever in jifen's source opens anybody's install."""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import os
import secrets
import stat
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import jwt
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import ValidationError

from jifen.app import create_app
from jifen.models import Role
from jifen.settings import Settings
from jifen.users.schemas import RoleGrantIn
from tests.factories import World
from tests.helpers import assert_error, bearer
from tests.live import bytecode_env, run_jifen

ROOT = Path(__file__).resolve().parents[2]

# every key string that ever was in jifen's source or its tests: none may sign for a keyless install
PUBLISHED_KEYS = (
    "jifen-dev-secret-change-me-0000000000000000",  # the old built-in development key
    "test-secret-key-0123456789abcdef0123456789",  # tests/conftest.py
    "browser-test-secret-0123456789abcdef0123",  # tests/web/conftest.py
    "some-other-secret-0123456789abcdef",  # tests/auth/test_auth.py
)


def _keyless(data_dir: Path, **values: object) -> Settings:
    """Settings as a village laptop reads them: no JIFEN_SECRET_KEY anywhere (the caller unset it)."""
    return Settings(_env_file=None, env="dev", data_dir=data_dir, **values)  # type: ignore[arg-type, call-arg]


@pytest.fixture
def no_key_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JIFEN_SECRET_KEY", raising=False)
    monkeypatch.delenv("JIFEN_ENV", raising=False)


@pytest.mark.usefixtures("no_key_in_env")
def test_the_key_is_made_once_per_data_directory_and_kept_private(tmp_path: Path) -> None:
    first = _keyless(tmp_path / "laptop-a").signing_key
    again = _keyless(tmp_path / "laptop-a").signing_key
    other = _keyless(tmp_path / "laptop-b").signing_key

    assert first == again  # a restart (or a second worker) signs with the same key
    assert first != other  # another install has its own
    assert len(first) >= 48
    assert first not in PUBLISHED_KEYS
    kept = tmp_path / "laptop-a" / "secret_key"
    assert kept.read_text().strip() == first
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600


def _key_of(data_dir: Path) -> str:
    return _keyless(data_dir).signing_key


@pytest.mark.usefixtures("no_key_in_env")
def test_workers_starting_at_once_agree_on_one_key(tmp_path: Path) -> None:
    """Like `jifen serve --workers N` on a fresh install: processes (and threads) racing to make the key."""
    processes = ProcessPoolExecutor(max_workers=4, mp_context=multiprocessing.get_context("fork"))
    threads = ThreadPoolExecutor(max_workers=8)
    with processes, threads:
        for attempt in range(10):
            data_dir = tmp_path / f"install-{attempt}"
            pool = processes if attempt % 2 else threads
            keys = set(pool.map(_key_of, [data_dir] * 8))
            assert len(keys) == 1, keys
            assert [p.name for p in data_dir.iterdir()] == ["secret_key"]  # no temporary file left behind


@pytest.mark.usefixtures("no_key_in_env")
def test_a_key_file_others_can_read_or_nobody_can_read_refuses_to_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "laptop"
    _keyless(data_dir)
    kept = data_dir / "secret_key"

    kept.chmod(0o644)
    with pytest.raises(ValidationError, match="chmod 600"):
        _keyless(data_dir)

    kept.chmod(0o600)
    kept.write_text("short\n")
    with pytest.raises(ValidationError, match="too short"):
        _keyless(data_dir)

    if os.geteuid() != 0:  # root reads any file
        kept.write_text(secrets.token_urlsafe(48))
        kept.chmod(0o000)
        with pytest.raises(ValidationError, match="cannot be read"):
            _keyless(data_dir)


@pytest.mark.usefixtures("no_key_in_env")
def test_prod_needs_an_explicit_key_and_no_install_takes_a_published_one(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="JIFEN_SECRET_KEY"):
        Settings(_env_file=None, env="prod", data_dir=tmp_path)  # type: ignore[call-arg]
    for published, env in itertools.product(PUBLISHED_KEYS, ("prod", "dev")):  # an old .env on a laptop
        with pytest.raises(ValidationError, match="JIFEN_SECRET_KEY"):
            Settings(_env_file=None, env=env, data_dir=tmp_path, secret_key=published)  # type: ignore[call-arg, arg-type]
    good = secrets.token_urlsafe(48)
    chosen = Settings(_env_file=None, env="prod", data_dir=tmp_path, secret_key=good)  # type: ignore[call-arg, arg-type]
    assert chosen.signing_key == good
    assert not (tmp_path / "secret_key").exists()  # an explicit key is never written to disk


@pytest.fixture
async def keyless_app(settings: Settings, tmp_path: Path, no_key_in_env: None) -> AsyncIterator[FastAPI]:
    """A server started the way `make run` starts one on a laptop: no JIFEN_SECRET_KEY."""
    laptop = _keyless(
        tmp_path / "var",
        database_url=settings.database_url,
        migrate_database_url=settings.migrate_database_url,
        log_level="WARNING",
        log_requests=False,
        chain_interval_seconds=0,
    )
    application = create_app(laptop)
    async with LifespanManager(application):
        yield application


def _forged(key: str, user_id: object, typ: str) -> str:
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": str(user_id),
        "iat": now,
        "exp": now + timedelta(hours=1),
        "typ": typ,
        "csrf": "forged-csrf",
    }
    # whatever the version claim is called and whatever it holds, a forger can guess it: send the likely ones
    return jwt.encode({**claims, "ver": 1, "cv": 1}, key, algorithm="HS256")


async def test_a_token_or_cookie_signed_with_any_key_from_the_source_is_refused(keyless_app: FastAPI) -> None:
    async with AsyncClient(transport=ASGITransport(app=keyless_app), base_url="http://jifen.test") as http:
        world = World(app=keyless_app, client=http)
        village = await world.village()
        admin = await world.person(RoleGrantIn(role=Role.village_admin, village_id=village.id))
        assert (await world.call("GET", "/auth/me", admin)).status_code == 200  # the install's own key works

        for key in PUBLISHED_KEYS:
            token = await http.get("/api/v1/auth/me", headers=bearer(_forged(key, admin.id, "access")))
            assert_error(token, 401, "invalid_token")
            http.cookies.set("jifen_session", _forged(key, admin.id, "web"))
            page = await http.get("/admin/users")
            http.cookies.clear()
            assert page.status_code == 303, (key, page.status_code)
            assert page.headers["location"].startswith("/login")

    # and the install's key is in no file of the source tree
    key = keyless_app.state.settings.signing_key
    for folder in ("src", "tests", "bench", "docs", "migrations"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in (".py", ".md", ".html", ".toml", ".txt", ".json"):
                assert key not in path.read_text(errors="ignore"), path


def _prod_env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    assert settings.database_url
    assert settings.migrate_database_url
    clean = {k: v for k, v in os.environ.items() if not k.startswith("JIFEN_")}
    return (
        clean
        | bytecode_env()
        | {
            "JIFEN_ENV": "prod",
            "JIFEN_SECRET_KEY": secrets.token_urlsafe(48),
            "JIFEN_DATABASE_URL": settings.database_url,
            "JIFEN_MIGRATE_DATABASE_URL": settings.migrate_database_url,
            "JIFEN_DATA_DIR": str(tmp_path / "prod-data"),
            "JIFEN_LOG_LEVEL": "WARNING",
        }
    )


async def test_the_demo_village_is_refused_in_prod(settings: Settings, tmp_path: Path) -> None:
    env = _prod_env(settings, tmp_path)

    demo, serve = await asyncio.gather(
        run_jifen("demo", "load", env=env, timeout=60),
        # refused before it would bind the port
        run_jifen("serve", "--port", "1", "--load-demo", env=env, timeout=60),
    )

    for result in (demo, serve):
        assert result.returncode != 0, result.stdout
        assert "JIFEN_ENV=prod" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr, result.stderr
    assert settings.migrate_database_url
    url = settings.migrate_database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    connection = await asyncpg.connect(url)
    try:
        assert await connection.fetchval("SELECT count(*) FROM villages") == 0
        assert await connection.fetchval("SELECT count(*) FROM users") == 0
    finally:
        await connection.close()
