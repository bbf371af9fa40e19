from __future__ import annotations

import contextlib
import os
import tempfile

os.environ["JIFEN_ENV"] = "test"
# photos (and anything else jifen keeps on disk) go to a scratch directory, never the worktree's ./var
os.environ.setdefault("JIFEN_DATA_DIR", tempfile.mkdtemp(prefix="jifen-test-data-"))
os.environ.setdefault("JIFEN_LOG_LEVEL", "WARNING")

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from jifen.app import create_app
from jifen.settings import Settings
from tests.db import TestCluster, start_test_cluster
from tests.factories import World

# The test files that take longest (`pytest --durations`), longest first. `make pytest` runs each file whole
# on one of two workers (--dist loadfile) and hands the files out in collection order as workers free up
# (--no-loadscope-reorder: xdist's own order, most tests first, started these one-test files last, so one
# worker ran a minute-long file while the other had finished). Longest first, the short files fill in
# around them. A file missing here only runs later; a file that grew slow belongs here.
SLOW_FIRST = (
    "tests/fuzz/test_schemathesis.py",
    "tests/fuzz/test_schemathesis_admins.py",
    "tests/expiry/test_rolling_property.py",
    "tests/faults/test_under_load.py",
    "tests/backup/test_round_trip.py",
    "tests/test_cli.py",
    "tests/audit/test_chain.py",
    "tests/expiry/test_expiry_due_job.py",
    "tests/awards/test_public_notice.py",
    "tests/ledger/test_property.py",
    "tests/backup/test_refusals.py",
    "tests/audit/test_reconcile.py",
    "tests/test_serve_stop.py",
    "tests/store/test_reservations.py",
    "tests/notify/test_webhooks.py",
    "tests/funding/test_funding_role_matrix.py",
    "tests/metrics/test_metrics_server.py",
    "tests/web/test_journeys.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(SLOW_FIRST)}
    # a stable sort: the other files keep the order they were collected in
    items.sort(key=lambda item: rank.get(item.nodeid.partition("::")[0], len(rank)))


@pytest.fixture(scope="session")
def cluster() -> Iterator[TestCluster]:
    test_cluster, server = start_test_cluster()
    yield test_cluster
    if server is not None:
        server.cleanup()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
async def template(cluster: TestCluster) -> TestCluster:
    await cluster.build_template()
    return cluster


@pytest.fixture
async def database(template: TestCluster) -> AsyncIterator[str]:
    name = await template.create_database()
    yield name
    await template.drop_database(name)


def app_settings(template: TestCluster, database: str, **extra: Any) -> Settings:
    """The settings of an app on `database` (a module may run its own app with `extra` settings)."""
    values: dict[str, Any] = {
        "env": "test",
        "database_url": template.app_url_for(database),
        "migrate_database_url": template.owner_url_for(database),
        "secret_key": "test-secret-key-0123456789abcdef0123456789",
        "log_level": "WARNING",
        "log_requests": False,
        "chain_interval_seconds": 0,
        "db_pool_size": 40,
        "db_max_overflow": 20,
    }
    return Settings(**(values | extra))


@pytest.fixture
def settings(template: TestCluster, database: str) -> Settings:
    return app_settings(template, database)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://jifen.test") as http:
        yield http


@pytest.fixture
async def world(app: FastAPI, client: AsyncClient) -> World:
    return World(app=app, client=client)


@contextlib.asynccontextmanager
async def own_world(template: TestCluster, **extra: Any) -> AsyncIterator[World]:
    """A world on a database of its own, with `extra` settings: a module's one world (a module-scoped
    fixture yields it), cheaper than a fresh database per test."""
    database = await template.create_database()
    application = create_app(app_settings(template, database, **extra))
    async with (
        LifespanManager(application),
        AsyncClient(transport=ASGITransport(app=application), base_url="http://jifen.test") as client,
    ):
        yield World(app=application, client=client)
    await template.drop_database(database)
