"""The household roll (花名册) with every household's points, as a spreadsheet: read in keyset pages of
`BATCH` households, written as they come."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.households.repository import _like_escape
from jifen.kit.columns import AVAILABLE, EARNED, HOUSEHOLD, POSTED
from jifen.kit.sql import Sql
from jifen.kit.xlsx import BATCH, Column, Kind, Sheet, Writer, exported_note, feed, response

ROLL_COLUMNS = (
    *HOUSEHOLD,
    Column("住址", 28),
    Column("类别", 10),
    Column("人口", 8, Kind.int),
    POSTED,
    Column("冻结积分", 12, Kind.int),
    AVAILABLE,
    EARNED,
    Column("建档日期", 12, Kind.date),
)

_ROLL = """
SELECT h.code, h.head_name, h.grid, h.address, h."class" AS household_class,
       (SELECT count(*) FROM members m WHERE m.village_id = h.village_id AND m.household_id = h.id) AS people,
       coalesce(a.posted, 0) AS posted, coalesce(a.held, 0) AS held, coalesce(a.lifetime_earned, 0) AS earned,
       h.created_at
  FROM households h
  LEFT JOIN accounts a ON a.village_id = h.village_id AND a.household_id = h.id AND a.kind = 'household'
 WHERE h.village_id = $1 AND h.code > $2
   AND ($3::text IS NULL OR h.grid = $3)
   AND ($4::text[] IS NULL OR h.grid = ANY($4))
   AND ($5::text IS NULL OR h.code ILIKE $5 || '%' ESCAPE '\\'
        OR h.head_name ILIKE '%' || $5 || '%' ESCAPE '\\')
 ORDER BY h.code
 LIMIT $6
"""


@dataclass(frozen=True)
class RollRow:
    code: str
    head_name: str
    grid: str | None
    address: str | None
    household_class: str | None
    people: int
    posted: int
    held: int
    earned: int
    created_at: datetime


async def _roll_rows(
    session: AsyncSession,
    village_id: uuid.UUID,
    *,
    grid: str | None,
    grids: frozenset[str] | None,
    q: str | None,
    addresses: bool,
) -> AsyncIterator[Sequence[Any]]:
    sql = Sql(session)
    after = ""
    pattern = _like_escape(q) if q else None
    while True:
        rows = await sql.rows(
            RollRow,
            _ROLL,
            village_id,
            after,
            grid,
            sorted(grids) if grids is not None else None,
            pattern,
            BATCH,
        )
        for r in rows:
            yield (
                r.code,
                r.head_name,
                r.grid,
                r.address if addresses else None,
                r.household_class,
                r.people,
                r.posted,
                r.held,
                r.posted - r.held,
                r.earned,
                r.created_at,
            )
        if len(rows) < BATCH:
            return
        after = rows[-1].code


async def roll_xlsx(
    session: AsyncSession,
    village_id: uuid.UUID,
    village_name: str,
    *,
    grid: str | None,
    grids: frozenset[str] | None,
    q: str | None,
    addresses: bool,
) -> StreamingResponse:
    """花名册: every household the caller may list (a cadre: their grids), with its points. Addresses only
    for those who may read them (not the counter)."""
    notes = [f"{village_name} 农户花名册（含积分）", exported_note()]
    if grid or grids is not None:
        notes.insert(1, "网格：" + (grid or "、".join(sorted(grids or ()))))
    writer = Writer()
    writer.start(Sheet("花名册", ROLL_COLUMNS, notes=notes))
    await feed(writer, _roll_rows(session, village_id, grid=grid, grids=grids, q=q, addresses=addresses))
    return await response(writer, f"{village_name}-花名册.xlsx")
