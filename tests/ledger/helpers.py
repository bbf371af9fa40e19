"""Helpers for ledger tests: rules, awards and balances through the HTTP API."""

from __future__ import annotations

import uuid
from typing import Any

from tests.factories import Person, VillageSetup, World


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def make_rule(
    world: World, setup: VillageSetup, points: int, *, code: str | None = None, **extra: Any
) -> dict[str, Any]:
    response = await world.call(
        "POST",
        f"/villages/{setup.village.id}/rules",
        setup.people["village_admin"],
        json={
            "code": code or f"R{uuid.uuid4().hex[:6]}",
            "name": "门前三包" if points > 0 else "家禽散养",
            "category": "人居环境",
            "points": points,
            **extra,
        },
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def award(
    world: World,
    who: Person,
    household_id: uuid.UUID,
    rule: dict[str, Any],
    quantity: int = 1,
    *,
    idempotency_key: str | None = None,
) -> Any:
    return await world.call(
        "POST",
        "/awards",
        who,
        json={"household_id": str(household_id), "rule_id": rule["id"], "quantity": quantity},
        headers={"Idempotency-Key": idempotency_key or uuid.uuid4().hex},
    )


async def balance(world: World, who: Person, household_id: uuid.UUID) -> dict[str, int]:
    response = await world.call("GET", f"/households/{household_id}/balance", who)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]
