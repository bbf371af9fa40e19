from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.kit.db import driver


async def insert_photo(
    session: AsyncSession,
    *,
    village_id: uuid.UUID,
    sha256: str,
    content_type: str,
    size: int,
    width: int,
    height: int,
    uploaded_by: uuid.UUID,
) -> Any:
    return await (await driver(session)).fetchrow(
        "INSERT INTO photos (village_id, id, sha256, content_type, size, width, height, uploaded_by)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " RETURNING id, village_id, sha256, content_type, size, width, height, uploaded_by, created_at",
        village_id,
        uuid.uuid4(),
        sha256,
        content_type,
        size,
        width,
        height,
        uploaded_by,
    )


async def get_photo(session: AsyncSession, photo_id: uuid.UUID) -> Any:
    return await (await driver(session)).fetchrow(
        "SELECT id, village_id, sha256, content_type, size, width, height, uploaded_by, created_at"
        " FROM photos WHERE id = $1",
        photo_id,
    )


async def village_photo_hashes(
    session: AsyncSession, village_id: uuid.UUID, photo_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The hashes of those photos that belong to the village (another village's photo is not found)."""
    rows = await (await driver(session)).fetch(
        "SELECT id, sha256 FROM photos WHERE village_id = $1 AND id = ANY($2::uuid[])",
        village_id,
        list(photo_ids),
    )
    return {row["id"]: row["sha256"] for row in rows}


async def link_award_photos(
    session: AsyncSession,
    village_id: uuid.UUID,
    award_ids: Sequence[uuid.UUID],
    photo_ids: Sequence[uuid.UUID],
    positions: Sequence[int],
) -> None:
    await (await driver(session)).execute(
        "INSERT INTO award_photos (village_id, award_id, photo_id, position)"
        " SELECT $1, l.award_id, l.photo_id, l.position"
        "   FROM unnest($2::uuid[], $3::uuid[], $4::smallint[]) AS l(award_id, photo_id, position)",
        village_id,
        list(award_ids),
        list(photo_ids),
        list(positions),
    )


async def award_photo_ids(
    session: AsyncSession, village_id: uuid.UUID, award_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    rows = await (await driver(session)).fetch(
        "SELECT award_id, photo_id FROM award_photos WHERE village_id = $1 AND award_id = ANY($2::uuid[])"
        " ORDER BY award_id, position",
        village_id,
        list(award_ids),
    )
    linked: dict[uuid.UUID, list[uuid.UUID]] = {}
    for row in rows:
        linked.setdefault(row["award_id"], []).append(row["photo_id"])
    return linked
