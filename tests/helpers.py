"""Small assertions and calls shared by the test modules (factories live in tests/factories.py)."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient, Response

from tests.factories import PASSWORD


def assert_error(response: Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The answer is a refusal in jifen's shape: the status, and a JSON body with `error` and `detail`."""
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("error"), str), body
    assert body.get("detail"), body
    if code is not None:
        assert body["error"] == code, body
    return body


async def login(client: AsyncClient, username: str, password: str = PASSWORD) -> Response:
    return await client.post("/api/v1/auth/token", data={"username": username, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
