"""Helpers for ledger tests: rules, awards and balances through the HTTP API."""

from __future__ import annotations

import uuid
from datetime import datetime
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
    observed_at: datetime | None = None,
) -> Any:
    """`POST /awards`; `observed_at`: scored offline, the deed seen then."""
    body = {"household_id": str(household_id), "rule_id": rule["id"], "quantity": quantity}
    if observed_at is not None:
        body["observed_at"] = observed_at.isoformat()
    return await world.call(
        "POST", "/awards", who, json=body, headers={"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
    )


async def open_sheet(
    world: World,
    setup: VillageSetup,
    who: Person,
    rules: list[dict[str, Any]],
    *,
    day: str,
    grid: str = "一组",
    judges: tuple[str, ...] = ("评委",),
) -> Any:
    """`POST /villages/{id}/inspections`: a grid's inspection sheet for a local day."""
    body = {"grid": grid, "inspected_on": day, "rule_ids": [r["id"] for r in rules], "judges": list(judges)}
    return await world.call("POST", f"/villages/{setup.village.id}/inspections", who, json=body)


async def balance(world: World, who: Person, household_id: uuid.UUID) -> dict[str, int]:
    response = await world.call("GET", f"/households/{household_id}/balance", who)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]
