"""The town's figures: every village side by side for one local month (or year)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.kit.timeutil import this_month
from jifen.rankings.service import parse_period
from jifen.town import repository


class VillageFigures(BaseModel):
    village_id: uuid.UUID
    code: str
    name: str
    households: int
    taking_part: int  # households with at least one award or deduction in the period
    issued: int  # points awarded (and returned by rectification)
    deducted: int
    redeemed: int  # spent at the store, net of cancelled sales
    outstanding: int  # all households' posted points now


class TownOverview(BaseModel):
    period: str
    villages: list[VillageFigures]


async def overview(session: AsyncSession, period: str | None) -> TownOverview:
    """All villages side by side for `period` (2026-11 or 2026; this local month when None)."""
    text = period or this_month()
    window = parse_period(text)
    rows = await repository.village_figures(session, window.start, window.end)
    return TownOverview(
        period=text, villages=[VillageFigures.model_validate(row, from_attributes=True) for row in rows]
    )
