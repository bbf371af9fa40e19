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
from tests.conftest import app_settings
from tests.db import TestCluster
from tests.factories import World


@pytest.fixture(scope="module")
async def database(template: TestCluster) -> AsyncIterator[str]:
    name = await template.create_database()
    yield name
    await template.drop_database(name)


@pytest.fixture(scope="module")
def settings(template: TestCluster, database: str) -> Settings:
    return app_settings(template, database, town_name="幸福镇")


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
