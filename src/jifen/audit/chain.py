"""The tamper-evident chain: per village, one SHA-256 chain over its ledger transactions, postings and audit
events, in chain_id order; checkpoints seal its head for the notice board.

link n = SHA-256(link n-1 ‖ record hash ‖ n), record hash = SHA-256(the record's canonical text, computed by
the database functions of migration 0003). Changing, deleting, inserting or reordering a linked record
breaks the chain at that record; a sealed checkpoint printed on paper proves the past did not change even
to someone who could rewrite the whole database.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import structlog

from jifen.audit import balances

log = structlog.get_logger(__name__)

WRITERS_LOCK = 7595439545093744238  # taken shared by every statement that writes chained records
CHAINER_LOCK = 7595439545093744239  # one chainer per database at a time (background loop)
LINK_BATCH = 50_000


def genesis(scope: uuid.UUID) -> bytes:
    return hashlib.sha256(b"jifen-chain:" + scope.bytes).digest()


def next_link(previous: bytes, record_hash: bytes, seq: int) -> bytes:
    return hashlib.sha256(previous + record_hash + seq.to_bytes(8, "big")).digest()


async def horizon(conn: asyncpg.Connection) -> int | None:
    """The chain_id at or below which every record has committed or rolled back; None if writers are busy.

    Holding the writers' lock exclusively for a moment waits out every transaction that drew a chain_id.
    """
    async with conn.transaction():
        await conn.execute("SET LOCAL lock_timeout = '250ms'")
        try:
            await conn.execute("SELECT pg_advisory_xact_lock($1)", WRITERS_LOCK)
        except asyncpg.LockNotAvailableError:
            return None
        value: int = await conn.fetchval(
            "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM jifen_chain_seq"
        )
        return value


_BATCH_END = """
SELECT max(chain_id) FROM (
    SELECT chain_id FROM (
        SELECT chain_id FROM ledger_transactions WHERE village_id = $1 AND chain_id > $2 AND chain_id <= $3
        UNION ALL
        SELECT chain_id FROM postings WHERE village_id = $1 AND chain_id > $2 AND chain_id <= $3
        UNION ALL
        SELECT chain_id FROM audit_events WHERE scope = $1 AND chain_id > $2 AND chain_id <= $3
    ) ids ORDER BY chain_id LIMIT $4
) batch
"""


async def link(conn: asyncpg.Connection, scope: uuid.UUID, upto: int) -> int:
    """Append every record of the scope up to chain_id `upto` to the scope's chain; returns how many."""
    linked = 0
    while True:
        async with conn.transaction():
            # one chainer per scope: a second waits here, then finds the work done
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))", str(scope))
            head = await conn.fetchrow(
                "SELECT seq, chain_id, link_hash FROM chain_links WHERE scope = $1 ORDER BY seq DESC LIMIT 1",
                scope,
            )
            seq, after, previous = (
                (head["seq"], head["chain_id"], bytes(head["link_hash"]))
                if head
                else (
                    0,
                    0,
                    genesis(scope),
                )
            )
            # the batch's last chain_id first, from the indexes alone: hashing stays proportional to the batch
            batch_end = await conn.fetchval(_BATCH_END, scope, after, upto, LINK_BATCH)
            if batch_end is None:
                return linked
            records = await conn.fetch(
                "SELECT chain_id, record_kind, record_key, record_hash FROM jifen_chain_records($1, $2, $3)",
                scope,
                after,
                batch_end,
            )
            if not records:
                return linked
            rows = []
            for record in records:
                seq += 1
                record_hash = bytes(record["record_hash"])
                previous = next_link(previous, record_hash, seq)
                rows.append(
                    (
                        scope,
                        seq,
                        record["chain_id"],
                        record["record_kind"],
                        record["record_key"],
                        record_hash,
                        previous,
                    )
                )
            await conn.copy_records_to_table(
                "chain_links",
                records=rows,
                columns=["scope", "seq", "chain_id", "record_kind", "record_key", "record_hash", "link_hash"],
            )
            linked += len(rows)


async def scopes(conn: asyncpg.Connection) -> list[uuid.UUID]:
    from jifen.audit.repository import TOWN_SCOPE

    rows = await conn.fetch("SELECT id FROM villages ORDER BY code")
    return [TOWN_SCOPE, *(row["id"] for row in rows)]


