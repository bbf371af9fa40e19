"""/awards: submit, review, rectify, object to and resolve one award."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from jifen.auth.dependencies import idempotency_key
from jifen.awards import notice, service
from jifen.awards.answers import AWARD_ERRORS, read_award
from jifen.awards.auth import (
    AwardObjector,
    AwardReader,
    AwardRectifier,
    AwardReviewer,
    AwardSubmitter,
    BatchSubmitter,
    MixedVillages,
    SubmitterKey,
)
from jifen.awards.repository import objections
from jifen.awards.schemas import (
    AwardBatchCreate,
    AwardBatchOut,
    AwardCreate,
    AwardOut,
    DecisionIn,
    ObjectionIn,
    RejectIn,
)
from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.error_sets import MONEY_ERRORS, READ_ERRORS
from jifen.kit.errors import create_route, error_responses
from jifen.kit.idempotency import CallerKey, idempotent
from jifen.kit.limits import batch_limit, body_limit
from jifen.kit.schemas import InputModel, Reason
from jifen.ledger.service import AlreadyCompensated, InsufficientPoints

router = APIRouter(prefix="/awards", tags=["awards"], route_class=AutoCommitRoute)


@create_route(router, "", AwardOut, *AWARD_ERRORS)
@idempotent(lambda access: access.village_id(), at_once=service.submit_in_one_call)
async def create_award(
    request: Request, body: AwardCreate, access: AwardSubmitter, session: Session, key: SubmitterKey
) -> AwardOut:
    """Award or deduct points under a rule: posted at once when the rule needs no review. An award scored
    offline carries `observed_at` (when the deed was seen): its cap and period follow that moment, and it
    is refused when older than `JIFEN_OBSERVED_MAX_AGE_DAYS` (409 `observed_too_long_ago`) or in the future
    (400 `observed_in_future`); the audit event records both the observed and the received time."""
    max_age = request.app.state.settings.observed_max_age
    [result] = await service.submit(session, access.actor, access.submission, [body], max_age=max_age)
    return result


@create_route(router, "/batch", AwardBatchOut, *AWARD_ERRORS, MixedVillages)
@body_limit(batch_limit)
@idempotent(lambda access: access.village_id(), at_once=service.submit_in_one_call)
async def create_award_batch(
    request: Request, body: AwardBatchCreate, access: BatchSubmitter, session: Session, key: SubmitterKey
) -> AwardBatchOut:
    """Up to 10,000 awards, all or nothing: one failing item answers naming its index; nothing posts."""
    max_age = request.app.state.settings.observed_max_age
    results = await service.submit(session, access.actor, access.submission, body.items, max_age=max_age)
    return AwardBatchOut(items=results)


REVIEW_ERRORS = (
    *READ_ERRORS,
    service.AwardNotPending,
    service.OwnSubmission,
    service.AlreadyApproved,
    service.ConflictOfInterest,
    InsufficientPoints,
)


@router.post("/{award_id}/approve", response_model=AwardOut, responses=error_responses(*REVIEW_ERRORS))
async def approve_award(access: AwardReviewer, session: Session, body: DecisionIn | None = None) -> AwardOut:
    """Approve an award waiting for review; the last approval it needs (two different people for a
    `double` rule, neither the submitter) posts its points."""
    await service.decide(
        session, access.actor, access.award_id, approve=True, reason=body.reason if body else None
    )
    return await read_award(session, access.award_id)


@router.post("/{award_id}/reject", response_model=AwardOut, responses=error_responses(*REVIEW_ERRORS))
async def reject_award(body: RejectIn, access: AwardReviewer, session: Session) -> AwardOut:
    """Reject an award waiting for review, with a reason; nothing is posted."""
    await service.decide(session, access.actor, access.award_id, approve=False, reason=body.reason)
    return await read_award(session, access.award_id)


@router.get("/{award_id}", response_model=AwardOut, responses=error_responses(*READ_ERRORS))
async def get_award(access: AwardReader, session: Session) -> AwardOut:
    """One award and where it stands, with its evidence photos."""
    return await read_award(session, access.award_id)


class RectifyIn(InputModel):
    note: Reason | None = None


class RectifiedOut(BaseModel):
    award_id: uuid.UUID
    transaction_id: uuid.UUID


@create_route(
    router,
    "/{award_id}/rectify",
    RectifiedOut,
    *MONEY_ERRORS,
    service.NotRectifiable,
    service.AlreadyRectified,
    AlreadyCompensated,
    service.ConflictOfInterest,
)
@idempotent(lambda access: access.village_id)
async def rectify_award(
    request: Request,
    key: Annotated[CallerKey, Depends(idempotency_key)],
    access: AwardRectifier,
    session: Session,
    body: RectifyIn | None = None,
) -> RectifiedOut:
    """整改: the problem behind a posted deduction is fixed; the rule's share of the points comes back, once,
    as a new transaction linked to the award — not after the deduction was reversed or revised
    (409 `already_compensated`)."""
    transaction_id = await service.rectify(
        session, access.actor, access.award_id, note=body.note if body else None
    )
    return RectifiedOut(award_id=access.award_id, transaction_id=transaction_id)


class ObjectionOut(BaseModel):
    id: uuid.UUID
    award_id: uuid.UUID
    reason: str
    status: str
    created_at: datetime


class ResolutionIn(InputModel):
    outcome: Literal["upheld", "revised", "revoked"]
    reason: Reason
    points: int | None = Field(
        default=None,
        ge=-10_000_000,
        le=10_000_000,
        description="for `revised`: the lowered points, same sign as the award and 0 < |points| ≤ |award's|",
    )


class PendingResolution(BaseModel):
    outcome: Literal["upheld", "revised", "revoked"]
    points: int | None
    proposed_by: uuid.UUID
    proposed_at: datetime


class ResolutionOut(AwardOut):
    # under a `double` rule: the first resolver's proposal, waiting for a second resolver who agrees
    pending_resolution: PendingResolution | None = None


@create_route(
    router, "/{award_id}/objections", ObjectionOut, *READ_ERRORS, notice.NoticeClosed, AlreadyCompensated
)
async def object_to_award(body: ObjectionIn, access: AwardObjector, session: Session) -> ObjectionOut:
    """异议: anyone of the village may object, with a reason, to an award on public notice before it ends, or
    to a posted award within the village's notice days after its posting (7 days without a notice period)."""
    objection = await notice.object_to(session, access.actor, access.award_id, reason=body.reason)
    return ObjectionOut.model_validate(objection, from_attributes=True)


