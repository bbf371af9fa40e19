from __future__ import annotations

from httpx import AsyncClient


async def test_health_and_readiness(client: AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    response = await client.get("/readyz", headers={"X-Request-ID": "req-42"})
    assert response.status_code == 200
    assert response.json()["database"] == "ok"
    assert response.headers["x-request-id"] == "req-42"
