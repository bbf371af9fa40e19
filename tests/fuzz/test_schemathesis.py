"""schemathesis over the committed spec as the demo village's villager, clerk and cadre (the machinery and
what is checked: `fuzzing.py`; the admins: `test_schemathesis_admins.py`)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from tests.fuzz.fuzzing import fuzz_as

pytestmark = pytest.mark.fuzz


async def test_the_spec_holds_for_generated_requests_as_every_demo_role(
    app: FastAPI, fuzz_client: AsyncClient
) -> None:
    await fuzz_as(app, fuzz_client, ("villager", "clerk", "cadre"), anonymous=False)
