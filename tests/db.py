"""Real PostgreSQL for tests: the embedded server (or JIFEN_TEST_DATABASE_URL), a migrated template, and a
fresh database cloned from it for every test."""

from __future__ import annotations

import asyncio
import itertools
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from jifen.kit.db import normalise_url
from jifen.kit.embedded import APP_ROLE, describe, ensure_database, start_embedded
from jifen.kit.migrate import upgrade

TEMPLATE = "jifen_template"
_counter = itertools.count(1)

FAST_TEST_SETTINGS = """
ALTER SYSTEM SET fsync = off;
ALTER SYSTEM SET synchronous_commit = off;
ALTER SYSTEM SET full_page_writes = off;
SELECT pg_reload_conf();
"""


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


def _with_user(url: str, user: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.split("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))


def _asyncpg_url(url: str) -> str:
    return normalise_url(url).replace("postgresql+asyncpg://", "postgresql://", 1)


@dataclass
class TestCluster:
    owner_url: str  # a superuser (or owner) URL on the maintenance database
    app_user: str | None  # the non-owner role the service connects as, when the cluster has it

    def owner_url_for(self, database: str) -> str:
        return _with_database(self.owner_url, database)

    def app_url_for(self, database: str) -> str:
        url = self.owner_url_for(database)
        return _with_user(url, self.app_user) if self.app_user else url

    async def admin(self, sql: str) -> None:
        connection = await asyncpg.connect(_asyncpg_url(self.owner_url))
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    async def build_template(self) -> None:
        await self.admin(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
        await self.admin(f'CREATE DATABASE "{TEMPLATE}"')
        await asyncio.to_thread(upgrade, self.owner_url_for(TEMPLATE))

    async def create_database(self) -> str:
        name = f"jifen_test_{os.getpid()}_{next(_counter)}"
        await self.admin(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}" STRATEGY FILE_COPY')
        return name

    async def drop_database(self, name: str) -> None:
        await self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_test_cluster() -> tuple[TestCluster, object | None]:
    external = os.environ.get("JIFEN_TEST_DATABASE_URL")
    if external:
        return TestCluster(
            owner_url=normalise_url(external), app_user=os.environ.get("JIFEN_TEST_APP_USER")
        ), None
    data_dir = Path(tempfile.mkdtemp(prefix="jifen-test-"))
    server = start_embedded(data_dir, settings_sql=FAST_TEST_SETTINGS, cleanup_mode="delete")
    ensure_database(server)
    db = describe(server)
    return TestCluster(owner_url=db.url("postgres", "postgres"), app_user=APP_ROLE), server
