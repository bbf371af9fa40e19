from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from jifen.awards import service
from jifen.awards.auth import AwardSubmitter, BatchSubmitter, MixedVillages
from jifen.awards.schemas import AwardBatchCreate, AwardBatchOut, AwardCreate, AwardOut
from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.errors import Forbidden, NotAuthenticated, NotFound, error_responses
from jifen.kit.idempotency import (
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
    idempotency_key,
    request_fingerprint,
    run_idempotent,
)
from jifen.ledger.service import InsufficientPoints

router = APIRouter(prefix="/awards", tags=["awards"], route_class=AutoCommitRoute)

AWARD_ERRORS = (
    NotAuthenticated,
    Forbidden,
    NotFound,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
    InsufficientPoints,
    service.ConflictOfInterest,
    service.OutsideGrid,
    service.RuleRetired,
    service.InvalidMember,
)


def award_out(result: service.AwardResult) -> AwardOut:
    # built from values the service just wrote: no need to validate them again (10,000 in a batch)
    return AwardOut.model_construct(
        id=result.id,
        status=result.status,
        points=result.points,
        transaction_id=result.transaction_id,
        household_id=result.household_id,
        rule_id=result.rule_id,
        rule_version=result.rule_version,
        quantity=result.quantity,
        member_id=result.member_id,
        note=result.note,
        created_at=result.created_at,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=AwardOut,
    responses=error_responses(*AWARD_ERRORS),
)
async def create_award(
    request: Request,
    body: AwardCreate,
    submission: AwardSubmitter,
    session: Session,
    key: Annotated[str, Depends(idempotency_key)],
) -> Response:
    """Award or deduct points under a rule: posted at once when the rule needs no review."""

    async def produce() -> AwardOut:
        [result] = await service.submit(session, submission.actor, submission, [body])
        return award_out(result)

    return await run_idempotent(
        session,
        village_id=submission.village_id,
        key=key,
        fingerprint=request_fingerprint(request, body),
        status_code=status.HTTP_201_CREATED,
        produce=produce,
    )


@router.post(
    "/batch",
    status_code=status.HTTP_201_CREATED,
    response_model=AwardBatchOut,
    responses=error_responses(*AWARD_ERRORS, MixedVillages),
)
async def create_award_batch(
    request: Request,
    body: AwardBatchCreate,
    submission: BatchSubmitter,
    session: Session,
    key: Annotated[str, Depends(idempotency_key)],
) -> Response:
    """Up to 10,000 awards, all or nothing: one failing item answers naming its index; nothing posts."""

    async def produce() -> AwardBatchOut:
        results = await service.submit(session, submission.actor, submission, body.items)
        return AwardBatchOut(items=[award_out(r) for r in results])

    return await run_idempotent(
        session,
        village_id=submission.village_id,
        key=key,
        fingerprint=request_fingerprint(request, body),
        status_code=status.HTTP_201_CREATED,
        produce=produce,
    )
