"""The town's view: every village side by side for one local month (or year)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from jifen.auth.dependencies import TownAdmin
from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.errors import Forbidden, NotAuthenticated, error_responses
from jifen.rankings.service import InvalidPeriod
from jifen.town import service
from jifen.town.service import TownOverview

router = APIRouter(tags=["town"], route_class=AutoCommitRoute)


@router.get(
    "/town/overview",
    response_model=TownOverview,
    responses=error_responses(NotAuthenticated, Forbidden, InvalidPeriod),
)
async def town_overview(
    actor: TownAdmin,
    session: Session,
    period: Annotated[
        str | None, Query(max_length=20, description="2026-11 or 2026; default this month")
    ] = None,
) -> TownOverview:
    """All villages side by side: households taking part, points issued, deducted and redeemed in the
    period (this local month by default), and points outstanding now."""
    return await service.overview(session, period)