async def village_names(conn: asyncpg.Connection) -> dict[uuid.UUID, tuple[str, str]]:
    """Every village's (code, name), by id: how a chain scope is named to a person."""
    return {
        row["id"]: (row["code"], row["name"])
        for row in await conn.fetch("SELECT id, code, name FROM villages")
    }


async def link_all(conn: asyncpg.Connection) -> int:
    """Link every scope's new records (what the server's background loop does every few seconds)."""
    upto = await horizon(conn)
    if upto is None:
        return 0
    total = 0
    for scope in await scopes(conn):
        total += await link(conn, scope, upto)
    return total


@dataclass
class Checkpoint:
    id: int
    scope: uuid.UUID
    seq: int
    digest: str
    records: int
    sealed_at: Any


async def seal(conn: asyncpg.Connection, scope: uuid.UUID, sealed_by: uuid.UUID | None) -> Checkpoint | None:
    """Link what is final, then record the chain's head as a checkpoint; None for an empty chain."""
    upto = await horizon(conn)
    if upto is not None:
        await link(conn, scope, upto)
    row = await conn.fetchrow(
        """
        INSERT INTO checkpoints (scope, seq, chain_id, digest, records, sealed_by)
        SELECT scope, seq, chain_id, link_hash, seq, $2 FROM chain_links WHERE scope = $1
         ORDER BY seq DESC LIMIT 1
        RETURNING id, scope, seq, digest, records, sealed_at
        """,
        scope,
        sealed_by,
    )
    if row is None:
        return None
    return Checkpoint(
        row["id"], row["scope"], row["seq"], bytes(row["digest"]).hex(), row["records"], row["sealed_at"]
    )


@dataclass
class Verdict:
    scope: uuid.UUID
    ok: bool = True
    checked: int = 0
    head: str | None = None
    pending: int = 0
    checkpoints: int = 0
    first_bad: dict[str, Any] | None = None
    digest_found: bool | None = None  # when asked about a printed digest: is it a link of this chain?
    accounts_checked: int = 0  # household accounts reconciled with their postings and holds
    first_bad_account: dict[str, Any] | None = None  # the first whose balance disagrees (audit/balances.py)
    seq: int = 0  # the last link verified (0: none)
    last_chain_id: int = 0  # its record's chain_id


_VERIFY = """
SELECT l.seq, coalesce(l.chain_id, r.chain_id) AS chain_id, l.record_kind, l.record_key, l.record_hash,
       l.link_hash, r.record_kind AS now_kind, r.record_key AS now_key, r.record_hash AS now_hash
  FROM (SELECT * FROM chain_links WHERE scope = $1 AND seq > $3) l
  FULL JOIN (SELECT * FROM jifen_chain_records($1, $4, $2)) r ON r.chain_id = l.chain_id
 ORDER BY coalesce(l.chain_id, r.chain_id), l.seq,
          (r.record_kind = l.record_kind AND r.record_key = l.record_key) DESC NULLS LAST
"""


@dataclass(frozen=True)
class Mark:
    """Where a verification of a scope's chain stopped (a row of audit_verifications)."""

    seq: int
    chain_id: int
    link_hash: bytes | None
    ok: bool
    full_scan: bool
    checked: int
    accounts_checked: int
    first_bad: dict[str, Any] | None
    first_bad_account: dict[str, Any] | None
    verified_at: datetime


async def verify(conn: asyncpg.Connection, scope: uuid.UUID, digest: bytes | None = None) -> Verdict:
    """Recompute every linked record's hash and every link; name the first record that breaks the chain.
    Then reconcile every household account's balance with its postings and holds (audit/balances.py).

    With `digest` (a checkpoint as printed on the notice board), also say whether the recomputed chain
    passes through it: a chain rewritten wholesale, hashes and all, cannot.
    """
    return await _verify(conn, scope, digest, None)


async def verify_since(conn: asyncpg.Connection, scope: uuid.UUID, mark: Mark) -> Verdict:
    """Verify only what was linked after `mark` (a verification that passed): that the mark's link is still
    the chain's link at its place, then every later record and link from it, every checkpoint sealed after
    it; and the balances: every household account against its newest posting and its active holds, each new
    posting's running balance against the one before it, and the lifetime earned of the accounts with new
    postings against what was rolled up for them plus what came after (audit/balances.py _RECONCILE_SINCE).
    Its cost follows what is new, not the history.
    A change to a record verified before the mark is found by the next full verification (`verify`)."""
    return await _verify(conn, scope, None, mark)