@router.post(
    "/{award_id}/resolve",
    response_model=ResolutionOut,
    responses=error_responses(
        *READ_ERRORS,
        notice.NoOpenObjection,
        notice.InvalidRevision,
        notice.SeparationOfDuties,
        notice.SecondResolverRequired,
        service.ConflictOfInterest,
        AlreadyCompensated,
        InsufficientPoints,
    ),
)
async def resolve_objections(body: ResolutionIn, access: AwardReviewer, session: Session) -> ResolutionOut:
    """Settle an award's objections, by a reviewer who neither submitted, approved nor objected to it
    (403 `separation_of_duties`):

    - `upheld`: the award stands (on public notice it posts).
    - `revised`: the award is **lowered** to `points` — same sign, 0 < |points| ≤ |award's points|, else 400
      `invalid_revision`. On public notice it posts the lowered points; posted, the difference goes back
      as a compensating transaction (409 `already_compensated` when it was reversed or rectified first).
    - `revoked`: on public notice nothing posts (a deduction's hold is released); posted, the whole award
      goes back as a compensating transaction.

    Under a `double` rule the first resolution is only proposed (`pending_resolution`, the award unchanged);
    a second, different reviewer sending the same outcome and points completes it (sending another makes
    theirs the proposal; the proposer again: 409 `second_resolver_required`)."""
    row = await notice.resolve(
        session, access.actor, access.award_id, outcome=body.outcome, reason=body.reason, points=body.points
    )
    award = await read_award(session, access.award_id)
    pending = await objections.pending_resolution(session, row.village_id, access.award_id)
    return ResolutionOut(
        **award.model_dump(),
        pending_resolution=None
        if pending is None
        else PendingResolution.model_validate(pending, from_attributes=True),
    )
