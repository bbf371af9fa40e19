from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.errors import Forbidden, NotAuthenticated, NotFound, error_responses
from jifen.rankings import service
from jifen.rankings.schemas import RankingEntry, RankingOut
from jifen.rules.auth import VillageUser

router = APIRouter(tags=["rankings"], route_class=AutoCommitRoute)


@router.get(
    "/villages/{village_id}/rankings",
    response_model=RankingOut,
    responses=error_responses(NotAuthenticated, Forbidden, NotFound, service.InvalidPeriod),
)
async def get_rankings(
    access: VillageUser,
    session: Session,
    period: Annotated[
        str | None, Query(max_length=20, description="2026-11 (a month) or 2026 (a year)")
    ] = None,
    grid: Annotated[str | None, Query(max_length=32)] = None,
) -> RankingOut:
    """Households by the points they earned in a month or year of village time (or all time), best first;
    equal points share a rank."""
    ranked = await service.ranking(session, access.village.id, service.parse_period(period), grid)
    return RankingOut(
        items=[RankingEntry.model_validate(r, from_attributes=True) for r in ranked], period=period, grid=grid
    )
