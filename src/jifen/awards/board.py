"""Awards as people read them: the public notice board (公示栏) every villager may see, and the review queue,
each with the household, the rule and who submitted it by name."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.auth.actor import VILLAGE_USERS
from jifen.auth.dependencies import VillageAccess, village_role
from jifen.awards import repository
from jifen.households.auth import AwardLister, HouseholdHistoryReader
from jifen.kit.db import AutoCommitRoute, Session, driver
from jifen.kit.errors import Forbidden, NotAuthenticated, NotFound, error_responses
from jifen.kit.timeutil import period_start, utcnow
from jifen.models import AwardStatus, Household

router = APIRouter(tags=["awards"], route_class=AutoCommitRoute)

VillageUsers = Annotated[VillageAccess, Depends(village_role(*VILLAGE_USERS))]


class BoardAward(BaseModel):
    id: uuid.UUID
    status: AwardStatus
    points: int
    quantity: int
    note: str | None
    household_id: uuid.UUID
    household_code: str
    head_name: str
    grid: str | None
    rule_id: uuid.UUID
    rule_code: str
    rule_name: str
    rule_category: str
    review: str
    submitted_by: uuid.UUID
    submitted_by_name: str
    approvals: list[str]
    open_objections: int
    photo_ids: list[uuid.UUID]
    self_report: bool
    created_at: datetime
    notice_until: datetime | None


class Board(BaseModel):
    items: list[BoardAward]


_BOARD = """
SELECT a.id, a.status, a.points, a.quantity, a.note, a.household_id, h.code AS household_code, h.head_name,
       h.grid, a.rule_id, r.code AS rule_code, v.name AS rule_name, v.category AS rule_category, v.review,
       a.submitted_by, coalesce(u.display_name, u.username, '') AS submitted_by_name,
       coalesce((SELECT array_agg(coalesce(du.display_name, du.username) ORDER BY d.created_at)
                   FROM award_decisions d LEFT JOIN users du ON du.id = d.actor_id
                  WHERE d.village_id = a.village_id AND d.award_id = a.id AND d.decision = 'approve'),
                '{}') AS approvals,
       (SELECT count(*) FROM objections o
         WHERE o.village_id = a.village_id AND o.award_id = a.id AND o.status = 'open') AS open_objections,
       coalesce((SELECT array_agg(ap.photo_id ORDER BY ap.position) FROM award_photos ap
                  WHERE ap.village_id = a.village_id AND ap.award_id = a.id), '{}') AS photo_ids,
       a.self_report,
       a.created_at, a.notice_until
  FROM awards a
  JOIN households h ON h.village_id = a.village_id AND h.id = a.household_id
  JOIN rules r ON r.village_id = a.village_id AND r.id = a.rule_id
  JOIN rule_versions v ON v.village_id = a.village_id AND v.rule_id = a.rule_id AND v.version = a.rule_version
  LEFT JOIN users u ON u.id = a.submitted_by
 WHERE a.village_id = $1 AND a.status = $2 AND ($3::text IS NULL OR h.grid = $3)
   AND ($5::text[] IS NULL OR h.grid = ANY($5::text[]))
 ORDER BY __ORDER__
 LIMIT $4
"""


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
    order = "a.notice_until, a.created_at" if status is AwardStatus.public_notice else "a.created_at, a.id"
    rows = await (await driver(session)).fetch(
        _BOARD.replace("__ORDER__", order),
        village_id,
        status.value,
        grid,
        limit,
        sorted(grids) if grids is not None else None,
    )
    return [BoardAward(**dict(row)) for row in rows]


@router.get(
    "/villages/{village_id}/notices",
    response_model=Board,
    responses=error_responses(NotAuthenticated, Forbidden, NotFound),
)
async def list_notices(
    access: VillageUsers,
    session: Session,
    grid: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> Board:
    """公示栏: the awards on public notice now, ending soonest first; every villager of the village may read
    it and object while it lasts."""
    return Board(items=await board(session, access.village.id, AwardStatus.public_notice, grid, limit))


@router.get(
    "/villages/{village_id}/review-queue",
    response_model=Board,
    responses=error_responses(NotAuthenticated, Forbidden, NotFound),
)
async def review_queue(
    access: AwardLister,
    session: Session,
    grid: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Board:
    """The awards waiting for review, oldest first, with who submitted them and who has approved so far."""
    return Board(
        items=await board(
            session, access.village.id, AwardStatus.pending_review, grid, limit, grids=access.grids
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


_CAPPED_RULES = """
SELECT r.id AS rule_id, v.name, v.cap_count, v.cap_period
  FROM rules r
  JOIN rule_versions v ON v.village_id = r.village_id AND v.rule_id = r.id AND v.version = r.current_version
 WHERE r.village_id = $1 AND v.cap_count IS NOT NULL AND v.active
 ORDER BY r.code
"""


@router.get(
    "/households/{household_id}/caps",
    response_model=CapsOut,
    responses=error_responses(NotAuthenticated, Forbidden, NotFound),
)
async def caps_left(access: HouseholdHistoryReader, session: Session) -> CapsOut:
    """For every rule with a cap: how many points this household has used in the current local period and
    how many it may still get — shown before an award is submitted."""
    return await household_caps(session, access.household)


async def household_caps(session: AsyncSession, household: Household) -> CapsOut:
    """What `caps_left` answers, for the API and the staff's household page."""
    rules = await (await driver(session)).fetch(_CAPPED_RULES, household.village_id)
    now = utcnow()
    used: dict[tuple[uuid.UUID, uuid.UUID], int] = {}
    for period in {r["cap_period"] for r in rules}:
        ids = [r["rule_id"] for r in rules if r["cap_period"] == period]
        used |= await repository.cap_used(
            session, household.village_id, [household.id], ids, period_start(period, now)
        )
    items = []
    for r in rules:
        spent = used.get((household.id, r["rule_id"]), 0)
        items.append(
            CapLeft(
                rule_id=r["rule_id"],
                rule_name=r["name"],
                cap=r["cap_count"],
                period=r["cap_period"],
                used=spent,
                left=max(0, r["cap_count"] - spent),
            )
        )
    return CapsOut(household_id=household.id, items=items)