async def _verify(
    conn: asyncpg.Connection, scope: uuid.UUID, digest: bytes | None, mark: Mark | None
) -> Verdict:
    verdict = Verdict(scope=scope, digest_found=False if digest is not None else None)
    after_seq, after_chain_id = (mark.seq, mark.chain_id) if mark else (0, 0)
    watermark = await conn.fetchval("SELECT max(chain_id) FROM chain_links WHERE scope = $1", scope) or 0
    sealed = {
        row["seq"]: bytes(row["digest"])
        for row in await conn.fetch(
            "SELECT seq, digest FROM checkpoints WHERE scope = $1 AND seq > $2", scope, after_seq
        )
    }
    verdict.checkpoints = len(sealed)
    previous = genesis(scope)
    expected_seq = after_seq

    def broken(row: Any, problem: str, *, intruder: bool = False) -> None:
        if verdict.first_bad is None:
            verdict.ok = False
            kind, key = (
                (row["now_kind"], row["now_key"]) if intruder else (row["record_kind"], row["record_key"])
            )
            verdict.first_bad = {
                "kind": kind or row["now_kind"],
                "id": key or row["now_key"],
                "chain_id": row["chain_id"],
                "seq": row["seq"],
                "problem": problem,
            }

    async with conn.transaction(isolation="repeatable_read", readonly=True):
        if mark is not None and mark.seq:
            stored = await conn.fetchrow(
                "SELECT seq, chain_id, record_kind, record_key, link_hash FROM chain_links"
                " WHERE scope = $1 AND seq = $2",
                scope,
                mark.seq,
            )
            if stored is None or bytes(stored["link_hash"]) != mark.link_hash:
                # the verified past was rewritten: say where the first full verification finds it
                return await _verify(conn, scope, None, None)
            previous = bytes(stored["link_hash"])
        async for row in conn.cursor(_VERIFY, scope, watermark, after_seq, after_chain_id, prefetch=10_000):
            verdict.checked += 1
            if row["seq"] is None:
                broken(row, "inserted: a record in the chain's past that was never linked", intruder=True)
                break
            if row["seq"] == expected_seq:  # a second record claiming the place of one already checked
                broken(row, "inserted: a record claiming the place of a linked one", intruder=True)
                break
            expected_seq += 1
            stored_link = bytes(row["link_hash"])
            problem = _link_problem(row, expected_seq, previous)
            if problem is not None:
                broken(row, problem)
            elif digest is not None and stored_link == digest:
                verdict.digest_found = True
            if row["seq"] in sealed and sealed[row["seq"]] != stored_link:
                broken(row, "checkpoint mismatch: the chain differs from a sealed checkpoint")
            previous = stored_link
            verdict.last_chain_id = row["chain_id"]
            if verdict.first_bad is not None:
                break
        verdict.seq = expected_seq
        verdict.head = previous.hex() if expected_seq else None
        if mark is not None and verdict.checked == 0:
            verdict.last_chain_id = mark.chain_id
        await _pending_and_balances(conn, verdict, watermark, after_chain_id if mark is not None else None)
    return verdict


def _link_problem(row: Any, expected_seq: int, previous: bytes) -> str | None:
    """What is wrong with one linked record, checked against the link before it; None when it holds."""
    if row["seq"] != expected_seq:
        return "reordered: the chain's links are out of order"
    if row["now_hash"] is None:
        return "deleted: the linked record no longer exists"
    if (row["now_kind"], row["now_key"]) != (row["record_kind"], row["record_key"]):
        return "replaced: another record stands in this record's place"
    if bytes(row["now_hash"]) != bytes(row["record_hash"]):
        return "changed: the record's content differs from what was linked"
    if next_link(previous, bytes(row["now_hash"]), row["seq"]) != bytes(row["link_hash"]):
        return "link altered: the chain's hash does not follow from the previous link"
    return None


async def _pending_and_balances(
    conn: asyncpg.Connection, verdict: Verdict, watermark: int, since_chain_id: int | None
) -> None:
    """In the verification's snapshot: what is still to be linked, and whether the balances are what the
    (verified) postings and the holds say."""
    verdict.pending = await conn.fetchval(
        "SELECT count(*) FROM jifen_chain_records($1, $2, 9223372036854775807)", verdict.scope, watermark
    )
    reconciliation = await balances.reconcile(conn, verdict.scope, since_chain_id=since_chain_id)
    verdict.accounts_checked = reconciliation.checked
    if reconciliation.first_bad is not None:
        verdict.ok = False
        verdict.first_bad_account = reconciliation.first_bad


