"""Helpers for expiry tests: the village's clock for policies and the due job, and back-dating the ledger.

The ledger stamps postings with the database's clock, and months cannot pass during a test. So a test that
needs points earned "last March" posts them normally and then back-dates the rows it just wrote, as the
superuser with triggers off (session_replication_role = replica) — the app role could never do this, and
the append-only triggers are back as soon as the connection closes.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from jifen.kit.db import normalise_url
from jifen.kit.timeutil import LOCAL_TZ
from jifen.settings import Settings
from tests.factories import Person, World


def local(text: str) -> datetime:
    """'2026-12-31 23:59:59' in the village's time, as a UTC instant."""
    return datetime.fromisoformat(text).replace(tzinfo=LOCAL_TZ).astimezone(UTC)


async def superuser(settings: Settings) -> Any:
    assert settings.migrate_database_url
    url = normalise_url(settings.migrate_database_url).replace("postgresql+asyncpg://", "postgresql://", 1)
    return await asyncpg.connect(url)


async def db_now(settings: Settings) -> datetime:
    conn = await superuser(settings)
    try:
        moment: datetime = await conn.fetchval("SELECT clock_timestamp()")
        return moment
    finally:
        await conn.close()


async def backdate(settings: Settings, village_id: uuid.UUID, since: datetime, moment: datetime) -> int:
    """Move every posting and transaction of the village written since `since` (and not already moved into
    the future) to `moment`."""
    conn = await superuser(settings)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            moved: str = await conn.execute(
                "UPDATE postings SET created_at = $3"
                " WHERE village_id = $1 AND created_at >= $2 AND created_at <= clock_timestamp()",
                village_id,
                since,
                moment,
            )
            await conn.execute(
                "UPDATE ledger_transactions SET created_at = $3"
                " WHERE village_id = $1 AND created_at >= $2 AND created_at <= clock_timestamp()",
                village_id,
                since,
                moment,
            )
        return int(moved.split()[-1])
    finally:
        await conn.close()


async def set_policy(world: World, who: Person, village_id: uuid.UUID, **body: Any) -> Any:
    return await world.call(
        "PUT", f"/villages/{village_id}/expiry-policy", who, json={"reason": "村民代表大会决定", **body}
    )
