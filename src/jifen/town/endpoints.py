"""The town's view: every village side by side for one local month (or year)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.auth.dependencies import TownAdmin
from jifen.kit.db import AutoCommitRoute, Session, driver
from jifen.kit.errors import Forbidden, NotAuthenticated, error_responses
from jifen.kit.timeutil import to_local, utcnow
from jifen.kit.xlsx import XLSX_RESPONSE, XlsxWanted
from jifen.rankings.service import InvalidPeriod, parse_period
from jifen.town import sheets as reports

router = APIRouter(tags=["town"], route_class=AutoCommitRoute)


class VillageFigures(BaseModel):
    village_id: uuid.UUID
    code: str
    name: str
    households: int
    taking_part: int  # households with at least one award or deduction in the period
    issued: int  # points awarded (and returned by rectification)
    deducted: int
    redeemed: int  # spent at the store, net of cancelled sales
    outstanding: int  # all households' posted points now


class TownOverview(BaseModel):
    period: str
    villages: list[VillageFigures]


_OVERVIEW = """
WITH moves AS (
    SELECT p.village_id, p.account_id, t.kind, p.amount
      FROM postings p
      JOIN ledger_transactions t ON t.village_id = p.village_id AND t.id = p.transaction_id
      JOIN accounts a ON a.village_id = p.village_id AND a.id = p.account_id AND a.kind = 'household'
     WHERE t.created_at >= $1 AND t.created_at < $2
), figures AS (
    SELECT village_id,
           count(DISTINCT account_id) FILTER (WHERE kind IN ('award', 'deduction')) AS taking_part,
           coalesce(sum(amount) FILTER (WHERE kind IN ('award', 'rectification') AND amount > 0), 0)
             AS issued,
           coalesce(-sum(amount) FILTER (WHERE kind = 'deduction'), 0) AS deducted,
           coalesce(-sum(amount) FILTER (WHERE kind IN ('redemption', 'redemption_cancel')), 0) AS redeemed
      FROM moves GROUP BY village_id
)
SELECT v.id AS village_id, v.code, v.name,
       (SELECT count(*) FROM households h WHERE h.village_id = v.id) AS households,
       coalesce(f.taking_part, 0) AS taking_part, coalesce(f.issued, 0) AS issued,
       coalesce(f.deducted, 0) AS deducted, coalesce(f.redeemed, 0) AS redeemed,
       (SELECT coalesce(sum(a.posted), 0) FROM accounts a WHERE a.village_id = v.id AND a.kind = 'household')
         AS outstanding
  FROM villages v LEFT JOIN figures f ON f.village_id = v.id
 ORDER BY v.code
"""


async def town_figures(session: AsyncSession, period: str | None) -> TownOverview:
    """The villages side by side for a local month or year (this month when None)."""
    text = period or to_local(utcnow()).strftime("%Y-%m")
    window = parse_period(text)
    rows = await (await driver(session)).fetch(_OVERVIEW, window.start, window.end)
    return TownOverview(period=text, villages=[VillageFigures(**dict(r)) for r in rows])


@router.get(
    "/town/overview",
    response_model=TownOverview,
    responses=error_responses(NotAuthenticated, Forbidden, InvalidPeriod) | XLSX_RESPONSE,
)
async def town_overview(
    request: Request,
    actor: TownAdmin,
    session: Session,
    xlsx: XlsxWanted,
    period: Annotated[
        str | None, Query(max_length=20, description="2026-11 or 2026; default this month")
    ] = None,
) -> TownOverview | Response:
    """All villages side by side: households taking part, points issued, deducted and redeemed in the
    period (this local month by default), and points outstanding now."""
    overview = await town_figures(session, period)
    if xlsx:
        return await reports.town_xlsx(request.app.state.settings.town_name, overview)
    return overview
