from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.kit.db import driver
from jifen.ledger import repository as ledger_repository
from jifen.models import Hold

_INSERT_AWARDS = """
INSERT INTO awards (village_id, id, household_id, rule_id, rule_version, quantity, points, member_id, note,
                    status, transaction_id, batch_id, submitted_by, created_at, notice_until, hold_id,
                    self_report)
SELECT $1, a.id, a.household_id, a.rule_id, a.rule_version, a.quantity, a.points,
       a.member_id, a.note, a.status, a.transaction_id, $2, $3, $14, a.notice_until, a.hold_id, $17::boolean
  FROM unnest($4::uuid[], $5::uuid[], $6::uuid[], $7::integer[], $8::integer[], $9::bigint[], $10::uuid[],
              $11::text[], $12::text[], $13::uuid[], $15::timestamptz[], $16::uuid[])
    AS a(id, household_id, rule_id, rule_version, quantity, points, member_id, note, status, transaction_id,
         notice_until, hold_id)
RETURNING created_at
"""
_AWARD_COLUMNS = (
    "ids",
    "households",
    "rules",
    "versions",
    "quantities",
    "points",
    "members",
    "notes",
    "statuses",
    "transactions",
)


async def insert_awards(session: AsyncSession, params: dict[str, Any]) -> datetime:
    """Insert the awards in one statement; returns their (shared) creation time."""
    created_at: datetime = await (await driver(session)).fetchval(
        _INSERT_AWARDS,
        params["village"],
        params["batch"],
        params["actor"],
        *(params[c] for c in _AWARD_COLUMNS),
        params["created_at"],
        params["notice_until"],
        params["holds"],
        params.get("self_report", False),
    )
    return created_at


@dataclass(frozen=True)
class HouseholdRef:
    id: uuid.UUID
    village_id: uuid.UUID
    code: str
    grid: str | None


async def households_by_id(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, HouseholdRef]:
    """The households' id, village, code and grid, without their members."""
    rows = await (await driver(session)).fetch(
        "SELECT id, village_id, code, grid FROM households WHERE id = ANY($1::uuid[])", list(ids)
    )
    return {row["id"]: HouseholdRef(*row) for row in rows}


