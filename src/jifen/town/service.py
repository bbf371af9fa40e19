"""The town's figures: every village side by side for one local month (or year)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.kit.periods import this_month
from jifen.rankings.service import parse_period
from jifen.town import charts, repository
from jifen.town.charts import Month


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


def _window(period: str | None) -> tuple[str, datetime, datetime]:
    text = period or this_month()
    window = parse_period(text)
    assert window.start is not None  # a month or a year, never all time
    assert window.end is not None
    return text, window.start, window.end


def _overview(period: str, rows: list[repository.VillageFiguresRow]) -> TownOverview:
    return TownOverview(
        period=period, villages=[VillageFigures.model_validate(row, from_attributes=True) for row in rows]
    )


async def overview(session: AsyncSession, period: str | None) -> TownOverview:
    """All villages side by side for `period` (2026-11 or 2026; this local month when None)."""
    text, start, end = _window(period)
    return _overview(text, await repository.overview(session, text, start, end))


async def overview_and_monthly(
    session: AsyncSession, period: str | None
) -> tuple[TownOverview, dict[uuid.UUID, list[Month]]]:
    """`overview` and every village's last 12 months (`charts.monthly`), read in one statement: the town
    page's figures and its charts'."""
    text, start, end = _window(period)
    rows, months = await charts.overview_and_monthly(session, text, start, end)
    return _overview(text, rows), months
