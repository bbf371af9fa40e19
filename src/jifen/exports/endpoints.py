"""Exports with no JSON list behind them: the ledger of a period. (The other tables answer in xlsx on their
own GET with `?format=xlsx` or an `Accept` of the xlsx type.)"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from jifen.auth.dependencies import VillageAccess, village_role
from jifen.exports.streams import ledger_xlsx
from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.errors import Forbidden, NotAuthenticated, NotFound, error_responses
from jifen.kit.xlsx import XLSX_MEDIA_TYPE
from jifen.models import Role
from jifen.rankings.service import InvalidPeriod, parse_period

router = APIRouter(tags=["exports"], route_class=AutoCommitRoute)

LedgerReader = Annotated[VillageAccess, Depends(village_role(Role.village_admin))]


@router.get(
    "/villages/{village_id}/exports/ledger",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
            "description": "the spreadsheet",
        },
        **error_responses(NotAuthenticated, Forbidden, NotFound, InvalidPeriod),
    },
)
async def export_ledger(
    access: LedgerReader,
    session: Session,
    period: Annotated[
        str, Query(max_length=20, description="2026-11 (a month) or 2026 (a year) of village time")
    ],
) -> StreamingResponse:
    """积分流水 as a spreadsheet: every posting of the period (both sides of each transaction) with its
    rule, actor, memo and reason, oldest first, and closing rows that total the points in and out. The
    village admin and the town admin."""
    window = parse_period(period)
    assert window.start is not None
    assert window.end is not None
    return await ledger_xlsx(
        session, access.village.id, access.village.name, period, window.start, window.end
    )
