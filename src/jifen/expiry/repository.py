"""Every expiry query, typed through `Sql`: set-based, one statement per step, whatever the village's size."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.expiry.policy import ExpiryMode, Policy
from jifen.kit.sql import Sql, columns_of, unnest_args
from jifen.ledger import repository as ledger_repository


@dataclass(frozen=True, slots=True)
class PolicyRow:
    id: uuid.UUID
    village_id: uuid.UUID
    seq: int
    mode: str
    clearing_month: int | None
    clearing_day: int | None
    carry_over_cap: int | None
    months: int | None
    effective_at: datetime
    reason: str
    actor_id: uuid.UUID
    created_at: datetime

    def policy(self) -> Policy:
        """The policy the row saved: every field of a `Policy` is one of the row's."""
        saved = {f.name: getattr(self, f.name) for f in fields(Policy)}
        return Policy(**{**saved, "mode": ExpiryMode(self.mode)})


_POLICY_COLUMNS = columns_of(PolicyRow)


async def current_policy(session: AsyncSession, village_id: uuid.UUID) -> PolicyRow | None:
    return await Sql(session).row(
        PolicyRow,
        f"SELECT {_POLICY_COLUMNS} FROM expiry_policies WHERE village_id = $1 ORDER BY seq DESC LIMIT 1",
        village_id,
    )


async def lock_village_policies(session: AsyncSession, village_id: uuid.UUID) -> None:
    """Serialise policy changes of one village (the seq's unique constraint is the last line)."""
    await Sql(session).execute("SELECT 1 FROM villages WHERE id = $1 FOR UPDATE", village_id)


async def insert_policy(session: AsyncSession, row: PolicyRow) -> None:
    await Sql(session).execute(
        f"INSERT INTO expiry_policies ({_POLICY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
        " $11, $12)",
        row.id,
        row.village_id,
        row.seq,
        row.mode,
        row.clearing_month,
        row.clearing_day,
        row.carry_over_cap,
        row.months,
        row.effective_at,
        row.reason,
        row.actor_id,
        row.created_at,
    )


async def policy_history(
    session: AsyncSession, village_id: uuid.UUID, *, before_seq: int | None, limit: int
) -> list[PolicyRow]:
    return await Sql(session).rows(
        PolicyRow,
        f"""
        SELECT {_POLICY_COLUMNS} FROM expiry_policies
         WHERE village_id = $1 AND ($2::integer IS NULL OR seq < $2)
         ORDER BY seq DESC LIMIT $3
        """,
        village_id,
        before_seq,
        limit,
    )


async def villages_with_expiry(session: AsyncSession) -> list[PolicyRow]:
    """Every village whose current policy expires points."""
    return await Sql(session).rows(
        PolicyRow,
        f"""
        SELECT {_POLICY_COLUMNS} FROM (
            SELECT DISTINCT ON (village_id) {_POLICY_COLUMNS} FROM expiry_policies
             ORDER BY village_id, seq DESC) current
         WHERE mode <> 'none'
        """,
    )


# ----------------------------------------------------------------------------------------- the due job


async def try_lock_village(session: AsyncSession, village_id: uuid.UUID) -> bool:
    """One due job per village at a time, across processes; released at the end of the transaction."""
    locked = await Sql(session).value(
        bool,
        "SELECT pg_try_advisory_xact_lock(hashtextextended('jifen.expiry:' || $1::uuid::text, 0))",
        village_id,
    )
    return bool(locked)


@dataclass(frozen=True, slots=True)
class Pass:
    """A pass of the due job over one village and cutoff."""

    number: int
    created_at: datetime


async def last_pass(session: AsyncSession, village_id: uuid.UUID, cutoff: datetime) -> Pass | None:
    return await Sql(session).row(
        Pass,
        "SELECT pass AS number, created_at FROM expiry_runs WHERE village_id = $1 AND cutoff = $2"
        " ORDER BY pass DESC LIMIT 1",
        village_id,
        cutoff,
    )


