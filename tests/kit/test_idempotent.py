"""The one idempotent-POST helper: every API operation that takes an Idempotency-Key runs through
`@idempotent`, and an endpoint that cannot say whose key it is fails at import, not in a request."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, SecretStr

from jifen.app import create_app
from jifen.kit.idempotency import idempotent
from jifen.settings import Settings


class Out(BaseModel):
    ok: bool


def _headers(dependant: Dependant) -> set[str]:
    found = {param.alias for param in dependant.header_params}
    for dependency in dependant.dependencies:
        found |= _headers(dependency)
    return found


def _api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every API route, also inside included routers (FastAPI keeps those as one route each)."""
    found: list[APIRoute] = []
    for route in routes:
        if hasattr(route, "original_router"):
            found += _api_routes(route.original_router.routes)
        elif isinstance(route, APIRoute):
            found.append(route)
    return found


def test_every_route_that_takes_a_key_runs_once() -> None:
    settings = Settings(
        env="test", database_url="postgresql://unused/unused", secret_key=SecretStr(secrets.token_urlsafe(48))
    )
    app = create_app(settings)
    keyed = [route for route in _api_routes(app.routes) if "Idempotency-Key" in _headers(route.dependant)]
    # the 15 money-moving operations of issue 12, and nothing hand-rolls its own replay any more
    assert len(keyed) == 15
    unwrapped = [route.path for route in keyed if not hasattr(route.endpoint, "__wrapped__")]
    assert unwrapped == []


def test_an_endpoint_without_a_key_is_refused_at_import() -> None:
    with pytest.raises(TypeError, match=r"needs the parameters \['request', 'key'\]"):

        @idempotent(lambda access: uuid.uuid4())
        async def create(access: object, session: object) -> Out:
            return Out(ok=True)
