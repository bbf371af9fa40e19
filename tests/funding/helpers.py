"""Helpers for funding tests: pegs, funds, settlements and the overview through the HTTP API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from jifen.kit import timeutil
from tests.factories import Person, VillageSetup, World


def local(*args: int) -> datetime:
    """A moment given in Asia/Shanghai, as UTC."""
    return datetime(*args, tzinfo=timeutil.LOCAL_TZ).astimezone(UTC)  # type: ignore[misc]


def at(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    """The app's clock (sales, cancellations, periods) reads `moment` from now on."""
    monkeypatch.setattr(timeutil, "utcnow", lambda: moment)


async def set_peg(world: World, who: Person | None, village_id: uuid.UUID, fen: int, **extra: Any) -> Any:
    return await world.call(
        "PUT",
        f"/villages/{village_id}/peg",
        who,
        json={"fen_per_point": fen, "reason": "村民代表大会决议", **extra},
    )


async def add_fund(
    world: World,
    who: Person | None,
    village_id: uuid.UUID,
    amount_fen: int,
    *,
    source: str = "collective",
    source_name: str = "村集体经济合作社",
    received_on: str = "2026-11-01",
    key: str | None = None,
    **extra: Any,
) -> Any:
    return await world.call(
        "POST",
        f"/villages/{village_id}/funds",
        who,
        json={
            "source": source,
            "source_name": source_name,
            "amount_fen": amount_fen,
            "received_on": received_on,
            **extra,
        },
        headers={"Idempotency-Key": key or uuid.uuid4().hex},
    )


async def void(world: World, who: Person | None, fund_id: str, *, key: str | None = None) -> Any:
    return await world.call(
        "POST",
        f"/funds/{fund_id}/void",
        who,
        json={"reason": "重复录入"},
        headers={"Idempotency-Key": key or uuid.uuid4().hex},
    )


async def report(world: World, who: Person | None, store_id: uuid.UUID, **params: str) -> Any:
    return await world.call("GET", f"/stores/{store_id}/settlement", who, params=params)


async def report_ok(world: World, setup: VillageSetup, period: str) -> dict[str, Any]:
    response = await report(world, setup.people["village_admin"], setup.store.id, period=period)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def settle(
    world: World,
    who: Person | None,
    store_id: uuid.UUID,
    period: str,
    *,
    key: str | None = None,
    **extra: Any,
) -> Any:
    return await world.call(
        "POST",
        f"/stores/{store_id}/settlements",
        who,
        json={"period": period, "note": "村委转账付款", **extra},
        headers={"Idempotency-Key": key or uuid.uuid4().hex},
    )


async def overview(world: World, who: Person, village_id: uuid.UUID) -> dict[str, Any]:
    response = await world.call("GET", f"/villages/{village_id}/funding", who)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]