async def member_households(
    session: AsyncSession, village_id: uuid.UUID, member_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    rows = await (await driver(session)).fetch(
        "SELECT id, household_id FROM members WHERE village_id = $1 AND id = ANY($2::uuid[])",
        village_id,
        list(member_ids),
    )
    return {row["id"]: row["household_id"] for row in rows}


_CAP_USED = """
SELECT household_id, rule_id, coalesce(sum(abs(points)), 0) AS used
  FROM awards
 WHERE village_id = $1 AND household_id = ANY($2::uuid[]) AND rule_id = ANY($3::uuid[])
   AND status NOT IN ('rejected', 'revoked') AND created_at >= $4
 GROUP BY household_id, rule_id
"""


async def lock_households(
    session: AsyncSession, village_id: uuid.UUID, household_ids: Sequence[uuid.UUID]
) -> None:
    """Lock the households' accounts in id order: a cap is counted and used up by one writer at a time."""
    await ledger_repository.lock_households(session, village_id, household_ids)


async def cap_used(
    session: AsyncSession,
    village_id: uuid.UUID,
    household_ids: Sequence[uuid.UUID],
    rule_ids: Sequence[uuid.UUID],
    since: datetime,
) -> dict[tuple[uuid.UUID, uuid.UUID], int]:
    """Points each household already has under each rule since `since` (pending awards count too)."""
    rows = await (await driver(session)).fetch(
        _CAP_USED, village_id, list(household_ids), list(rule_ids), since
    )
    return {(row["household_id"], row["rule_id"]): int(row["used"]) for row in rows}


async def lock_award(session: AsyncSession, award_id: uuid.UUID) -> Any:
    return await (await driver(session)).fetchrow(
        """
        SELECT a.*, v.name AS rule_name, v.review, v.points AS rule_points, r.code AS rule_code
          FROM awards a
          JOIN rule_versions v
            ON v.village_id = a.village_id AND v.rule_id = a.rule_id AND v.version = a.rule_version
          JOIN rules r ON r.village_id = a.village_id AND r.id = a.rule_id
         WHERE a.id = $1
           FOR UPDATE OF a
        """,
        award_id,
    )


async def approvals(session: AsyncSession, village_id: uuid.UUID, award_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await (await driver(session)).fetch(
        "SELECT actor_id FROM award_decisions"
        " WHERE village_id = $1 AND award_id = $2 AND decision = 'approve'",
        village_id,
        award_id,
    )
    return [row["actor_id"] for row in rows]


async def record_decision(
    session: AsyncSession,
    village_id: uuid.UUID,
    award_id: uuid.UUID,
    decision: str,
    actor_id: uuid.UUID,
    reason: str | None,
) -> None:
    await (await driver(session)).execute(
        "INSERT INTO award_decisions (village_id, id, award_id, decision, actor_id, reason)"
        " VALUES ($1, gen_random_uuid(), $2, $3, $4, $5)",
        village_id,
        award_id,
        decision,
        actor_id,
        reason,
    )


async def set_status(
    session: AsyncSession,
    village_id: uuid.UUID,
    award_id: uuid.UUID,
    status: str,
    transaction_id: uuid.UUID | None = None,
) -> None:
    await (await driver(session)).execute(
        "UPDATE awards SET status = $3, transaction_id = $4 WHERE village_id = $1 AND id = $2",
        village_id,
        award_id,
        status,
        transaction_id,
    )


async def village_awards(
    session: AsyncSession,
    village_id: uuid.UUID,
    status: str | None,
    limit: int,
    before: Any,
    self_report: bool | None = None,
    household_id: uuid.UUID | None = None,
    grids: frozenset[str] | None = None,
) -> list[Any]:
    """`grids`: only awards to households of these grids (a cadre's); None for the whole village."""
    return list(
        await (await driver(session)).fetch(
            """
            SELECT * FROM awards
             WHERE village_id = $1 AND ($2::text IS NULL OR status = $2)
               AND ($4::timestamptz IS NULL OR (created_at, id) < ($4::timestamptz, $5::uuid))
               AND ($6::boolean IS NULL OR self_report = $6)
               AND ($7::uuid IS NULL OR household_id = $7)
               AND ($8::text[] IS NULL OR household_id IN (
                    SELECT h.id FROM households h WHERE h.village_id = $1 AND h.grid = ANY($8::text[])))
             ORDER BY created_at DESC, id DESC
             LIMIT $3
            """,
            village_id,
            status,
            limit,
            before[0] if before else None,
            before[1] if before else None,
            self_report,
            household_id,
            sorted(grids) if grids is not None else None,
        )
    )


async def award_village(session: AsyncSession, award_id: uuid.UUID) -> Any:
    return await (await driver(session)).fetchrow(
        "SELECT village_id, household_id FROM awards WHERE id = $1", award_id
    )


async def lock_award_for_read(session: AsyncSession, award_id: uuid.UUID) -> Any:
    return await (await driver(session)).fetchrow("SELECT * FROM awards WHERE id = $1", award_id)


async def rectification_share(
    session: AsyncSession, village_id: uuid.UUID, rule_id: uuid.UUID, version: int
) -> int | None:
    share: int | None = await (await driver(session)).fetchval(
        "SELECT rectification_share FROM rule_versions"
        " WHERE village_id = $1 AND rule_id = $2 AND version = $3",
        village_id,
        rule_id,
        version,
    )
    return share


async def notice_days(session: AsyncSession, village_id: uuid.UUID) -> int:
    days: int = await (await driver(session)).fetchval(
        "SELECT notice_days FROM villages WHERE id = $1", village_id
    )
    return days


async def start_notice(
    session: AsyncSession,
    village_id: uuid.UUID,
    award_id: uuid.UUID,
    notice_until: datetime,
    hold_id: uuid.UUID | None,
) -> None:
    await (await driver(session)).execute(
        "UPDATE awards SET status = 'public_notice', notice_until = $3, hold_id = $4"
        " WHERE village_id = $1 AND id = $2",
        village_id,
        award_id,
        notice_until,
        hold_id,
    )


async def repeat_count(
    session: AsyncSession,
    village_id: uuid.UUID,
    household_ids: Sequence[uuid.UUID],
    rule_ids: Sequence[uuid.UUID],
    since: datetime,
) -> dict[tuple[uuid.UUID, uuid.UUID], int]:
    rows = await (await driver(session)).fetch(
        "SELECT household_id, rule_id, sum(quantity) AS times FROM awards"
        " WHERE village_id = $1 AND household_id = ANY($2::uuid[]) AND rule_id = ANY($3::uuid[])"
        " AND status NOT IN ('rejected', 'revoked') AND created_at >= $4 GROUP BY household_id, rule_id",
        village_id,
        list(household_ids),
        list(rule_ids),
        since,
    )
    return {(row["household_id"], row["rule_id"]): int(row["times"]) for row in rows}


# ------------------------------------------------------------------------------------------------ objections


async def transaction_created_at(
    session: AsyncSession, village_id: uuid.UUID, transaction_id: uuid.UUID
) -> datetime | None:
    created_at: datetime | None = await (await driver(session)).fetchval(
        "SELECT created_at FROM ledger_transactions WHERE village_id = $1 AND id = $2",
        village_id,
        transaction_id,
    )
    return created_at


async def insert_objection(
    session: AsyncSession, village_id: uuid.UUID, award_id: uuid.UUID, raised_by: uuid.UUID, reason: str
) -> Any:
    return await (await driver(session)).fetchrow(
        "INSERT INTO objections (village_id, id, award_id, raised_by, reason) VALUES ($1, $2, $3, $4, $5)"
        " RETURNING id, award_id, reason, status, created_at",
        village_id,
        uuid.uuid4(),
        award_id,
        raised_by,
        reason,
    )


async def open_objections(session: AsyncSession, village_id: uuid.UUID, award_id: uuid.UUID) -> list[Any]:
    """The award's open objections with the resolution proposed for them (a `double` rule's first half)."""
    return list(
        await (await driver(session)).fetch(
            "SELECT id, raised_by, proposed_outcome, proposed_points, proposed_by, proposed_at"
            " FROM objections WHERE village_id = $1 AND award_id = $2 AND status = 'open'"
            " ORDER BY created_at, id",
            village_id,
            award_id,
        )
    )


async def objectors(session: AsyncSession, village_id: uuid.UUID, award_id: uuid.UUID) -> set[uuid.UUID]:
    """Everyone who ever objected to the award."""
    rows = await (await driver(session)).fetch(
        "SELECT DISTINCT raised_by FROM objections WHERE village_id = $1 AND award_id = $2",
        village_id,
        award_id,
    )
    return {row["raised_by"] for row in rows}


async def propose_resolution(
    session: AsyncSession,
    village_id: uuid.UUID,
    award_id: uuid.UUID,
    *,
    outcome: str,
    points: int | None,
    actor_id: uuid.UUID,
) -> None:
    await (await driver(session)).execute(
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
    await (await driver(session)).execute(
        "UPDATE objections SET status = 'resolved', outcome = $3, resolved_by = $4, resolution = $5,"
        " resolved_at = now() WHERE village_id = $1 AND award_id = $2 AND status = 'open'",
        village_id,
        award_id,
        outcome,
        actor_id,
        resolution,
    )


async def set_points(session: AsyncSession, village_id: uuid.UUID, award_id: uuid.UUID, points: int) -> None:
    await (await driver(session)).execute(
        "UPDATE awards SET points = $3 WHERE village_id = $1 AND id = $2", village_id, award_id, points
    )


async def pending_resolution(session: AsyncSession, village_id: uuid.UUID, award_id: uuid.UUID) -> Any:
    """The resolution proposed for all of the award's open objections and waiting for a second resolver."""
    rows = await open_objections(session, village_id, award_id)
    proposals = {
        (r["proposed_outcome"], r["proposed_points"], r["proposed_by"], r["proposed_at"]) for r in rows
    }
    if len(proposals) != 1:
        return None
    outcome, points, by, at = proposals.pop()
    return (
        None
        if outcome is None
        else {"outcome": outcome, "points": points, "proposed_by": by, "proposed_at": at}
    )


async def hold(session: AsyncSession, village_id: uuid.UUID, hold_id: uuid.UUID) -> Hold:
    """The hold a deduction on public notice placed (the award names it: it is there)."""
    held = await session.get(Hold, (village_id, hold_id))
    assert held is not None
    return held
