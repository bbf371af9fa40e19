from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Literal, TypeVar

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.auth.actor_cache import OneCallCaller
from jifen.kit.pagination import key_args
from jifen.kit.sql import Sql
from jifen.ledger import repository as ledger_repository
from jifen.models import Hold

_AWARD = """a.village_id, a.id, a.household_id, a.rule_id, a.rule_version, a.quantity, a.points, a.member_id,
       a.note, a.status, a.transaction_id, a.batch_id, a.submitted_by, a.notice_until, a.hold_id,
       a.self_report, a.created_at, a.observed_at"""


@dataclass(frozen=True, slots=True)
class AwardRow:
    """An award as stored."""

    village_id: uuid.UUID
    id: uuid.UUID
    household_id: uuid.UUID
    rule_id: uuid.UUID
    rule_version: int
    quantity: int
    points: int
    member_id: uuid.UUID | None
    note: str | None
    status: str
    transaction_id: uuid.UUID | None
    batch_id: uuid.UUID | None
    submitted_by: uuid.UUID
    notice_until: datetime | None
    hold_id: uuid.UUID | None
    self_report: bool
    created_at: datetime
    observed_at: datetime | None

    @property
    def posting(self) -> uuid.UUID:
        """The transaction that posted the award (a posted award always has one)."""
        assert self.transaction_id is not None, "the award is not posted"
        return self.transaction_id


@dataclass(frozen=True, slots=True)
class LockedAward(AwardRow):
    """An award locked for a decision, with the rule version it was made under."""

    rule_name: str
    review: str
    rule_points: int
    rule_code: str


def _one(row: T | None) -> T:
    assert row is not None  # the caller locked, checked or just wrote the row: it is there
    return row


T = TypeVar("T")

_INSERT_AWARDS = """
INSERT INTO awards (village_id, id, household_id, rule_id, rule_version, quantity, points, member_id, note,
                    status, transaction_id, batch_id, submitted_by, created_at, notice_until, hold_id,
                    self_report, observed_at)
SELECT $1, a.id, a.household_id, a.rule_id, a.rule_version, a.quantity, a.points,
       a.member_id, a.note, a.status, a.transaction_id, $2, $3, $14, a.notice_until, a.hold_id, $17::boolean,
       a.observed_at
  FROM unnest($4::uuid[], $5::uuid[], $6::uuid[], $7::integer[], $8::integer[], $9::bigint[], $10::uuid[],
              $11::text[], $12::text[], $13::uuid[], $15::timestamptz[], $16::uuid[], $18::timestamptz[])
    AS a(id, household_id, rule_id, rule_version, quantity, points, member_id, note, status, transaction_id,
         notice_until, hold_id, observed_at)
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
    created_at = await Sql(session).value(
        datetime,
        _INSERT_AWARDS,
        params["village"],
        params["batch"],
        params["actor"],
        *(params[c] for c in _AWARD_COLUMNS),
        params["created_at"],
        params["notice_until"],
        params["holds"],
        params.get("self_report", False),
        params["observed"],
    )
    return _one(created_at)


@dataclass(frozen=True, slots=True)
class HouseholdRef:
    id: uuid.UUID
    village_id: uuid.UUID
    code: str
    grid: str | None


async def households_by_id(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, HouseholdRef]:
    """The households' id, village, code and grid, without their members."""
    rows = await Sql(session).rows(
        HouseholdRef,
        "SELECT id, village_id, code, grid FROM households WHERE id = ANY($1::uuid[])",
        list(ids),
    )
    return {row.id: row for row in rows}


