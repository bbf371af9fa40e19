"""One database, app and world per test module here: the exports read what a module's world wrote, and
building that once keeps the files fast."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from jifen.app import create_app
from jifen.settings import Settings
from tests.db import TestCluster
from tests.factories import World


@pytest.fixture(scope="module")
async def database(template: TestCluster) -> AsyncIterator[str]:
    name = await template.create_database()
    yield name
    await template.drop_database(name)


@pytest.fixture(scope="module")
def settings(template: TestCluster, database: str) -> Settings:
    return Settings(
        env="test",
        database_url=template.app_url_for(database),
        migrate_database_url=template.owner_url_for(database),
        secret_key="test-secret-key-0123456789abcdef0123456789",  # type: ignore[arg-type]
        log_level="WARNING",
        log_requests=False,
        chain_interval_seconds=0,
        town_name="幸福镇",
    )


@pytest.fixture(scope="module")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture(scope="module")
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://jifen.test") as http:
        yield http


@pytest.fixture(scope="module")
async def world(app: FastAPI, client: AsyncClient) -> World:
    return World(app=app, client=client)
