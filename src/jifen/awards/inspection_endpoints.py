"""Inspection sheets (评比): open a grid's sheet for a day, read it, submit its scores once."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, Field

from jifen.auth.dependencies import idempotency_key
from jifen.awards import inspections, service
from jifen.awards.answers import AWARD_ERRORS
from jifen.awards.auth import InspectionReader, InspectionScorer, VillageScorer
from jifen.awards.schemas import MAX_BATCH, AwardItem, AwardOut
from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.errors import Forbidden, NotAuthenticated, NotFound, error_responses
from jifen.kit.idempotency import CallerKey, idempotent
from jifen.kit.limits import batch_limit, body_limit
from jifen.kit.schemas import Grid, InputModel, Name


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


router = APIRouter(tags=["inspections"], route_class=AutoCommitRoute)


@router.post(
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


@router.get(
    "/inspections/{inspection_id}",
    response_model=SheetOut,
    responses=error_responses(NotAuthenticated, Forbidden, NotFound),
)
async def get_inspection(access: InspectionReader, session: Session) -> SheetOut:
    """An inspection sheet and where it stands."""
    sheet = await inspections.get_sheet(session, access.award_id)
    assert sheet is not None
    return sheet_out(sheet)


@router.post(
    "/inspections/{inspection_id}/submit",
    status_code=status.HTTP_201_CREATED,
    response_model=InspectionResult,
    responses=error_responses(
        *AWARD_ERRORS, inspections.InspectionSubmitted, inspections.InvalidScore, service.CapExceeded
    ),
)
@body_limit(batch_limit)
@idempotent(lambda access: access.village_id)
async def submit_inspection(
    request: Request,
    body: InspectionScores,
    key: Annotated[CallerKey, Depends(idempotency_key)],
    access: InspectionScorer,
    session: Session,
) -> InspectionResult:
    """Submit the sheet's scores once: they post (or enter review) as one batch, all or nothing."""
    sheet, results = await inspections.submit_sheet(session, access.actor, access.award_id, body.scores)
    return InspectionResult(inspection=sheet_out(sheet), awards=[service.award_out(r) for r in results])
