from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from tests.fuzz.fuzzing import BASE_URL


@pytest.fixture
async def fuzz_client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    """A client that sees a crash as the 500 a real client gets (the default one raises it in the test)."""
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield http
