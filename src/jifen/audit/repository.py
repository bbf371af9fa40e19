"""Every statement on the audit trail a request runs: the insert (in the caller's transaction), the reading
of events and checkpoints. The chain's linking and verifying run on their own connections (audit/chain.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.audit.schemas import AuditEventOut, CheckpointOut
from jifen.kit.schemas import out_of
from jifen.kit.sql import Sql

TOWN_SCOPE = uuid.UUID(int=0)  # what belongs to no village: town administrators, logins

_INSERT = """
INSERT INTO audit_events (scope, actor_id, actor_name, actor_roles, action, record_type, record_id, before,
                          after, reason, request_id, client_addr)
SELECT $1, $2, $3, $4, $5, $6, e.record_id, e.before::jsonb, e.after::jsonb, $7, $8, $9
  FROM unnest($10::text[], $11::text[], $12::text[]) AS e(record_id, before, after)
"""


@dataclass(frozen=True, slots=True)
class EventHead:
    """What every event of one `insert_events` call shares."""

    scope: uuid.UUID
    actor_id: uuid.UUID | None
    actor_name: str
    actor_roles: str
    action: str
    record_type: str
    reason: str | None
    request_id: str | None
    client_addr: str | None


async def insert_events(
    session: AsyncSession,
    head: EventHead,
    record_ids: Sequence[str | None],
    befores: Sequence[str | None],
    afters: Sequence[str | None],
) -> None:
    """Audit events (one per record id, with its JSON before and after) in one statement."""
    await Sql(session).execute(
        _INSERT,
        head.scope,
        head.actor_id,
        head.actor_name,
        head.actor_roles,
        head.action,
        head.record_type,
        head.reason,
        head.request_id,
        head.client_addr,
        list(record_ids),
        list(befores),
        list(afters),
    )


@dataclass(frozen=True, slots=True)
class EventRow:
    scope: uuid.UUID
    id: int
    occurred_at: datetime
    actor_id: uuid.UUID | None
    actor_name: str | None
    actor_roles: str | None
    action: str
    record_type: str
    record_id: str | None
    before: str | None
    after: str | None
    reason: str | None
    request_id: str | None
    client_addr: str | None


@dataclass(frozen=True, slots=True)
class EventFilter:
    scope: uuid.UUID | None
    actor_id: uuid.UUID | None
    record_type: str | None
    record_id: str | None
    action: str | None
    since: datetime | None
    until: datetime | None
    before_id: int | None

    def where(self) -> tuple[str, list[object]]:
        """The WHERE clause ("" when nothing is filtered) and its arguments, $1 onwards."""
        tests = (
            ("scope = {}", self.scope),
            ("actor_id = {}", self.actor_id),
            ("record_type = {}", self.record_type),
            ("record_id = {}", self.record_id),
            ("action = {}", self.action),
            ("occurred_at >= {}", self.since),
            ("occurred_at < {}", self.until),
            ("id < {}", self.before_id),
        )
        given = [(sql, value) for sql, value in tests if value is not None]
        conditions = [sql.format(f"${number}") for number, (sql, _) in enumerate(given, start=1)]
        return (" WHERE " + " AND ".join(conditions) if conditions else ""), [v for _, v in given]


async def events(
    session: AsyncSession,
    *,
    scope: uuid.UUID | None,
    actor_id: uuid.UUID | None,
    record_type: str | None,
    record_id: str | None,
    action: str | None,
    since: datetime | None,
    until: datetime | None,
    before_id: int | None,
    limit: int,
) -> list[EventRow]:
    where, args = EventFilter(
        scope, actor_id, record_type, record_id, action, since, until, before_id
    ).where()
    sql = (
        "SELECT scope, id, occurred_at, actor_id, actor_name, actor_roles, action, record_type, record_id,"
        # as text: the pooled connections decode jsonb themselves (SQLAlchemy's codec), a bare one does not
        " before::text AS before, after::text AS after, reason, request_id, client_addr FROM audit_events"
        + where
        + f" ORDER BY id DESC LIMIT ${len(args) + 1}"
    )
    return await Sql(session).rows(EventRow, sql, *args, limit)


def event_out(row: EventRow) -> AuditEventOut:
    return out_of(
        AuditEventOut,
        row,
        village_id=None if row.scope == TOWN_SCOPE else row.scope,
        before=json.loads(row.before) if row.before is not None else None,
        after=json.loads(row.after) if row.after is not None else None,
    )


@dataclass(frozen=True, slots=True)
class CheckpointRow:
    id: int
    scope: uuid.UUID
    seq: int
    digest: bytes
    records: int
    sealed_at: datetime


def checkpoint_out(row: CheckpointRow) -> CheckpointOut:
    return out_of(CheckpointOut, row, village_id=row.scope, digest=bytes(row.digest).hex())


async def checkpoints(
    session: AsyncSession, scope: uuid.UUID, limit: int | None = None
) -> list[CheckpointOut]:
    """The scope's checkpoints, newest first (the newest `limit` of them)."""
    rows = await Sql(session).rows(
        CheckpointRow,
        "SELECT id, scope, seq, digest, records, sealed_at FROM checkpoints WHERE scope = $1"
        " ORDER BY id DESC LIMIT $2",
        scope,
        limit,
    )
    return [checkpoint_out(row) for row in rows]


