from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from jifen.auth.households import HouseholdHistoryReader
from jifen.expiry import repository, service
from jifen.expiry.auth import PolicyReader, PolicySetter, PreviewReader
from jifen.expiry.policy import ExpiryMode, Policy, last_valid_day, local_date, next_cutoff
from jifen.expiry.schemas import (
    ExpiringOut,
    ExpiryPolicyIn,
    ExpiryPolicyOut,
    HouseholdExpiringOut,
)
from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.errors import Forbidden, NotAuthenticated, NotFound, error_responses
from jifen.kit.pagination import Cursor, InvalidCursor, Limit, Page, decode_cursor, encode_cursor
from jifen.kit.timeutil import utcnow

router = APIRouter(tags=["expiry"], route_class=AutoCommitRoute)

READ_ERRORS = (NotAuthenticated, Forbidden, NotFound)

Until = Annotated[
    date | None,
    Query(description="the last local day to look at (default: a year from today; at most three years)"),
]


def _policy_out(village_id: uuid.UUID, row: repository.PolicyRow | None) -> ExpiryPolicyOut:
    policy = row.policy() if row else Policy(mode=ExpiryMode.none)
    return ExpiryPolicyOut(
        id=row.id if row else None,
        village_id=village_id,
        mode=policy.mode,
        clearing_date=(
            f"{policy.clearing_month:02d}-{policy.clearing_day:02d}" if policy.clearing_month else None
        ),
        carry_over_cap=policy.carry_over_cap,
        months=policy.months,
        summary=service.describe(policy),
        effective_at=policy.effective_at,
        next_cutoff=next_cutoff(policy, utcnow()),
        reason=row.reason if row else None,
        actor_id=row.actor_id if row else None,
        created_at=row.created_at if row else None,
    )


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
    return _policy_out(access.village.id, row)


@router.get(
    "/villages/{village_id}/expiry-policy",
    response_model=ExpiryPolicyOut,
    responses=error_responses(*READ_ERRORS),
)
async def get_expiry_policy(access: PolicyReader, session: Session) -> ExpiryPolicyOut:
    """The village's current expiry policy and its next clearing."""
    return _policy_out(access.village.id, await service.current_policy(session, access.village.id))


@router.get(
    "/villages/{village_id}/expiry-policy/history",
    response_model=Page[ExpiryPolicyOut],
    responses=error_responses(*READ_ERRORS, InvalidCursor),
)
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
    items = [_policy_out(access.village.id, row) for row in rows[:limit]]
    if before is None and items:  # only the current policy has a next clearing
        items = [items[0], *(i.model_copy(update={"next_cutoff": None}) for i in items[1:])]
    else:
        items = [i.model_copy(update={"next_cutoff": None}) for i in items]
    return Page(items=items, next_cursor=encode_cursor(rows[limit - 1].seq) if len(rows) > limit else None)


@router.get(
    "/villages/{village_id}/expiry/preview",
    response_model=Page[ExpiringOut],
    responses=error_responses(*READ_ERRORS, InvalidCursor, service.InvalidPreviewRange),
)
async def preview_expiry(
    access: PreviewReader, session: Session, until: Until = None, cursor: Cursor = None, limit: Limit = 100
) -> Page[ExpiringOut]:
    """Who loses how many points, and when, up to the end of local day `until` — for the advance notice
    (清零公告). Assumes nothing else happens: no new points, no spending, held points spent."""
    today = local_date(utcnow())
    found = await service.expiring(session, access.village.id, until=until or today + timedelta(days=365))
    key = decode_cursor(cursor, 2)
    if key is not None:
        after = (key[0], key[1])
        found = [e for e in found if (e.expires_at.isoformat(), str(e.household_id)) > after]
    page = found[:limit]
    names = await repository.household_names(session, access.village.id, [e.household_id for e in page])
    items = [
        ExpiringOut(
            household_id=e.household_id,
            code=names[e.household_id][0],
            head_name=names[e.household_id][1],
            amount=e.amount,
            expires_at=e.expires_at,
            expires_on=last_valid_day(e.expires_at),
        )
        for e in page
    ]
    last = page[-1] if page else None
    more = len(found) > limit and last is not None
    return Page(
        items=items,
        next_cursor=encode_cursor(last.expires_at.isoformat(), last.household_id) if more and last else None,
    )


@router.get(
    "/households/{household_id}/expiring",
    response_model=HouseholdExpiringOut,
    responses=error_responses(*READ_ERRORS, service.InvalidPreviewRange),
)
async def household_expiring(
    access: HouseholdHistoryReader, session: Session, until: Until = None
) -> HouseholdExpiringOut:
    """The household's points that will expire (清零) by `until`, soonest first, for the phone page."""
    return await service.household_expiring(session, access.household, until)
