"""schemathesis over the committed spec as the demo village's admins (village and town), then signing in with
no token (`fuzzing.py`; the other roles: `test_schemathesis.py`). A file of its own: a test file runs on one
test worker, so the two halves of the fuzzing run side by side."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from tests.fuzz.fuzzing import fuzz_as

pytestmark = pytest.mark.fuzz


async def test_the_spec_holds_for_generated_requests_as_the_admins_and_anonymous(
    app: FastAPI, fuzz_client: AsyncClient
) -> None:
    await fuzz_as(app, fuzz_client, ("admin", "town"), anonymous=True)
