"""The photos' statements: a photo recorded and read, and the photos linked to awards."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.kit.sql import Sql


@dataclass(frozen=True, slots=True)
class Photo:
    id: uuid.UUID
    village_id: uuid.UUID
    sha256: str
    content_type: str
    size: int
    width: int
    height: int
    uploaded_by: uuid.UUID
    created_at: datetime


_PHOTO = "id, village_id, sha256, content_type, size, width, height, uploaded_by, created_at"


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
) -> Photo:
    return await Sql(session).one(
        Photo,
        "INSERT INTO photos (village_id, id, sha256, content_type, size, width, height, uploaded_by)"
        f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_PHOTO}",
        village_id,
        uuid.uuid4(),
        sha256,
        content_type,
        size,
        width,
        height,
        uploaded_by,
    )


async def get_photo(session: AsyncSession, photo_id: uuid.UUID) -> Photo | None:
    return await Sql(session).row(Photo, f"SELECT {_PHOTO} FROM photos WHERE id = $1", photo_id)


async def village_photo_hashes(
    session: AsyncSession, village_id: uuid.UUID, photo_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The hashes of those photos that belong to the village (another village's photo is not found)."""
    return await Sql(session).pairs(
        uuid.UUID,
        str,
        "SELECT id, sha256 FROM photos WHERE village_id = $1 AND id = ANY($2::uuid[])",
        village_id,
        list(photo_ids),
    )


async def link_award_photos(
    session: AsyncSession,
    village_id: uuid.UUID,
    award_ids: Sequence[uuid.UUID],
    photo_ids: Sequence[uuid.UUID],
    positions: Sequence[int],
) -> None:
    await Sql(session).execute(
        "INSERT INTO award_photos (village_id, award_id, photo_id, position)"
        " SELECT $1, l.award_id, l.photo_id, l.position"
        "   FROM unnest($2::uuid[], $3::uuid[], $4::smallint[]) AS l(award_id, photo_id, position)",
        village_id,
        list(award_ids),
        list(photo_ids),
        list(positions),
    )


@dataclass(frozen=True, slots=True)
class _Link:
    award_id: uuid.UUID
    photo_id: uuid.UUID


async def award_photo_ids(
    session: AsyncSession, village_id: uuid.UUID, award_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    rows = await Sql(session).rows(
        _Link,
        "SELECT award_id, photo_id FROM award_photos WHERE village_id = $1 AND award_id = ANY($2::uuid[])"
        " ORDER BY award_id, position",
        village_id,
        list(award_ids),
    )
    linked: dict[uuid.UUID, list[uuid.UUID]] = {}
    for row in rows:
        linked.setdefault(row.award_id, []).append(row.photo_id)
    return linked