async def member_households(
    session: AsyncSession, village_id: uuid.UUID, member_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    rows = await Sql(session).rows(
        _Member,
        "SELECT id, household_id FROM members WHERE village_id = $1 AND id = ANY($2::uuid[])",
        village_id,
        list(member_ids),
    )
    return {row.id: row.household_id for row in rows}


@dataclass(frozen=True, slots=True)
class _Member:
    id: uuid.UUID
    household_id: uuid.UUID


_CAP_USED = """
SELECT household_id, rule_id, coalesce(sum(abs(points)), 0)::bigint AS count
  FROM awards
 WHERE village_id = $1 AND household_id = ANY($2::uuid[]) AND rule_id = ANY($3::uuid[])
   AND status NOT IN ('rejected', 'revoked') AND created_at >= $4::timestamptz - interval '10 minutes'
   AND coalesce(observed_at, created_at) >= $4 AND coalesce(observed_at, created_at) < $5
 GROUP BY household_id, rule_id
"""


async def lock_households(
    session: AsyncSession, village_id: uuid.UUID, household_ids: Sequence[uuid.UUID]
) -> None:
    """Lock the households' accounts in id order: a cap is counted and used up by one writer at a time."""
    await ledger_repository.lock_households(session, village_id, household_ids)


@dataclass(frozen=True, slots=True)
class _PairCount:
    household_id: uuid.UUID
    rule_id: uuid.UUID
    count: int


Counted = Literal["points", "times"]


async def counts_within(
    session: AsyncSession,
    counted: Counted,
    village_id: uuid.UUID,
    household_ids: Sequence[uuid.UUID],
    rule_ids: Sequence[uuid.UUID],
    period: tuple[datetime, datetime],
) -> dict[tuple[uuid.UUID, uuid.UUID], int]:
    """Per (household, rule), of the awards not rejected or revoked (pending ones count too) seen within the
    [start, end) of `period` (an award scored offline by when it was observed): the points they carry
    (`points`, for caps) or how many times the rule was applied (`times`, for escalating deductions)."""
    # an award is never observed more than 10 minutes after it was received, so the cap index's created_at
    # finds every award of the period. SQL twin: 0019_observed_at.py ck_awards_observed_before_received
    query = _CAP_USED if counted == "points" else _REPEATS
    start, end = period
    rows = await Sql(session).rows(
        _PairCount, query, village_id, list(household_ids), list(rule_ids), start, end
    )
    return {(row.household_id, row.rule_id): row.count for row in rows}


async def lock_award(session: AsyncSession, award_id: uuid.UUID) -> LockedAward | None:
    return await Sql(session).row(
        LockedAward,
        f"""
        SELECT {_AWARD}, v.name AS rule_name, v.review, v.points AS rule_points, r.code AS rule_code
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
    return await Sql(session).values(
        uuid.UUID,
        "SELECT actor_id FROM award_decisions"
        " WHERE village_id = $1 AND award_id = $2 AND decision = 'approve'",
        village_id,
        award_id,
    )


async def record_decision(
    session: AsyncSession,
    village_id: uuid.UUID,
    award_id: uuid.UUID,
    decision: str,
    actor_id: uuid.UUID,
    reason: str | None,
) -> None:
    await Sql(session).execute(
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
    await Sql(session).execute(
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
    before: tuple[datetime, uuid.UUID] | None,
    self_report: bool | None = None,
    household_id: uuid.UUID | None = None,
    grids: frozenset[str] | None = None,
) -> list[AwardRow]:
    """`grids`: only awards to households of these grids (a cadre's); None for the whole village."""
    return await Sql(session).rows(
        AwardRow,
        f"""
        SELECT {_AWARD} FROM awards a
         WHERE a.village_id = $1 AND ($2::text IS NULL OR a.status = $2)
           AND ($4::timestamptz IS NULL OR (a.created_at, a.id) < ($4::timestamptz, $5::uuid))
           AND ($6::boolean IS NULL OR a.self_report = $6)
           AND ($7::uuid IS NULL OR a.household_id = $7)
           AND ($8::text[] IS NULL OR a.household_id IN (
                SELECT h.id FROM households h WHERE h.village_id = $1 AND h.grid = ANY($8::text[])))
         ORDER BY a.created_at DESC, a.id DESC
         LIMIT $3
        """,
        village_id,
        status,
        limit,
        *key_args(before),
        self_report,
        household_id,
        sorted(grids) if grids is not None else None,
    )


@dataclass(frozen=True, slots=True)
class AwardPlace:
    village_id: uuid.UUID
    household_id: uuid.UUID


async def award_village(session: AsyncSession, award_id: uuid.UUID) -> AwardPlace | None:
    return await Sql(session).row(
        AwardPlace, "SELECT village_id, household_id FROM awards WHERE id = $1", award_id
    )


async def lock_award_for_read(session: AsyncSession, award_id: uuid.UUID) -> AwardRow:
    return _one(await Sql(session).row(AwardRow, f"SELECT {_AWARD} FROM awards a WHERE a.id = $1", award_id))


async def rectification_share(
    session: AsyncSession, village_id: uuid.UUID, rule_id: uuid.UUID, version: int
) -> int | None:
    return await Sql(session).value(
        int,
        "SELECT rectification_share FROM rule_versions"
        " WHERE village_id = $1 AND rule_id = $2 AND version = $3",
        village_id,
        rule_id,
        version,
    )


async def notice_days(session: AsyncSession, village_id: uuid.UUID) -> int:
    return _one(await Sql(session).value(int, "SELECT notice_days FROM villages WHERE id = $1", village_id))


async def start_notice(
    session: AsyncSession,
    village_id: uuid.UUID,
    award_id: uuid.UUID,
    notice_until: datetime,
    hold_id: uuid.UUID | None,
) -> None:
    await Sql(session).execute(
        "UPDATE awards SET status = 'public_notice', notice_until = $3, hold_id = $4"
        " WHERE village_id = $1 AND id = $2",
        village_id,
        award_id,
        notice_until,
        hold_id,
    )


_REPEATS = """
SELECT household_id, rule_id, sum(quantity)::bigint AS count
  FROM awards
 WHERE village_id = $1 AND household_id = ANY($2::uuid[]) AND rule_id = ANY($3::uuid[])
   AND status NOT IN ('rejected', 'revoked') AND created_at >= $4::timestamptz - interval '10 minutes'
   AND coalesce(observed_at, created_at) >= $4 AND coalesce(observed_at, created_at) < $5
 GROUP BY household_id, rule_id
"""


async def set_points(session: AsyncSession, village_id: uuid.UUID, award_id: uuid.UUID, points: int) -> None:
    await Sql(session).execute(
        "UPDATE awards SET points = $3 WHERE village_id = $1 AND id = $2", village_id, award_id, points
    )


async def hold(session: AsyncSession, village_id: uuid.UUID, hold_id: uuid.UUID) -> Hold:
    """The hold a deduction on public notice placed (the award names it: it is there)."""
    held = await session.get(Hold, (village_id, hold_id))
    assert held is not None
    return held


async def lock_due_notices(session: AsyncSession, moment: datetime) -> list[uuid.UUID]:
    """Up to 200 awards whose public notice ended by `moment` without an open objection, claimed under row
    locks other claimers skip."""
    return await Sql(session).values(
        uuid.UUID,
        """
        SELECT a.id FROM awards a
         WHERE a.status = 'public_notice' AND a.notice_until <= $1
           AND NOT EXISTS (
                SELECT 1 FROM objections o
                 WHERE o.village_id = a.village_id AND o.award_id = a.id AND o.status = 'open')
         ORDER BY a.notice_until
         LIMIT 200
           FOR UPDATE OF a SKIP LOCKED
        """,
        moment,
    )


_SUBMIT = (
    "SELECT answer_json, awarded, deducted FROM award_submit($1::uuid, $2::integer, $3::text, $4::text,"
    " $5::text, $6::text, $7::text, $8::boolean, $9::uuid, $10::timestamptz, $11::uuid[], $12::uuid[],"
    " $13::integer[], $14::text[])"
)


@dataclass(frozen=True, slots=True)
class OneCall:
    """What `award_submit` (migrations 0021, 0027) is called with: the caller, the key, the items."""

    caller: OneCallCaller
    many: bool
    batch: uuid.UUID | None  # the awards' batch id (an inspection's); None: a batch of its own when `many`
    now: datetime
    households: list[uuid.UUID]
    rules: list[uuid.UUID]
    quantities: list[int]
    notes: list[str | None]


@dataclass(frozen=True, slots=True)
class OneCallAnswer:
    answer_json: str | None  # None: nothing was written, the general path must run
    awarded: int | None  # the transactions posted, by kind
    deducted: int | None

    def posted(self) -> list[str]:
        """The kinds of the transactions posted (jifen_ledger_transactions_total)."""
        return ["award"] * (self.awarded or 0) + ["deduction"] * (self.deducted or 0)


async def submit_in_one_call(session: AsyncSession, call: OneCall) -> OneCallAnswer:
    """The whole award (or batch) in one statement: its answer as JSON, and what it posted."""
    items = (getattr(call, f.name) for f in fields(call)[1:])
    found = await Sql(session).row(OneCallAnswer, _SUBMIT, *call.caller.args(), *items)
    assert found is not None  # a function returning a record returns one row
    return found


async def submit_on(connection: asyncpg.Connection, call: OneCall) -> OneCallAnswer:
    """`submit_in_one_call` on a driver connection, committed as it answers (the award's ASGI lane)."""
    items = (getattr(call, f.name) for f in fields(call)[1:])
    found = await connection.fetchrow(_SUBMIT, *call.caller.args(), *items)
    assert found is not None  # a function returning a record returns one row
    return OneCallAnswer(found["answer_json"], found["awarded"], found["deducted"])