async def released_since(session: AsyncSession, village_id: uuid.UUID, since: datetime) -> list[uuid.UUID]:
    return await Sql(session).values(
        uuid.UUID,
        "SELECT DISTINCT account_id FROM holds"
        " WHERE village_id = $1 AND status = 'released' AND ended_at >= $2",
        village_id,
        since,
    )


async def lock_candidates(
    session: AsyncSession, village_id: uuid.UUID, cap: int, only: Sequence[uuid.UUID] | None
) -> list[uuid.UUID]:
    """Lock (in id order, like ledger_post) the households that may owe anything: available above the cap."""
    return await ledger_repository.lock_households(session, village_id, only, above=cap)


@dataclass(frozen=True, slots=True)
class DueRow:
    household_id: uuid.UUID
    due: int
    part: int


async def due_amounts(
    session: AsyncSession,
    village_id: uuid.UUID,
    households: Sequence[uuid.UUID],
    *,
    boundary: datetime,
    cap: int,
    cutoff: datetime,
) -> list[DueRow]:
    """For locked households: available − credits since the boundary − cap, where positive."""
    return await Sql(session).rows(
        DueRow,
        """
        WITH recent AS (
            SELECT p.account_id, sum(p.amount) AS credits
              FROM postings p
             WHERE p.village_id = $1 AND p.created_at >= $3 AND p.amount > 0
               AND p.account_version IS NOT NULL AND p.account_id = ANY ($2::uuid[])
             GROUP BY p.account_id),
        parts AS (
            SELECT x.household_id, max(x.part) AS last
              FROM expiries x
             WHERE x.village_id = $1 AND x.cutoff = $5 AND x.household_id = ANY ($2::uuid[])
             GROUP BY x.household_id)
        SELECT a.id AS household_id, (a.posted - a.held - coalesce(r.credits, 0) - $4)::bigint AS due,
               (coalesce(pt.last, 0) + 1)::int AS part
          FROM accounts a
          LEFT JOIN recent r ON r.account_id = a.id
          LEFT JOIN parts pt ON pt.household_id = a.id
         WHERE a.village_id = $1 AND a.kind = 'household' AND a.id = ANY ($2::uuid[])
           AND a.posted - a.held - coalesce(r.credits, 0) - $4 > 0
         ORDER BY a.id
        """,
        village_id,
        list(households),
        boundary,
        cap,
        cutoff,
    )


async def insert_expiries(
    session: AsyncSession,
    village_id: uuid.UUID,
    *,
    cutoff: datetime,
    policy_id: uuid.UUID,
    rows: Sequence[tuple[uuid.UUID, int, int, uuid.UUID]],
) -> None:
    """(household, part, amount, transaction) rows."""
    await Sql(session).execute(
        """
        INSERT INTO expiries (village_id, household_id, cutoff, part, policy_id, amount, transaction_id)
        SELECT $1, r.household_id, $2, r.part, $3, r.amount, r.transaction_id
          FROM unnest($4::uuid[], $5::integer[], $6::bigint[], $7::uuid[])
            AS r(household_id, part, amount, transaction_id)
        """,
        village_id,
        cutoff,
        policy_id,
        *unnest_args(rows, 4),
    )


async def insert_run(
    session: AsyncSession,
    village_id: uuid.UUID,
    *,
    cutoff: datetime,
    number: int,
    policy_id: uuid.UUID,
    households: int,
    points: int,
) -> None:
    await Sql(session).execute(
        "INSERT INTO expiry_runs (village_id, cutoff, pass, policy_id, households, points)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        village_id,
        cutoff,
        number,
        policy_id,
        households,
        points,
    )


# ------------------------------------------------------------------------------------------- preview


