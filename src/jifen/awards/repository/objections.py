"""Objections (异议) to an award: raised, proposed (a `double` rule's first half), settled."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.kit.sql import Sql


async def transaction_created_at(
    session: AsyncSession, village_id: uuid.UUID, transaction_id: uuid.UUID
) -> datetime | None:
    return await Sql(session).value(
        datetime,
        "SELECT created_at FROM ledger_transactions WHERE village_id = $1 AND id = $2",
        village_id,
        transaction_id,
    )


@dataclass(frozen=True, slots=True)
class ObjectionRow:
    id: uuid.UUID
    award_id: uuid.UUID
    reason: str
    status: str
    created_at: datetime


async def insert_objection(
    session: AsyncSession, village_id: uuid.UUID, award_id: uuid.UUID, raised_by: uuid.UUID, reason: str
) -> ObjectionRow:
    row = await Sql(session).row(
        ObjectionRow,
        "INSERT INTO objections (village_id, id, award_id, raised_by, reason) VALUES ($1, $2, $3, $4, $5)"
        " RETURNING id, award_id, reason, status, created_at",
        village_id,
        uuid.uuid4(),
        award_id,
        raised_by,
        reason,
    )
    assert row is not None  # INSERT … RETURNING answers its row
    return row


@dataclass(frozen=True, slots=True)
class OpenObjection:
    id: uuid.UUID
    raised_by: uuid.UUID
    proposed_outcome: str | None
    proposed_points: int | None
    proposed_by: uuid.UUID | None
    proposed_at: datetime | None


async def open_objections(
    session: AsyncSession, village_id: uuid.UUID, award_id: uuid.UUID
) -> list[OpenObjection]:
    """The award's open objections with the resolution proposed for them (a `double` rule's first half)."""
    return await Sql(session).rows(
        OpenObjection,
        "SELECT id, raised_by, proposed_outcome, proposed_points, proposed_by, proposed_at"
        " FROM objections WHERE village_id = $1 AND award_id = $2 AND status = 'open'"
        " ORDER BY created_at, id",
        village_id,
        award_id,
    )


async def objectors(session: AsyncSession, village_id: uuid.UUID, award_id: uuid.UUID) -> set[uuid.UUID]:
    """Everyone who ever objected to the award."""
    return set(
        await Sql(session).values(
            uuid.UUID,
            "SELECT DISTINCT raised_by FROM objections WHERE village_id = $1 AND award_id = $2",
            village_id,
            award_id,
        )
    )


async def propose_resolution(
    session: AsyncSession,
    village_id: uuid.UUID,
    award_id: uuid.UUID,
    *,
    outcome: str,
    points: int | None,
    actor_id: uuid.UUID,
) -> None:
    await Sql(session).execute(
        "UPDATE objections SET proposed_outcome = $3, proposed_points = $4, proposed_by = $5,"
        " proposed_at = now()"
        " WHERE village_id = $1 AND award_id = $2 AND status = 'open'",
        village_id,
        award_id,
        outcome,
        points,
        actor_id,
    )


async def resolve_objections(
    session: AsyncSession,
    village_id: uuid.UUID,
    award_id: uuid.UUID,
    *,
    outcome: str,
    actor_id: uuid.UUID,
    resolution: str,
) -> None:
    await Sql(session).execute(
        "UPDATE objections SET status = 'resolved', outcome = $3, resolved_by = $4, resolution = $5,"
        " resolved_at = now() WHERE village_id = $1 AND award_id = $2 AND status = 'open'",
        village_id,
        award_id,
        outcome,
        actor_id,
        resolution,
    )


@dataclass(frozen=True, slots=True)
class Proposal:
    outcome: str
    points: int | None
    proposed_by: uuid.UUID
    proposed_at: datetime


async def pending_resolution(
    session: AsyncSession, village_id: uuid.UUID, award_id: uuid.UUID
) -> Proposal | None:
    """The resolution proposed for all of the award's open objections and waiting for a second resolver."""
    rows = await open_objections(session, village_id, award_id)
    proposals = {(r.proposed_outcome, r.proposed_points, r.proposed_by, r.proposed_at) for r in rows}
    if len(proposals) != 1:
        return None
    outcome, points, by, at = proposals.pop()
    if outcome is None or by is None or at is None:
        return None
    return Proposal(outcome=outcome, points=points, proposed_by=by, proposed_at=at)
