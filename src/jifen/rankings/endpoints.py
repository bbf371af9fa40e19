from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.errors import Forbidden, NotAuthenticated, NotFound, error_responses
from jifen.kit.timeutil import to_local, utcnow
from jifen.kit.xlsx import XLSX_RESPONSE, XlsxWanted
from jifen.rankings import service
from jifen.rankings import sheets as reports
from jifen.rankings.schemas import RankingEntry, RankingOut, RedBlackOut, StarEntry, StarsOut
from jifen.rules.auth import VillageUser

router = APIRouter(tags=["rankings"], route_class=AutoCommitRoute)


@router.get(
    "/villages/{village_id}/rankings",
    response_model=RankingOut,
    responses=error_responses(NotAuthenticated, Forbidden, NotFound, service.InvalidPeriod) | XLSX_RESPONSE,
)
async def get_rankings(
    access: VillageUser,
    session: Session,
    xlsx: XlsxWanted,
    period: Annotated[
        str | None, Query(max_length=20, description="2026-11 (a month) or 2026 (a year)")
    ] = None,
    grid: Annotated[str | None, Query(max_length=32)] = None,
    household_class: Annotated[str | None, Query(max_length=32, description="rank one class apart")] = None,
) -> RankingOut | Response:
    """Households by the points they earned in a month or year of village time (or all time), best first;
    equal points share a rank. As a spreadsheet, a month or year also carries its red and black lists."""
    ranked = await service.ranking(
        session, access.village.id, service.parse_period(period), grid, household_class
    )
    out = RankingOut(
        items=[RankingEntry.model_validate(r, from_attributes=True) for r in ranked], period=period, grid=grid
    )
    if xlsx:
        lists = red_black(period, out.items) if period and not grid else None
        return await reports.ranking_xlsx(access.village.name, out, lists)
    return out


@router.get(
    "/villages/{village_id}/rankings/lists",
    response_model=RedBlackOut,
    responses=error_responses(NotAuthenticated, Forbidden, NotFound, service.InvalidPeriod) | XLSX_RESPONSE,
)
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
    ranked = await service.ranking(
        session, access.village.id, service.parse_period(period), None, household_class
    )
    lists = red_black(period, [RankingEntry.model_validate(r, from_attributes=True) for r in ranked], size)
    if xlsx:
        return await reports.red_black_xlsx(access.village.name, lists)
    return lists


def red_black(period: str, entries: list[RankingEntry], size: int = 5) -> RedBlackOut:
    """The red list (the best `size`, who earned points) and the black list (the worst, lowest first) of a
    ranking; households tied at an edge join its list."""
    if not entries:
        return RedBlackOut(period=period, red=[], black=[])
    red_edge = entries[min(size, len(entries)) - 1].points
    black_edge = entries[max(len(entries) - size, 0)].points
    red = [e for e in entries if e.points >= red_edge and e.points > 0]
    black = [e for e in reversed(entries) if e.points <= black_edge and e not in red]
    return RedBlackOut(period=period, red=red, black=black)


@router.get(
    "/villages/{village_id}/stars",
    response_model=StarsOut,
    responses=error_responses(NotAuthenticated, Forbidden, NotFound),
)
async def get_star_households(
    access: VillageUser,
    session: Session,
    year: Annotated[
        int | None, Query(ge=2000, le=2100, description="a year of village time; default: this one")
    ] = None,
    grid: Annotated[str | None, Query(max_length=32)] = None,
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
