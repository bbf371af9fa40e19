from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from jifen.auth.households import HouseholdHistoryReader
from jifen.expiry import service
from jifen.expiry.auth import PolicyReader, PolicySetter, PreviewReader
from jifen.expiry.schemas import ExpiringOut, ExpiryPolicyIn, ExpiryPolicyOut, HouseholdExpiringOut
from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.error_sets import READ_ERRORS, read_route
from jifen.kit.errors import error_responses
from jifen.kit.pagination import Cursor, InvalidCursor, Limit, Page, decode_cursor, encode_cursor, list_route

router = APIRouter(tags=["expiry"], route_class=AutoCommitRoute)


Until = Annotated[
    date | None,
    Query(description="the last local day to look at (default: a year from today; at most three years)"),
]


@router.put(
    "/villages/{village_id}/expiry-policy",
    response_model=ExpiryPolicyOut,
    responses=error_responses(*READ_ERRORS, service.InvalidExpiryPolicy),
)
async def set_expiry_policy(body: ExpiryPolicyIn, access: PolicySetter, session: Session) -> ExpiryPolicyOut:
    """Set the village's expiry policy (清零规则). It applies from now on; the previous one stays in the
    history. Preview who loses how much before the first clearing and give the village notice."""
    row = await service.set_policy(
        session,
        access.actor,
        access.village.id,
        service.PolicyChange(
            mode=body.mode,
            clearing_date=body.clearing_date,
            carry_over_cap=body.carry_over_cap,
            months=body.months,
        ),
        reason=body.reason,
    )
    return service.policy_out(access.village.id, row)


@read_route(router, "/villages/{village_id}/expiry-policy", ExpiryPolicyOut)
async def get_expiry_policy(access: PolicyReader, session: Session) -> ExpiryPolicyOut:
    """The village's current expiry policy and its next clearing."""
    return service.policy_out(access.village.id, await service.current_policy(session, access.village.id))


@list_route(router, "/villages/{village_id}/expiry-policy/history", Page[ExpiryPolicyOut])
async def expiry_policy_history(
    access: PolicyReader, session: Session, cursor: Cursor = None, limit: Limit = 50
) -> Page[ExpiryPolicyOut]:
    """Every policy the village has had, newest first, with who set it and why."""
    key = decode_cursor(cursor, 1)
    try:
        before = int(key[0]) if key else None
    except ValueError as exc:
        raise InvalidCursor() from exc
    rows = await service.policy_history(session, access.village.id, before_seq=before, limit=limit + 1)
    items = [service.policy_out(access.village.id, row) for row in rows[:limit]]
    if before is None and items:  # only the current policy has a next clearing
        items = [items[0], *(i.model_copy(update={"next_cutoff": None}) for i in items[1:])]
    else:
        items = [i.model_copy(update={"next_cutoff": None}) for i in items]
    return Page(items=items, next_cursor=encode_cursor(rows[limit - 1].seq) if len(rows) > limit else None)


@list_route(router, "/villages/{village_id}/expiry/preview", Page[ExpiringOut], service.InvalidPreviewRange)
async def preview_expiry(
    access: PreviewReader, session: Session, until: Until = None, cursor: Cursor = None, limit: Limit = 100
) -> Page[ExpiringOut]:
    """Who loses how many points, and when, up to the end of local day `until` — for the advance notice
    (清零公告). Assumes nothing else happens: no new points, no spending, held points spent."""
    return await service.preview_page(session, access.village.id, until, cursor, limit)


@read_route(router, "/households/{household_id}/expiring", HouseholdExpiringOut, service.InvalidPreviewRange)
async def household_expiring(
    access: HouseholdHistoryReader, session: Session, until: Until = None
) -> HouseholdExpiringOut:
    """The household's points that will expire (清零) by `until`, soonest first, for the phone page."""
    return await service.household_expiring(session, access.household, until)
