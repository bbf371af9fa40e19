from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.models import Village


async def code_taken(session: AsyncSession, code: str) -> bool:
    return (await session.execute(select(Village.id).where(Village.code == code))).first() is not None


async def list_villages(
    session: AsyncSession, *, only: set[uuid.UUID] | None, after_code: str | None, limit: int
) -> Sequence[Village]:
    query = select(Village).order_by(Village.code).limit(limit)
    if only is not None:
        query = query.where(Village.id.in_(only))
    if after_code is not None:
        query = query.where(Village.code > after_code)
    return (await session.execute(query)).scalars().all()


async def add_village(session: AsyncSession, village: Village) -> None:
    """Insert the village (IntegrityError on a taken code)."""
    session.add(village)
    await session.flush()


async def save_village(session: AsyncSession, village: Village) -> None:
    """Write the village's changed settings in this transaction."""
    await session.flush()


async def any_village(session: AsyncSession) -> bool:
    return (await session.execute(select(Village.id).limit(1))).first() is not None
