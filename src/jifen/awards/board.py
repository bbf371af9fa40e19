"""Awards as people read them: the public notice board (公示栏) every villager may see, and the review queue,
each with the household, the rule and who submitted it by name."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.auth.actor import VILLAGE_USERS
from jifen.auth.dependencies import VillageAccess, village_role
from jifen.auth.households import AwardLister, HouseholdHistoryReader
from jifen.awards import repository
from jifen.awards.repository import board as board_repository
from jifen.awards.schemas import BoardAward
from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.error_sets import read_route
from jifen.kit.pagination import GridFilter
from jifen.kit.periods import window
from jifen.kit.timeutil import utcnow
from jifen.models import AwardStatus, HouseholdRecord

router = APIRouter(tags=["awards"], route_class=AutoCommitRoute)

VillageUsers = Annotated[VillageAccess, Depends(village_role(*VILLAGE_USERS))]


class Board(BaseModel):
    items: list[BoardAward]


async def board(
    session: AsyncSession,
    village_id: uuid.UUID,
    status: AwardStatus,
    grid: str | None,
    limit: int,
    *,
    grids: frozenset[str] | None = None,
) -> list[BoardAward]:
    """`grids`: only households of these grids (a cadre's review queue); None for the whole village."""
    return await board_repository.board_awards(session, village_id, status, grid, limit, grids=grids)


@dataclass(frozen=True)
class BoardFilter:
    grid: str | None
    limit: int


def board_filter(default_limit: int) -> Callable[[str | None, int], BoardFilter]:
    """The query string of a board (the notices, the review queue): one definition for both."""

    def query(
        grid: GridFilter = None, limit: Annotated[int, Query(ge=1, le=1000)] = default_limit
    ) -> BoardFilter:
        return BoardFilter(grid, limit)

    return query


NoticeQuery = Annotated[BoardFilter, Depends(board_filter(500))]
QueueQuery = Annotated[BoardFilter, Depends(board_filter(200))]


@read_route(router, "/villages/{village_id}/notices", Board)
async def list_notices(access: VillageUsers, session: Session, query: NoticeQuery) -> Board:
    """公示栏: the awards on public notice now, ending soonest first; every villager of the village may read
    it and object while it lasts."""
    return Board(
        items=await board(session, access.village.id, AwardStatus.public_notice, query.grid, query.limit)
    )


@read_route(router, "/villages/{village_id}/review-queue", Board)
async def review_queue(access: AwardLister, session: Session, query: QueueQuery) -> Board:
    """The awards waiting for review, oldest first, with who submitted them and who has approved so far."""
    return Board(
        items=await board(
            session,
            access.village.id,
            AwardStatus.pending_review,
            query.grid,
            query.limit,
            grids=access.grids,
        )
    )


class CapLeft(BaseModel):
    rule_id: uuid.UUID
    rule_name: str
    cap: int
    period: str
    used: int
    left: int


class CapsOut(BaseModel):
    household_id: uuid.UUID
    items: list[CapLeft]


@read_route(router, "/households/{household_id}/caps", CapsOut)
async def caps_left(access: HouseholdHistoryReader, session: Session) -> CapsOut:
    """For every rule with a cap: how many points this household has used in the current local period and
    how many it may still get — shown before an award is submitted."""
    return await household_caps(session, access.household)


async def household_caps(session: AsyncSession, household: HouseholdRecord) -> CapsOut:
    """What `caps_left` answers, for the API and the staff's household page."""
    rules = await board_repository.capped_rules(session, household.village_id)
    now = utcnow()
    used: dict[tuple[uuid.UUID, uuid.UUID], int] = {}
    for period in {r.cap_period for r in rules}:
        ids = [r.rule_id for r in rules if r.cap_period == period]
        used |= await repository.counts_within(
            session, "points", household.village_id, [household.id], ids, window(period, now)
        )
    items = []
    for r in rules:
        spent = used.get((household.id, r.rule_id), 0)
        items.append(
            CapLeft(
                rule_id=r.rule_id,
                rule_name=r.name,
                cap=r.cap_count,
                period=r.cap_period,
                used=spent,
                left=max(0, r.cap_count - spent),
            )
        )
    return CapsOut(household_id=household.id, items=items)
