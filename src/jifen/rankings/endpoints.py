from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.error_sets import read_route
from jifen.kit.pagination import GridFilter
from jifen.kit.timeutil import to_local, utcnow
from jifen.kit.xlsx import XlsxWanted
from jifen.rankings import service, sheets
from jifen.rankings.schemas import RankingOut, RedBlackOut, StarEntry, StarsOut
from jifen.rules.auth import VillageUser

router = APIRouter(tags=["rankings"], route_class=AutoCommitRoute)


@read_route(router, "/villages/{village_id}/rankings", RankingOut, service.InvalidPeriod, xlsx=True)
async def get_rankings(
    access: VillageUser,
    session: Session,
    xlsx: XlsxWanted,
    period: Annotated[
        str | None, Query(max_length=20, description="2026-11 (a month) or 2026 (a year)")
    ] = None,
    grid: GridFilter = None,
    household_class: Annotated[str | None, Query(max_length=32, description="rank one class apart")] = None,
) -> RankingOut | Response:
    """Households by the points they earned in a month or year of village time (or all time), best first;
    equal points share a rank. As a spreadsheet, a month or year also carries its red and black lists."""
    ranking = await service.ranking_out(session, access.village.id, period, grid, household_class)
    if xlsx:
        lists = (
            await service.red_black_lists(session, access.village.id, period, household_class=household_class)
            if period and not grid
            else None
        )
        return await sheets.ranking_xlsx(access.village.name, ranking, lists)
    return ranking


@read_route(router, "/villages/{village_id}/rankings/lists", RedBlackOut, service.InvalidPeriod, xlsx=True)
async def get_red_black_lists(
    access: VillageUser,
    session: Session,
    xlsx: XlsxWanted,
    period: Annotated[str, Query(max_length=20, description="2026-11 (a month) or 2026 (a year)")],
    size: Annotated[int, Query(ge=1, le=50, description="how many households on each list")] = 5,
    household_class: Annotated[str | None, Query(max_length=32)] = None,
) -> RedBlackOut | Response:
    """红黑榜: the period's best (red list, who earned points) and worst (black list, lowest first);
    households tied at the edge join the list."""
    lists = await service.red_black_lists(session, access.village.id, period, size, household_class)
    return await sheets.red_black_xlsx(access.village.name, lists) if xlsx else lists


@read_route(router, "/villages/{village_id}/stars", StarsOut)
async def get_star_households(
    access: VillageUser,
    session: Session,
    year: Annotated[
        int | None, Query(ge=2000, le=2100, description="a year of village time; default: this one")
    ] = None,
    grid: GridFilter = None,
) -> StarsOut:
    """星级文明户: every household's stars (0–5) for a year, from the points it earned in that year of village
    time against the village's thresholds (`PATCH /villages/{id}` `star_thresholds`); most points first."""
    year = year or to_local(utcnow()).year
    thresholds, ratings = await service.star_ratings(session, access.village.id, year, grid)
    return StarsOut(
        year=year,
        thresholds=thresholds,
        items=[StarEntry.model_validate(r, from_attributes=True) for r in ratings],
    )
