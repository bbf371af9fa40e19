"""The numbers /metrics reads from the database at scrape time: one statement, bounded by indexes."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from jifen.audit.service import TOWN_SCOPE

# the most unlinked records counted per table (and village): a stuck chainer makes the lag large, never
# the scrape slow
UNLINKED_COUNT_CAP = 1_000_000

# Linking takes every scope (each village, and the town) up to one horizon per pass, so the highest chain_id
# linked anywhere marks what is linked everywhere; what lies above it is waiting. Every part walks an index,
# per scope: chain_links (scope, chain_id) backwards for the mark, then ledger_transactions and postings by
# (village_id, chain_id) and audit events by (scope, chain_id) (no index on chain_id alone: each would cost
# every posting an index entry, migration 0026), public notices by the partial index on awards due. The mark
# is a parameter of the index conditions (an InitPlan), so each count reads only what lies above it.
_STATE = """
WITH scopes AS (
    SELECT id AS scope FROM villages UNION ALL SELECT $1::uuid
), mark AS (
    SELECT coalesce(max((SELECT l.chain_id FROM chain_links l WHERE l.scope = s.scope
                          ORDER BY l.chain_id DESC LIMIT 1)), 0) AS upto
      FROM scopes s
)
SELECT
    (SELECT sum(c.n) FROM scopes s, LATERAL (
        SELECT (SELECT count(*) FROM (SELECT 1 FROM ledger_transactions t
                                       WHERE t.village_id = s.scope AND t.chain_id > (SELECT upto FROM mark)
                                       LIMIT $2) x)
             + (SELECT count(*) FROM (SELECT 1 FROM postings p
                                       WHERE p.village_id = s.scope AND p.chain_id > (SELECT upto FROM mark)
                                       LIMIT $2) x)
             + (SELECT count(*) FROM (SELECT 1 FROM audit_events a
                                       WHERE a.scope = s.scope AND a.chain_id > (SELECT upto FROM mark)
                                       LIMIT $2) x) AS n) c)::bigint AS unlinked,
    extract(epoch FROM now() - (SELECT min(least(o.transaction_at, o.event_at)) FROM scopes s, LATERAL (
        SELECT (SELECT t.created_at FROM ledger_transactions t
                 WHERE t.village_id = s.scope AND t.chain_id > (SELECT upto FROM mark)
                 ORDER BY t.chain_id LIMIT 1) AS transaction_at,
               (SELECT a.occurred_at FROM audit_events a
                 WHERE a.scope = s.scope AND a.chain_id > (SELECT upto FROM mark)
                 ORDER BY a.chain_id LIMIT 1) AS event_at) o))::float8 AS oldest_unlinked_seconds,
    (SELECT count(*) FROM awards WHERE status = 'public_notice') AS on_notice,
    (SELECT count(*) FROM awards WHERE status = 'public_notice' AND notice_until <= now()) AS notice_overdue
"""


@dataclass(frozen=True)
class DatabaseState:
    unlinked: int  # records not yet linked into the tamper-evident chain
    oldest_unlinked_seconds: float  # how long the oldest of them has waited (0 when none)
    on_notice: int  # awards on public notice (公示)
    notice_overdue: int  # awards whose notice ended that the due job has not posted yet


async def database_state(conn: asyncpg.Connection) -> DatabaseState:
    async with conn.transaction(readonly=True):
        # a scrape must never hold anything up: give up rather than wait. And the mark is known only at run
        # time: without enable_seqscan off the planner may guess "a third of the table" and read all of it,
        # where the indexes read only the few records above the mark (measured: 0.3 ms with 8,000 linked)
        await conn.execute(
            "SELECT set_config('statement_timeout', '2s', true), set_config('lock_timeout', '500ms', true),"
            " set_config('enable_seqscan', 'off', true)"
        )
        row = await conn.fetchrow(_STATE, TOWN_SCOPE, UNLINKED_COUNT_CAP)
    return DatabaseState(
        unlinked=row["unlinked"],
        oldest_unlinked_seconds=max(row["oldest_unlinked_seconds"] or 0.0, 0.0),
        on_notice=row["on_notice"],
        notice_overdue=row["notice_overdue"],
    )