async def pending_due(
    session: AsyncSession,
    village_id: uuid.UUID,
    *,
    boundary: datetime,
    cap: int,
    household_id: uuid.UUID | None,
) -> dict[uuid.UUID, int]:
    """What the due job would expire now (without locking): due > 0 per household."""
    return await Sql(session).pairs(
        uuid.UUID,
        int,
        """
        WITH recent AS (
            SELECT p.account_id, sum(p.amount) AS credits
              FROM postings p
             WHERE p.village_id = $1 AND p.created_at >= $2 AND p.amount > 0 AND p.account_version IS NOT NULL
               AND ($4::uuid IS NULL OR p.account_id = $4)
             GROUP BY p.account_id)
        SELECT a.id AS household_id, (a.posted - a.held - coalesce(r.credits, 0) - $3)::bigint AS points
          FROM accounts a
          LEFT JOIN recent r ON r.account_id = a.id
         WHERE a.village_id = $1 AND a.kind = 'household' AND ($4::uuid IS NULL OR a.id = $4)
           AND a.posted - a.held - coalesce(r.credits, 0) - $3 > 0
        """,
        village_id,
        boundary,
        cap,
        household_id,
    )


async def availability(
    session: AsyncSession, village_id: uuid.UUID, household_id: uuid.UUID | None
) -> dict[uuid.UUID, int]:
    return await Sql(session).pairs(
        uuid.UUID,
        int,
        """
        SELECT id AS household_id, (posted - held)::bigint AS points FROM accounts
         WHERE village_id = $1 AND kind = 'household' AND posted - held > 0
           AND ($2::uuid IS NULL OR id = $2)
        """,
        village_id,
        household_id,
    )


@dataclass(frozen=True, slots=True)
class Lot:
    """What is left of a household's credits that expire at one moment."""

    household_id: uuid.UUID
    expires_at: datetime
    points: int


async def rolling_lots(
    session: AsyncSession,
    village_id: uuid.UUID,
    *,
    since: datetime | None,
    months: int,
    pending: dict[uuid.UUID, int],
    household_id: uuid.UUID | None,
) -> list[Lot]:
    """What is left of each credit since `since` (FIFO: the newest credits are what remains of the
    available balance after the pending expiry), grouped by the local midnight it expires at:
    (household, expires_at, points)."""
    return await Sql(session).rows(
        Lot,
        """
        WITH lots AS (
            SELECT p.account_id, p.amount, p.created_at,
                   coalesce(sum(p.amount) OVER (
                       PARTITION BY p.account_id ORDER BY p.created_at DESC, p.id DESC
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS newer
              FROM postings p
             WHERE p.village_id = $1 AND p.amount > 0 AND p.account_version IS NOT NULL
               AND ($2::timestamptz IS NULL OR p.created_at >= $2)
               AND ($6::uuid IS NULL OR p.account_id = $6)),
        balances AS (
            SELECT a.id, a.posted - a.held - coalesce(pd.due, 0) AS remaining
              FROM accounts a
              LEFT JOIN unnest($4::uuid[], $5::bigint[]) AS pd(household_id, due) ON pd.household_id = a.id
             WHERE a.village_id = $1 AND a.kind = 'household' AND ($6::uuid IS NULL OR a.id = $6))
        SELECT l.account_id AS household_id,
               ((((l.created_at AT TIME ZONE 'Asia/Shanghai')::date + make_interval(months => $3))::date + 1)
                   ::timestamp AT TIME ZONE 'Asia/Shanghai') AS expires_at,
               sum(least(l.amount, b.remaining - l.newer))::bigint AS points
          FROM lots l JOIN balances b ON b.id = l.account_id
         WHERE b.remaining - l.newer > 0
         GROUP BY 1, 2
        """,
        village_id,
        since,
        months,
        list(pending),
        list(pending.values()),
        household_id,
    )


@dataclass(frozen=True, slots=True)
class HouseholdName:
    id: uuid.UUID
    code: str
    head_name: str


async def household_names(
    session: AsyncSession, village_id: uuid.UUID, household_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, str]]:
    rows = await Sql(session).rows(
        HouseholdName,
        "SELECT id, code, head_name FROM households WHERE village_id = $1 AND id = ANY ($2::uuid[])",
        village_id,
        list(household_ids),
    )
    return {row.id: (row.code, row.head_name) for row in rows}
