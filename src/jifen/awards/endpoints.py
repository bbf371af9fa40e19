from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, Field

from jifen.auth.dependencies import idempotency_key
from jifen.awards import inspections, notice, repository, self_reports, service
from jifen.awards.auth import (
    AwardObjector,
    AwardReader,
    AwardRectifier,
    AwardReviewer,
    AwardSubmitter,
    BatchSubmitter,
    InspectionReader,
    InspectionScorer,
    MixedVillages,
    SelfReporter,
    VillageScorer,
)
from jifen.awards.schemas import (
    MAX_BATCH,
    AwardBatchCreate,
    AwardBatchOut,
    AwardCreate,
    AwardItem,
    AwardOut,
    SelfReportCreate,
)
from jifen.households.auth import AwardLister, HouseholdHistoryReader
from jifen.households.scope import OutsideGrid
from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.errors import Forbidden, NotAuthenticated, NotFound, error_responses
from jifen.kit.idempotency import (
    CallerKey,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
    request_fingerprint,
    run_idempotent,
)
from jifen.kit.limits import batch_limit, body_limit
from jifen.kit.pagination import Cursor, InvalidCursor, Limit, Page
from jifen.kit.schemas import Grid, InputModel, Name, Reason
from jifen.ledger.service import AlreadyCompensated, InsufficientPoints
from jifen.models import AwardStatus
from jifen.photos.service import UnknownPhoto

router = APIRouter(prefix="/awards", tags=["awards"], route_class=AutoCommitRoute)

AWARD_ERRORS = (
    NotAuthenticated,
    Forbidden,
    NotFound,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
    InsufficientPoints,
    service.ConflictOfInterest,
    service.CapExceeded,
    service.RuleOutOfRange,
    OutsideGrid,
    service.RuleRetired,
    service.InvalidMember,
    service.EvidenceRequired,
    UnknownPhoto,
)


async def read_award(session: Session, award_id: uuid.UUID) -> AwardOut:
    """An award as it stands now, with its evidence photos."""
    row = await repository.lock_award_for_read(session, award_id)
    [result] = await service.attach_photos(session, row["village_id"], [service.result_of(row)])
    return service.award_out(result)


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
    key: Annotated[CallerKey, Depends(idempotency_key)],
) -> Response:
    """Award or deduct points under a rule: posted at once when the rule needs no review."""

    async def produce() -> AwardOut:
        [result] = await service.submit(session, submission.actor, submission, [body])
        return service.award_out(result)

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
@body_limit(batch_limit)
async def create_award_batch(
    request: Request,
    body: AwardBatchCreate,
    submission: BatchSubmitter,
    session: Session,
    key: Annotated[CallerKey, Depends(idempotency_key)],
) -> Response:
    """Up to 10,000 awards, all or nothing: one failing item answers naming its index; nothing posts."""

    async def produce() -> AwardBatchOut:
        results = await service.submit(session, submission.actor, submission, body.items)
        return AwardBatchOut(items=[service.award_out(r) for r in results])

    return await run_idempotent(
        session,
        village_id=submission.village_id,
        key=key,
        fingerprint=request_fingerprint(request, body),
        status_code=status.HTTP_201_CREATED,
        produce=produce,
    )


class DecisionIn(InputModel):
    reason: Reason | None = None


class RejectIn(InputModel):
    reason: Reason


