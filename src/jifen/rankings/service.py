"""Rankings (积分排行榜): households ordered by the points they earned in a local period."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.kit import periods
from jifen.kit.errors import BadRequest
from jifen.rankings import repository
from jifen.rankings.repository import Ranked
from jifen.rankings.schemas import RankingEntry, RankingOut, RedBlackOut

__all__ = [
    "InvalidPeriod",
    "Period",
    "Ranked",
    "StarRating",
    "parse_period",
    "ranking",
    "ranking_and_lists",
    "ranking_out",
    "red_black_lists",
    "star_ratings",
    "stars_for",
]


class InvalidPeriod(BadRequest, code="invalid_period", detail="期间格式应为 2026-11（月）或 2026（年）"): ...


@dataclass(frozen=True)
class Period:
    label: str | None
    start: datetime | None  # UTC; None: all time
    end: datetime | None


def parse_period(text: str | None) -> Period:
    """`2026-11` (a month) or `2026` (a year) in village time; absent: all time."""
    if text is None:
        return Period(None, None, None)
    if not re.fullmatch(r"\d{4}(-\d{2})?", text):
        raise InvalidPeriod()  # rankings take a month or a year, not a quarter or a range
    try:
        local = periods.parse_period(text)
    except periods.InvalidPeriod:
        raise InvalidPeriod() from None
    return Period(text, local.starts_at, local.ends_at)


async def ranking(
    session: AsyncSession,
    village_id: uuid.UUID,
    period: Period,
    grid: str | None,
    household_class: str | None = None,
) -> list[Ranked]:
    if period.label is None or period.start is None or period.end is None:
        return await repository.ranking(session, village_id, None, grid, household_class)
    window = (period.label, period.start, period.end)
    return await repository.ranking(session, village_id, window, grid, household_class)


@dataclass(frozen=True)
class StarRating:
    household_id: uuid.UUID
    code: str
    head_name: str
    grid: str | None
    earned: int
    stars: int


def stars_for(earned: int, thresholds: list[int]) -> int:
    return sum(1 for threshold in thresholds if earned >= threshold)


async def star_ratings(
    session: AsyncSession, village_id: uuid.UUID, year: int, grid: str | None = None
) -> tuple[list[int], list[StarRating]]:
    """星级文明户: every household's stars for a local (Asia/Shanghai) year, from the points it earned in it
    against the village's thresholds; most points first."""
    thresholds = await repository.star_thresholds(session, village_id)
    ranked = await ranking(session, village_id, parse_period(f"{year:04d}"), grid)
    return thresholds, [
        StarRating(r.household_id, r.code, r.head_name, r.grid, r.points, stars_for(r.points, thresholds))
        for r in ranked
    ]


async def ranking_out(
    session: AsyncSession,
    village_id: uuid.UUID,
    period: str | None,
    grid: str | None = None,
    household_class: str | None = None,
) -> RankingOut:
    """The ranking of a month or year (or all time) as the API and the pages show it."""
    ranked = await ranking(session, village_id, parse_period(period), grid, household_class)
    return RankingOut(
        items=[RankingEntry.model_validate(r, from_attributes=True) for r in ranked], period=period, grid=grid
    )


async def red_black_lists(
    session: AsyncSession,
    village_id: uuid.UUID,
    period: str,
    size: int = 5,
    household_class: str | None = None,
) -> RedBlackOut:
    """红黑榜: the period's best (red list, who earned points) and worst (black list, lowest first);
    households tied at the edge join the list."""
    ranked = await ranking(session, village_id, parse_period(period), None, household_class)
    return _lists([RankingEntry.model_validate(r, from_attributes=True) for r in ranked], period, size)


async def ranking_and_lists(
    session: AsyncSession,
    village_id: uuid.UUID,
    period: str,
    grid: str | None = None,
    household_class: str | None = None,
) -> tuple[RankingOut, RedBlackOut]:
    """The ranking (`ranking_out`) and the village's red and black lists (`red_black_lists`) of one period:
    the whole village's ranking is read once for both; a grid's ranking needs the village's for the lists."""
    shown = await ranking_out(session, village_id, period, grid, household_class)
    if grid is not None:
        return shown, await red_black_lists(session, village_id, period, household_class=household_class)
    return shown, _lists(shown.items, period, 5)


def _lists(entries: list[RankingEntry], period: str, size: int) -> RedBlackOut:
    if not entries:
        return RedBlackOut(period=period, red=[], black=[])
    red_edge = entries[min(size, len(entries)) - 1].points
    black_edge = entries[max(len(entries) - size, 0)].points
    red = [e for e in entries if e.points >= red_edge and e.points > 0]
    black = [e for e in reversed(entries) if e.points <= black_edge and e not in red]
    return RedBlackOut(period=period, red=red, black=black)