PENDING_CAP = 10_000  # what the admin page counts of the records not yet linked, at most


@dataclass(frozen=True, slots=True)
class VerificationState:
    """What the admin page shows of a village's chain, read in one statement: its newest verification (the
    verified-up-to mark, audit_verifications; None when never verified), how far the chain is linked, how many
    records wait to be linked (up to PENDING_CAP), and its newest checkpoint."""

    linked: int  # the chain's last link (seq)
    pending: int
    mark_seq: int | None
    mark_ok: bool | None
    mark_first_bad: str | None  # JSON
    mark_first_bad_account: str | None  # JSON
    verified_at: datetime | None
    checkpoint_id: int | None
    checkpoint_seq: int | None
    checkpoint_digest: bytes | None
    checkpoint_records: int | None
    checkpoint_sealed_at: datetime | None

    def checkpoint(self, scope: uuid.UUID) -> CheckpointOut | None:
        if self.checkpoint_id is None:
            return None
        assert self.checkpoint_seq is not None
        assert self.checkpoint_digest is not None
        assert self.checkpoint_records is not None
        assert self.checkpoint_sealed_at is not None
        return checkpoint_out(
            CheckpointRow(
                self.checkpoint_id,
                scope,
                self.checkpoint_seq,
                self.checkpoint_digest,
                self.checkpoint_records,
                self.checkpoint_sealed_at,
            )
        )


# each part one probe of a primary key or a (scope, chain_id) index; what waits to be linked is what has a
# chain_id beyond the last link's (the chainer links in chain_id order), counted up to a cap
_STATE = """
WITH mark AS (
    SELECT seq, ok, first_bad::text AS first_bad, first_bad_account::text AS first_bad_account, verified_at
      FROM audit_verifications WHERE scope = $1 ORDER BY id DESC LIMIT 1
), head AS (
    SELECT coalesce(max(seq), 0) AS seq, coalesce(max(chain_id), 0) AS chain_id
      FROM (SELECT seq, chain_id FROM chain_links WHERE scope = $1 ORDER BY seq DESC LIMIT 1) l
), cp AS (
    SELECT id, seq, digest, records, sealed_at FROM checkpoints WHERE scope = $1 ORDER BY id DESC LIMIT 1
)
SELECT head.seq AS linked,
       (SELECT count(*) FROM (
            SELECT 1 FROM ledger_transactions t WHERE t.village_id = $1 AND t.chain_id > head.chain_id
            UNION ALL SELECT 1 FROM postings p WHERE p.village_id = $1 AND p.chain_id > head.chain_id
            UNION ALL SELECT 1 FROM audit_events a WHERE a.scope = $1 AND a.chain_id > head.chain_id
            LIMIT $2) x) AS pending,
       mark.seq AS mark_seq, mark.ok AS mark_ok, mark.first_bad AS mark_first_bad,
       mark.first_bad_account AS mark_first_bad_account, mark.verified_at,
       cp.id AS checkpoint_id, cp.seq AS checkpoint_seq, cp.digest AS checkpoint_digest,
       cp.records AS checkpoint_records, cp.sealed_at AS checkpoint_sealed_at
  FROM head LEFT JOIN mark ON true LEFT JOIN cp ON true
"""


async def verification_state(session: AsyncSession, scope: uuid.UUID) -> VerificationState:
    return await Sql(session).one(VerificationState, _STATE, scope, PENDING_CAP)