REVIEW_ERRORS = (
    NotAuthenticated,
    Forbidden,
    NotFound,
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


@router.get(
    "/{award_id}", response_model=AwardOut, responses=error_responses(NotAuthenticated, Forbidden, NotFound)
)
async def get_award(access: AwardReader, session: Session) -> AwardOut:
    """One award and where it stands, with its evidence photos."""
    return await read_award(session, access.award_id)


village_router = APIRouter(tags=["awards"], route_class=AutoCommitRoute)


@village_router.get(
    "/villages/{village_id}/awards",
    response_model=Page[AwardOut],
    responses=error_responses(NotAuthenticated, Forbidden, NotFound, InvalidCursor),
)
async def list_awards(
    access: AwardLister,
    session: Session,
    status: AwardStatus | None = None,
    self_report: Annotated[bool | None, Query(description="true: only self-reports (自主申报)")] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[AwardOut]:
    """The village's awards, newest first; `?status=pending_review` is the review queue,
    `&self_report=true` the villagers' own reports in it. A cadre assigned to grids sees their grids'."""
    return await service.award_page(
        session,
        access.village.id,
        status,
        cursor,
        limit,
        self_report=self_report,
        household_id=None,
        grids=access.grids,
    )


@village_router.get(
    "/households/{household_id}/awards",
    response_model=Page[AwardOut],
    responses=error_responses(NotAuthenticated, Forbidden, NotFound, InvalidCursor),
)
async def list_household_awards(
    access: HouseholdHistoryReader,
    session: Session,
    status: AwardStatus | None = None,
    self_report: Annotated[bool | None, Query(description="true: only self-reports (自主申报)")] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[AwardOut]:
    """A household's awards and self-reports, newest first, and where each stands (its villagers see their
    own: pending review, on public notice, posted or rejected)."""
    household = access.household
    return await service.award_page(
        session,
        household.village_id,
        status,
        cursor,
        limit,
        self_report=self_report,
        household_id=household.id,
    )


@village_router.post(
    "/households/{household_id}/self-reports",
    status_code=status.HTTP_201_CREATED,
    response_model=AwardOut,
    responses=error_responses(*AWARD_ERRORS, service.NotSelfReportable),
)
async def create_self_report(
    request: Request,
    body: SelfReportCreate,
    access: SelfReporter,
    session: Session,
    key: Annotated[CallerKey, Depends(idempotency_key)],
) -> Response:
    """自主申报: a villager reports a good deed of their own household, with a note and photos; it waits for
    a reviewer (`pending_review`), then goes through public notice like any award."""

    async def produce() -> AwardOut:
        result = await self_reports.file_self_report(session, access.actor, access.household, body)
        return service.award_out(result)

    return await run_idempotent(
        session,
        village_id=access.household.village_id,
        key=key,
        fingerprint=request_fingerprint(request, body),
        status_code=status.HTTP_201_CREATED,
        produce=produce,
    )


class RectifyIn(InputModel):
    note: Reason | None = None


class RectifiedOut(BaseModel):
    award_id: uuid.UUID
    transaction_id: uuid.UUID


@router.post(
    "/{award_id}/rectify",
    status_code=status.HTTP_201_CREATED,
    response_model=RectifiedOut,
    responses=error_responses(
        NotAuthenticated,
        Forbidden,
        NotFound,
        IdempotencyKeyRequired,
        IdempotencyKeyReused,
        service.NotRectifiable,
        service.AlreadyRectified,
        AlreadyCompensated,
        service.ConflictOfInterest,
    ),
)
async def rectify_award(
    request: Request,
    key: Annotated[CallerKey, Depends(idempotency_key)],
    access: AwardRectifier,
    session: Session,
    body: RectifyIn | None = None,
) -> Response:
    """整改: the problem behind a posted deduction is fixed; the rule's share of the points comes back, once,
    as a new transaction linked to the award — not after the deduction was reversed or revised
    (409 `already_compensated`)."""

    async def produce() -> RectifiedOut:
        transaction_id = await service.rectify(
            session, access.actor, access.award_id, note=body.note if body else None
        )
        return RectifiedOut(award_id=access.award_id, transaction_id=transaction_id)

    return await run_idempotent(
        session,
        village_id=access.village_id,
        key=key,
        fingerprint=request_fingerprint(request, body),
        status_code=status.HTTP_201_CREATED,
        produce=produce,
    )


class ObjectionIn(InputModel):
    reason: Reason


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


@router.post(
    "/{award_id}/objections",
    status_code=status.HTTP_201_CREATED,
    response_model=ObjectionOut,
    responses=error_responses(NotAuthenticated, Forbidden, NotFound, notice.NoticeClosed, AlreadyCompensated),
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
        NotAuthenticated,
        Forbidden,
        NotFound,
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
    pending = await repository.pending_resolution(session, row["village_id"], access.award_id)
    return ResolutionOut(
        **award.model_dump(),
        pending_resolution=None if pending is None else PendingResolution(**pending),
    )


class InspectionCreate(InputModel):
    grid: Grid
    inspected_on: date
    rule_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=50)]
    judges: Annotated[list[Name], Field(min_length=1, max_length=9, description="the judges' names")]


class SheetRule(BaseModel):
    id: uuid.UUID
    code: str
    name: str
    category: str
    points: int
    review: str


class SheetHousehold(BaseModel):
    id: uuid.UUID
    code: str
    head_name: str


class SheetOut(BaseModel):
    id: uuid.UUID
    village_id: uuid.UUID
    grid: str
    inspected_on: date
    judges: list[str]
    status: str
    rules: list[SheetRule]
    households: list[SheetHousehold]
    awards: int | None
    submitted_at: datetime | None


class InspectionScores(InputModel):
    scores: Annotated[list[AwardItem], Field(max_length=MAX_BATCH)]


class InspectionResult(BaseModel):
    inspection: SheetOut
    awards: list[AwardOut]


def sheet_out(sheet: inspections.Sheet) -> SheetOut:
    return SheetOut.model_validate(sheet, from_attributes=True)


inspection_router = APIRouter(tags=["inspections"], route_class=AutoCommitRoute)


@inspection_router.post(
    "/villages/{village_id}/inspections",
    status_code=status.HTTP_201_CREATED,
    response_model=SheetOut,
    responses=error_responses(NotAuthenticated, Forbidden, NotFound, inspections.DuplicateInspection),
)
async def open_inspection(body: InspectionCreate, access: VillageScorer, session: Session) -> SheetOut:
    """Open a grid's inspection sheet for a day: rules to score, judges, every household of the grid."""
    sheet = await inspections.open_sheet(
        session,
        access.actor,
        access.village.id,
        grid=body.grid,
        inspected_on=body.inspected_on,
        rule_ids=body.rule_ids,
        judges=body.judges,
    )
    return sheet_out(sheet)


@inspection_router.get(
    "/inspections/{inspection_id}",
    response_model=SheetOut,
    responses=error_responses(NotAuthenticated, Forbidden, NotFound),
)
async def get_inspection(access: InspectionReader, session: Session) -> SheetOut:
    """An inspection sheet and where it stands."""
    sheet = await inspections.get_sheet(session, access.award_id)
    assert sheet is not None
    return sheet_out(sheet)


@inspection_router.post(
    "/inspections/{inspection_id}/submit",
    status_code=status.HTTP_201_CREATED,
    response_model=InspectionResult,
    responses=error_responses(
        *AWARD_ERRORS, inspections.InspectionSubmitted, inspections.InvalidScore, service.CapExceeded
    ),
)
@body_limit(batch_limit)
async def submit_inspection(
    request: Request,
    body: InspectionScores,
    key: Annotated[CallerKey, Depends(idempotency_key)],
    access: InspectionScorer,
    session: Session,
) -> Response:
    """Submit the sheet's scores once: they post (or enter review) as one batch, all or nothing."""

    async def produce() -> InspectionResult:
        sheet, results = await inspections.submit_sheet(session, access.actor, access.award_id, body.scores)
        return InspectionResult(inspection=sheet_out(sheet), awards=[service.award_out(r) for r in results])

    return await run_idempotent(
        session,
        village_id=access.village_id,
        key=key,
        fingerprint=request_fingerprint(request, body),
        status_code=status.HTTP_201_CREATED,
        produce=produce,
    )
