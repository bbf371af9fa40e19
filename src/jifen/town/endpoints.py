"""The town's view: every village side by side for one local month (or year)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from jifen.auth.dependencies import TownAdmin
from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.errors import Forbidden, NotAuthenticated, error_responses
from jifen.kit.timeutil import to_local, utcnow
from jifen.rankings.service import InvalidPeriod, parse_period
from jifen.town import repository

router = APIRouter(tags=["town"], route_class=AutoCommitRoute)


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
    text = period or to_local(utcnow()).strftime("%Y-%m")
    window = parse_period(text)
    rows = await repository.village_figures(session, window.start, window.end)
    return TownOverview(
        period=text, villages=[VillageFigures.model_validate(row, from_attributes=True) for row in rows]
    )
