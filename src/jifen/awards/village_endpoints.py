"""A village's and a household's awards, and a villager's self-report (自主申报)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from jifen.auth.dependencies import idempotency_key
from jifen.auth.households import AwardLister, HouseholdHistoryReader
from jifen.awards import self_reports, service
from jifen.awards.answers import AWARD_ERRORS
from jifen.awards.auth import SelfReporter
from jifen.awards.schemas import AwardOut, SelfReportCreate
from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.errors import create_route
from jifen.kit.idempotency import CallerKey, idempotent
from jifen.kit.pagination import Cursor, Limit, Page, list_route
from jifen.models import AwardStatus

router = APIRouter(tags=["awards"], route_class=AutoCommitRoute)


@dataclass(frozen=True)
class AwardFilter:
    status: AwardStatus | None
    self_report: bool | None
    cursor: str | None
    limit: int


def award_filter(
    status: AwardStatus | None = None,
    self_report: Annotated[bool | None, Query(description="true: only self-reports (自主申报)")] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> AwardFilter:
    """The query string of an award list (a village's, a household's): one definition for both."""
    return AwardFilter(status, self_report, cursor, limit)


AwardQuery = Annotated[AwardFilter, Depends(award_filter)]


@list_route(router, "/villages/{village_id}/awards", Page[AwardOut])
async def list_awards(access: AwardLister, session: Session, query: AwardQuery) -> Page[AwardOut]:
    """The village's awards, newest first; `?status=pending_review` is the review queue,
    `&self_report=true` the villagers' own reports in it. A cadre assigned to grids sees their grids'."""
    return await service.award_page(
        session,
        access.village.id,
        query.status,
        query.cursor,
        query.limit,
        self_report=query.self_report,
        household_id=None,
        grids=access.grids,
    )


@list_route(router, "/households/{household_id}/awards", Page[AwardOut])
async def list_household_awards(
    access: HouseholdHistoryReader, session: Session, query: AwardQuery
) -> Page[AwardOut]:
    """A household's awards and self-reports, newest first, and where each stands (its villagers see their
    own: pending review, on public notice, posted or rejected)."""
    household = access.household
    return await service.award_page(
        session,
        household.village_id,
        query.status,
        query.cursor,
        query.limit,
        self_report=query.self_report,
        household_id=household.id,
    )


@create_route(
    router, "/households/{household_id}/self-reports", AwardOut, *AWARD_ERRORS, service.NotSelfReportable
)
@idempotent(lambda access: access.household.village_id)
async def create_self_report(
    request: Request,
    body: SelfReportCreate,
    access: SelfReporter,
    session: Session,
    key: Annotated[CallerKey, Depends(idempotency_key)],
) -> AwardOut:
    """自主申报: a villager reports a good deed of their own household, with a note and photos; it waits for
    a reviewer (`pending_review`), then goes through public notice like any award."""
    result = await self_reports.file_self_report(session, access.actor, access.household, body)
    return result
