from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from jifen.auth.households import (
    HouseholdAccess,
    HouseholdAdmin,
    HouseholdLister,
    HouseholdReader,
    VillageAdmin,
)
from jifen.auth.scope import OutsideGrid, phones_in_full
from jifen.households import service
from jifen.households.schemas import HouseholdCreate, HouseholdOut, HouseholdSummary, MemberIn, MemberOut
from jifen.households.sheets import roll_xlsx
from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.error_sets import READ_ERRORS, read_route
from jifen.kit.errors import (
    DuplicateCode,
    Forbidden,
    NotAuthenticated,
    NotFound,
    create_route,
    error_responses,
)
from jifen.kit.pagination import Cursor, InvalidCursor, Limit, Page
from jifen.kit.xlsx import XlsxWanted

router = APIRouter(tags=["households"], route_class=AutoCommitRoute)


NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL: refuse it as bad input, not a database error


@create_route(
    router,
    "/villages/{village_id}/households",
    HouseholdOut,
    *READ_ERRORS,
    DuplicateCode,
)
async def create_household(body: HouseholdCreate, access: VillageAdmin, session: Session) -> HouseholdOut:
    """Add a household (and its members) to the village's roll."""
    household = await service.add_household(session, access.actor, access.village, body)
    return await service.household_out(session, HouseholdAccess(actor=access.actor, household=household))


@read_route(router, "/villages/{village_id}/households", Page[HouseholdSummary], InvalidCursor, xlsx=True)
async def list_households(
    access: HouseholdLister,
    session: Session,
    xlsx: XlsxWanted,
    q: Annotated[
        str | None, Query(max_length=64, pattern=NO_NUL, description="code prefix or part of the name")
    ] = None,
    grid: Annotated[str | None, Query(max_length=32, pattern=NO_NUL)] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[HouseholdSummary] | Response:
    """The village's households by code; search by code or head's name, filter by grid. A cadre assigned to
    grids sees the households of their grids. As a spreadsheet (`?format=xlsx`): the whole roll the caller
    may list, with every household's points (cursor and limit do not apply)."""
    if xlsx:
        return await roll_xlsx(
            session,
            access.village.id,
            access.village.name,
            grid=grid,
            grids=access.grids,
            q=q.strip() if q else None,
            addresses=phones_in_full(access.actor, access.village.id) or access.actor.is_town_admin,
        )
    return await service.households_page(session, access, q=q, grid=grid, cursor=cursor, limit=limit)


@router.get(
    "/households/{household_id}",
    response_model=HouseholdOut,
    responses=error_responses(NotAuthenticated, Forbidden, OutsideGrid, NotFound),
)
async def get_household(access: HouseholdReader, session: Session) -> HouseholdOut:
    """One household with its members and its points balance."""
    return await service.household_out(session, access)


@create_route(router, "/households/{household_id}/members", MemberOut, *READ_ERRORS)
async def add_member(body: MemberIn, access: HouseholdAdmin, session: Session) -> MemberOut:
    """Add a family member to a household."""
    member = await service.add_member(session, access.actor, access.household, body)
    return MemberOut.model_validate(member)
