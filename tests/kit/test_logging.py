from __future__ import annotations

import re

from httpx import AsyncClient

GENERATED = re.compile(r"^[0-9a-f]{32}$")


async def test_a_request_id_is_echoed_or_made_up(client: AsyncClient) -> None:
    given = await client.get("/healthz", headers={"X-Request-ID": "gw-2026.11:abc_DEF-1"})
    absent = await client.get("/healthz")
    another = await client.get("/healthz")
    refused = await client.get("/api/v1/auth/me")  # errors carry it too

    assert given.headers["x-request-id"] == "gw-2026.11:abc_DEF-1"
    assert GENERATED.match(absent.headers["x-request-id"])
    assert absent.headers["x-request-id"] != another.headers["x-request-id"]
    assert refused.status_code == 401
    assert GENERATED.match(refused.headers["x-request-id"])


async def test_an_unsafe_request_id_is_replaced(client: AsyncClient) -> None:
    for unsafe in ["has spaces in it", "x" * 200, "", "line\tbreak", "中文"]:
        response = await client.get("/healthz", headers={"X-Request-ID": unsafe.encode()})

        assert response.status_code == 200
        assert GENERATED.match(response.headers["x-request-id"]), unsafe
        assert response.headers.get_list("x-request-id") == [response.headers["x-request-id"]]