_MARK = """
SELECT seq, chain_id, link_hash, ok, full_scan, checked, accounts_checked, first_bad::text AS first_bad,
       first_bad_account::text AS first_bad_account, verified_at
  FROM audit_verifications WHERE scope = $1 ORDER BY id DESC LIMIT 1
"""


async def last_mark(conn: asyncpg.Connection, scope: uuid.UUID) -> Mark | None:
    row = await conn.fetchrow(_MARK, scope)
    if row is None:
        return None
    return Mark(
        seq=row["seq"],
        chain_id=row["chain_id"],
        link_hash=None if row["link_hash"] is None else bytes(row["link_hash"]),
        ok=row["ok"],
        full_scan=row["full_scan"],
        checked=row["checked"],
        accounts_checked=row["accounts_checked"],
        first_bad=None if row["first_bad"] is None else json.loads(row["first_bad"]),
        first_bad_account=None if row["first_bad_account"] is None else json.loads(row["first_bad_account"]),
        verified_at=row["verified_at"],
    )


async def record_mark(conn: asyncpg.Connection, verdict: Verdict, *, full_scan: bool) -> Mark:
    """Keep where this verification stopped and what it found (audit_verifications, append-only)."""
    row = await conn.fetchrow(
        """
        INSERT INTO audit_verifications (scope, full_scan, seq, chain_id, link_hash, ok, checked,
                                         accounts_checked, first_bad, first_bad_account)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text::jsonb, $10::text::jsonb)
        RETURNING verified_at
        """,
        verdict.scope,
        full_scan,
        verdict.seq,
        verdict.last_chain_id,
        bytes.fromhex(verdict.head) if verdict.head else None,
        verdict.ok,
        verdict.checked,
        verdict.accounts_checked,
        None if verdict.first_bad is None else json.dumps(verdict.first_bad),
        None if verdict.first_bad_account is None else json.dumps(verdict.first_bad_account),
    )
    return mark_of(verdict, full_scan=full_scan, verified_at=row["verified_at"])


def mark_of(verdict: Verdict, *, full_scan: bool, verified_at: datetime) -> Mark:
    """Where `verdict` stopped, as a mark a later verification builds on."""
    return Mark(
        seq=verdict.seq,
        chain_id=verdict.last_chain_id,
        link_hash=bytes.fromhex(verdict.head) if verdict.head else None,
        ok=verdict.ok,
        full_scan=full_scan,
        checked=verdict.checked,
        accounts_checked=verdict.accounts_checked,
        first_bad=verdict.first_bad,
        first_bad_account=verdict.first_bad_account,
        verified_at=verified_at,
    )


# the villages whose chain is linked beyond their newest verification (or that were never verified), furthest
# behind first; a broken verdict stays until a full verification (`jifen audit verify`), so not those
_BEHIND = """
SELECT v.id FROM villages v
 CROSS JOIN LATERAL (SELECT seq FROM chain_links l WHERE l.scope = v.id ORDER BY seq DESC LIMIT 1) h
  LEFT JOIN LATERAL (SELECT seq, ok FROM audit_verifications a
                      WHERE a.scope = v.id ORDER BY id DESC LIMIT 1) m ON true
 WHERE coalesce(m.ok, true) AND h.seq > coalesce(m.seq, 0)
 ORDER BY h.seq - coalesce(m.seq, 0) DESC, v.code
 LIMIT $1
"""


async def behind(conn: asyncpg.Connection, villages: int) -> list[uuid.UUID]:
    """Up to `villages` villages with linked records no verification has checked yet."""
    return [row["id"] for row in await conn.fetch(_BEHIND, villages)]


async def seal_daily(conn: asyncpg.Connection) -> int:
    """Seal a checkpoint for every village whose newest one is a day old (or that has none)."""
    due = await conn.fetch(
        """
        SELECT l.scope FROM (SELECT DISTINCT scope FROM chain_links) l
         WHERE NOT EXISTS (SELECT 1 FROM checkpoints c
                            WHERE c.scope = l.scope AND c.sealed_at > now() - interval '1 day')
        """
    )
    sealed = 0
    for row in due:
        if await seal(conn, row["scope"], None) is not None:
            sealed += 1
    return sealed
