from __future__ import annotations

from fastapi import APIRouter

from jifen.auth.dependencies import CurrentActor, TownAdmin
from jifen.auth.households import VillageAdmin
from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.error_sets import READ_ERRORS, read_route
from jifen.kit.errors import (
    DuplicateCode,
    Forbidden,
    NotAuthenticated,
    create_route,
    error_responses,
)
from jifen.kit.pagination import Cursor, InvalidCursor, Limit, Page, decode_cursor, encode_cursor
from jifen.users.service import DuplicateUsername
from jifen.villages import service
from jifen.villages.onboarding import checklist, create_village_with_admin
from jifen.villages.schemas import (
    ChecklistOut,
    StepOut,
    VillageAdminCreated,
    VillageCreate,
    VillageCreated,
    VillageOut,
    VillageSettings,
)

router = APIRouter(prefix="/villages", tags=["villages"], route_class=AutoCommitRoute)


@create_route(router, "", VillageCreated, NotAuthenticated, Forbidden, DuplicateCode, DuplicateUsername)
async def create_village(body: VillageCreate, actor: TownAdmin, session: Session) -> VillageCreated:
    """Set up a new village (town admin); with `admin_username`, also its first village admin, whose
    one-time password comes back once (they must change it at the first sign-in)."""
    if body.admin_username is None:
        village = await service.create_village(session, actor, code=body.code, name=body.name)
        return VillageCreated.model_validate(village)
    created = await create_village_with_admin(
        session,
        actor,
        code=body.code,
        name=body.name,
        admin_username=body.admin_username,
        admin_display_name=body.admin_display_name,
    )
    out = VillageCreated.model_validate(created.village)
    out.admin = VillageAdminCreated(
        id=created.admin.id, username=created.admin.username, one_time_password=created.one_time_password
    )
    return out


@router.get("", response_model=Page[VillageOut], responses=error_responses(NotAuthenticated, InvalidCursor))
async def list_villages(
    actor: CurrentActor, session: Session, cursor: Cursor = None, limit: Limit = 50
) -> Page[VillageOut]:
    """The villages this user may see, by code."""
    after = decode_cursor(cursor, 1)
    villages = await service.visible_villages(
        session, actor, after_code=after[0] if after else None, limit=limit + 1
    )
    items = [VillageOut.model_validate(v) for v in villages[:limit]]
    return Page(items=items, next_cursor=encode_cursor(items[-1].code) if len(villages) > limit else None)


@router.patch(
    "/{village_id}",
    response_model=VillageOut,
    responses=error_responses(*READ_ERRORS),
)
async def change_village_settings(
    body: VillageSettings, access: VillageAdmin, session: Session
) -> VillageOut:
    """The village's settings: days of public notice (公示), how long a clerk may cancel a sale, how many days
    a pickup code (预约兑换) stays valid, the yearly points for one to five stars (星级文明户), the grids
    (网格) a roll import accepts."""
    village = await service.change_settings(
        session, access.actor, access.village, changes=body.model_dump(exclude_unset=True, exclude_none=True)
    )
    return VillageOut.model_validate(village)


@read_route(router, "/{village_id}/checklist", ChecklistOut)
async def village_checklist(access: VillageAdmin, session: Session) -> ChecklistOut:
    """开通清单: the steps from a new village to its first redemption (households imported, rules chosen,
    store and catalogue, staff, first award, first redemption), each done or not, computed from the data."""
    steps = await checklist(session, access.village.id)
    return ChecklistOut(
        done=all(s.done for s in steps),
        steps=[StepOut(key=s.key, label=s.label, done=s.done, hint=s.hint) for s in steps],
    )
