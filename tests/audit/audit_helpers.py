"""Helpers for the audit-trail tests: changes sent with a known X-Request-ID, and the trail read back."""

from __future__ import annotations

import uuid
from typing import Any

from httpx import Response

from tests.factories import Person, World

CLIENT_ADDR = "127.0.0.1"  # what httpx's ASGITransport reports as the client, unless told otherwise
TOWN = "00000000-0000-0000-0000-000000000000"


def request_id() -> str:
    return f"req-{uuid.uuid4().hex}"


async def change(
    world: World,
    method: str,
    path: str,
    who: Person | None,
    *,
    json: Any = None,
    money: bool = False,
) -> tuple[Response, str]:
    """Send one change with a fresh X-Request-ID (and an Idempotency-Key for money moves)."""
    rid = request_id()
    headers = {"X-Request-ID": rid}
    if money:
        headers["Idempotency-Key"] = uuid.uuid4().hex
    response = await world.call(method, path, who, json=json, headers=headers)
    return response, rid


async def login_as(world: World, username: str, password: str) -> tuple[Response, str]:
    rid = request_id()
    response = await world.client.post(
        "/api/v1/auth/token",
        data={"username": username, "password": password},
        headers={"X-Request-ID": rid},
    )
    return response, rid


async def trail(world: World, who: Person, **params: Any) -> list[dict[str, Any]]:
    """Every audit event `who` may read with these filters, newest first (all pages)."""
    items: list[dict[str, Any]] = []
    query = {key: str(value) for key, value in params.items() if value is not None}
    query.setdefault("limit", "200")
    while True:
        response = await world.call("GET", "/audit", who, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        if page["next_cursor"] is None:
            return items
        query["cursor"] = page["next_cursor"]


def of_request(events: list[dict[str, Any]], rid: str) -> list[dict[str, Any]]:
    return [event for event in events if event["request_id"] == rid]


def assert_by(event: dict[str, Any], who: Person, rid: str) -> None:
    """The event names its actor, the request it came with and where that request came from."""
    assert event["actor_id"] == str(who.id), event
    assert event["actor_name"] == who.username, event
    assert event["request_id"] == rid, event
    assert event["client_addr"] == CLIENT_ADDR, event
    assert event["occurred_at"], event
