"""Inspection sheets (评比): open a grid's sheet for a day, read it, submit its scores once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from jifen.auth.dependencies import idempotency_key
from jifen.awards import inspections, service
from jifen.awards.answers import AWARD_ERRORS
from jifen.awards.auth import InspectionReader, InspectionScorer, VillageScorer
from jifen.awards.schemas import InspectionCreate, InspectionResult, InspectionScores, SheetOut
from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.error_sets import READ_ERRORS, read_route
from jifen.kit.errors import create_route
from jifen.kit.idempotency import CallerKey, idempotent
from jifen.kit.limits import batch_limit, body_limit

router = APIRouter(tags=["inspections"], route_class=AutoCommitRoute)


@create_route(
    router, "/villages/{village_id}/inspections", SheetOut, *READ_ERRORS, inspections.DuplicateInspection
)
async def open_inspection(body: InspectionCreate, access: VillageScorer, session: Session) -> SheetOut:
    """Open a grid's inspection sheet for a day: rules to score, judges, every household of the grid."""
    return await inspections.open_inspection(session, access.actor, access.village.id, body)


@read_route(router, "/inspections/{inspection_id}", SheetOut)
async def get_inspection(access: InspectionReader, session: Session) -> SheetOut:
    """An inspection sheet and where it stands."""
    return await inspections.read_sheet(session, access.award_id)


@create_route(
    router,
    "/inspections/{inspection_id}/submit",
    InspectionResult,
    *AWARD_ERRORS,
    inspections.InspectionSubmitted,
    inspections.InvalidScore,
    service.CapExceeded,
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
    """Submit the sheet's scores once: they post (or enter review) as one batch, all or nothing. Scores
    made offline carry `observed_at`, as on `POST /awards`."""
    max_age = request.app.state.settings.observed_max_age
    return await inspections.submit_scores(
        session, access.actor, access.award_id, body.scores, max_age=max_age
    )
