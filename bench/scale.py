"""`python -m bench scale`: a generated county, and the reads people wait for, measured on it (issue 13, item 5).

A fresh embedded PostgreSQL (or `--data-dir` to keep it and measure again without generating), migrated;
`--villages` villages set up through jifen's own services (system accounts, rules, a store and an item),
then `--households` households and `--postings` postings spread evenly over them, written with set-based SQL
(generate_series, INSERT … SELECT) ten villages per statement. Every household's history runs from 2025-01-01
to 2026-11-30 (Asia/Shanghai): awards of 5 or 10 points, every seventh entry a deduction of 3, every tenth a
sale of one item (5 points) at the village store; each entry is one ledger transaction with two postings
(the household's, with its running balance and version, and the issuing, deductions or store account's).

The bulk load runs with `session_replication_role = replica` (no triggers, no foreign-key checks), so it
proves nothing by itself: afterwards the chain is linked by jifen's own chainer (audit/chain.py `link`), and
the county is checked with what `jifen audit verify` runs for every village (every link and record hash,
every household balance reconciled with its postings and holds) plus every transaction's postings summing
to zero with at least two lines, every store item's stock matching its movements, and every foreign key.

Then, per read, p95 (and median) over `--rounds` runs with a different village/household each time:
a village's /admin data (the village, its checkpoints, the audit verdict: incremental and full), rankings for
a month and a year, a household's history page, the town overview, a store's settlement report.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from jifen.kit.embedded import describe, ensure_database, start_embedded
from jifen.kit.migrate import upgrade
from jifen.kit.timeutil import LOCAL_TZ

LIMIT_MS = 100.0
BATCH_VILLAGES = 10  # villages per bulk statement
START = datetime(2025, 1, 1, tzinfo=LOCAL_TZ)
END = datetime(2026, 11, 30, tzinfo=LOCAL_TZ)
ITEM_PRICE = 5
OPENING_STOCK = 1_000_000


@dataclass
class County:
    villages: int
    households: int
    postings: int

    @property
    def per_village(self) -> int:
        return max(1, self.households // self.villages)

    @property
    def entries_per_household(self) -> int:
        """Ledger transactions per household (two postings each)."""
        return max(1, self.postings // (2 * self.per_village * self.villages))


def _pg_url(socket_dir: str, port: int, user: str = "postgres") -> str:
    return f"postgresql://{user}@/jifen?host={socket_dir}&port={port}"


# ------------------------------------------------------------------------------------------------ generation


async def setup_villages(url: str, county: County) -> None:
    """Villages, their rules, a store and an item each, through jifen's services; one user acts for all."""
    from jifen.auth.actor import console_actor
    from jifen.kit.db import create_engine, create_sessionmaker
    from jifen.models import Review
    from jifen.rules.schemas import RuleCreate
    from jifen.rules.service import add_rule
    from jifen.store.schemas import ItemCreate
    from jifen.store.service import create_item, create_store
    from jifen.villages.service import create_village

    engine = create_engine(url, pool_size=1, max_overflow=0, metered=False)
    actor = console_actor("county")
    made = 0
    try:
        while made < county.villages:
            async with create_sessionmaker(engine)() as session, session.begin():
                for n in range(made + 1, min(county.villages, made + 50) + 1):
                    village = await create_village(session, actor, code=f"C{n:04d}", name=f"县域第{n}村")
                    for code, name, points in (
                        ("CLEAN", "门前三包", 5),
                        ("VOLUNTEER", "志愿服务", 10),
                        ("POULTRY", "家禽散养", -3),
                    ):
                        await add_rule(
                            session,
                            actor,
                            village,
                            RuleCreate(
                                code=code,
                                name=name,
                                category="人居环境",
                                points=points,
                                cap=None,
                                evidence_required=False,
                                review=Review.none,
                            ),
                        )
                    store = await create_store(session, actor, village, name="积分超市")
                    await create_item(
                        session,
                        actor,
                        store,
                        ItemCreate(name="洗衣粉", price_points=ITEM_PRICE, stock=OPENING_STOCK),
                    )
                    made += 1
    finally:
        await engine.dispose()


_BATCH = """
CREATE TEMP TABLE batch ON COMMIT DROP AS
SELECT v.id AS village_id, substr(v.code, 2)::int AS village_no,
       (SELECT id FROM accounts WHERE village_id = v.id AND kind = 'issuing') AS issuing,
       (SELECT id FROM accounts WHERE village_id = v.id AND kind = 'deductions') AS deductions,
       s.id AS store_id,
       (SELECT id FROM accounts WHERE village_id = v.id AND store_id = s.id) AS store_account,
       (SELECT id FROM items WHERE village_id = v.id AND store_id = s.id LIMIT 1) AS item_id,
       (SELECT id FROM rules WHERE village_id = v.id AND code = 'CLEAN') AS rule_clean,
       (SELECT id FROM rules WHERE village_id = v.id AND code = 'VOLUNTEER') AS rule_volunteer,
       (SELECT id FROM rules WHERE village_id = v.id AND code = 'POULTRY') AS rule_poultry
  FROM villages v JOIN stores s ON s.village_id = v.id
 WHERE v.code = ANY($1::text[])
"""

# every entry of every household of the batch, with its running balance and its chain position: entry k of
# every household of the county comes before entry k + 1 of any, as when all villages write at once (each
# village's newest record is near the county's newest, as in life; $5 households a village, $6 in all)
_ENTRIES = """
CREATE TEMP TABLE gen ON COMMIT DROP AS
SELECT e.*, (e.k - 1) * $6::bigint + (e.village_no - 1) * $5::bigint + e.household_no AS n
  FROM (
    SELECT x.*, sum(x.amount) OVER (PARTITION BY x.household_id ORDER BY x.k) AS balance_after
      FROM (
        SELECT b.village_id, b.village_no, h.id AS household_id, h.n AS household_no, k.k,
               CASE WHEN k.k % 10 = 0 THEN 'redemption' WHEN k.k % 7 = 0 THEN 'deduction' ELSE 'award' END
                 AS kind,
               CASE WHEN k.k % 10 = 0 THEN -$2::int WHEN k.k % 7 = 0 THEN -3
                    WHEN (k.k + h.n) % 3 = 0 THEN 10 ELSE 5 END AS amount,
               $3::timestamptz + ($4::timestamptz - $3::timestamptz) * ((k.k - 1) + h.frac) / $1::int
                 AS created_at,
               gen_random_uuid() AS tx_id,
               gen_random_uuid() AS record_id
          FROM batch b
          JOIN LATERAL (SELECT hh.id, substr(hh.code, 2)::int AS n,
                               (abs(hashtext(hh.id::text)) % 997) / 997.0 AS frac
                          FROM households hh WHERE hh.village_id = b.village_id) h ON true
         CROSS JOIN generate_series(1, $1::int) AS k(k)
      ) x
  ) e
"""

_LOAD = [
    # ledger transactions, then both postings of each: chain ids interleaved in time order
    """
    INSERT INTO ledger_transactions (village_id, id, kind, memo, actor_id, rule_id, rule_version,
                                     source_type, source_id, created_at, chain_id)
    SELECT g.village_id, g.tx_id, g.kind, NULL, $1::uuid,
           CASE g.kind WHEN 'award' THEN (CASE g.amount WHEN 10 THEN b.rule_volunteer ELSE b.rule_clean END)
                       WHEN 'deduction' THEN b.rule_poultry END,
           CASE WHEN g.kind <> 'redemption' THEN 1 END,
           CASE WHEN g.kind = 'redemption' THEN 'redemption' END,
           CASE WHEN g.kind = 'redemption' THEN g.record_id END,
           g.created_at, $2::bigint + 3 * g.n
      FROM gen g JOIN batch b USING (village_id)
    """,
    """
    INSERT INTO postings (village_id, transaction_id, account_id, amount, balance_after, account_version,
                          created_at, chain_id)
    SELECT g.village_id, g.tx_id, g.household_id, g.amount, g.balance_after, g.k, g.created_at,
           $BASE::bigint + 3 * g.n + 1
      FROM gen g
    UNION ALL
    SELECT g.village_id, g.tx_id,
           CASE g.kind WHEN 'award' THEN b.issuing WHEN 'deduction' THEN b.deductions ELSE b.store_account END,
           -g.amount, NULL, NULL, g.created_at, $BASE::bigint + 3 * g.n + 2
      FROM gen g JOIN batch b USING (village_id)
    """,
    """
    INSERT INTO awards (village_id, id, household_id, rule_id, rule_version, quantity, points, status,
                        transaction_id, submitted_by, created_at)
    SELECT g.village_id, g.record_id, g.household_id,
           CASE g.kind WHEN 'award' THEN (CASE g.amount WHEN 10 THEN b.rule_volunteer ELSE b.rule_clean END)
                       ELSE b.rule_poultry END,
           1, 1, g.amount, 'posted', g.tx_id, $1::uuid, g.created_at
      FROM gen g JOIN batch b USING (village_id)
     WHERE g.kind IN ('award', 'deduction')
    """,
    """
    INSERT INTO redemptions (village_id, id, store_id, household_id, status, total_points, transaction_id,
                             clerk_id, created_at)
    SELECT g.village_id, g.record_id, b.store_id, g.household_id, 'completed', -g.amount, g.tx_id, $1::uuid,
           g.created_at
      FROM gen g JOIN batch b USING (village_id)
     WHERE g.kind = 'redemption'
    """,
    """
    INSERT INTO redemption_lines (village_id, redemption_id, item_id, quantity, price_points, line_points)
    SELECT g.village_id, g.record_id, b.item_id, 1, -g.amount, -g.amount
      FROM gen g JOIN batch b USING (village_id)
     WHERE g.kind = 'redemption'
    """,
    """
    INSERT INTO stock_movements (village_id, item_id, kind, quantity, on_hand_after, actor_id, redemption_id,
                                 created_at)
    SELECT g.village_id, b.item_id, 'sale', -1,
           i.on_hand - row_number() OVER (PARTITION BY g.village_id ORDER BY g.n), $1::uuid, g.record_id,
           g.created_at
      FROM gen g JOIN batch b USING (village_id)
      JOIN items i ON i.village_id = b.village_id AND i.id = b.item_id
     WHERE g.kind = 'redemption'
     ORDER BY g.n
    """,
    """
    UPDATE items i SET on_hand = i.on_hand - s.sold
      FROM (SELECT g.village_id, count(*) AS sold FROM gen g WHERE g.kind = 'redemption' GROUP BY 1) s,
           batch b
     WHERE i.village_id = s.village_id AND b.village_id = s.village_id AND i.id = b.item_id
      
    """,
    # each household's row: what its postings say (posted, lifetime earned, version)
    """
    UPDATE accounts a SET posted = s.posted, lifetime_earned = s.earned, version = s.version
      FROM (SELECT household_id, sum(amount) AS posted,
                   sum(amount) FILTER (WHERE kind = 'award') AS earned, max(k) AS version
              FROM gen GROUP BY household_id) s
     WHERE a.village_id IN (SELECT village_id FROM batch) AND a.id = s.household_id
      
    """,
]


async def load_batch(
    conn: asyncpg.Connection, county: County, codes: list[str], actor: uuid.UUID, base: int
) -> None:
    async with conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(_BATCH, codes)
        await conn.execute(
            """
            INSERT INTO households (village_id, id, code, head_name, grid)
            SELECT b.village_id, gen_random_uuid(), 'H' || lpad(i::text, 5, '0'), '户主' || i,
                   '第' || (i % 10 + 1) || '网格'
              FROM batch b CROSS JOIN generate_series(1, $1::int) AS i
            """,
            county.per_village,
        )
        # the count the (disabled) households trigger keeps
        await conn.execute(
            "INSERT INTO village_households AS c (village_id, households) SELECT village_id, $1::bigint"
            " FROM batch ON CONFLICT (village_id) DO UPDATE SET households = c.households + excluded.households",
            county.per_village,
        )
        await conn.execute(
            "INSERT INTO accounts (village_id, id, kind, household_id) SELECT h.village_id, h.id, 'household',"
            " h.id FROM households h WHERE h.village_id IN (SELECT village_id FROM batch)"
        )
        await conn.execute(
            _ENTRIES,
            county.entries_per_household,
            ITEM_PRICE,
            START,
            END,
            county.per_village,
            county.per_village * county.villages,
        )
        for statement in _LOAD:
            if "$BASE" in statement:
                await conn.execute(statement.replace("$BASE", "$1"), base)
            else:
                args = [actor, base][: 2 if "$2" in statement else 1 if "$1" in statement else 0]
                await conn.execute(statement, *args)


async def generate(url: str, county: County, workers: int = 2) -> dict[str, float]:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    await setup_villages(url, county)
    timings["villages (services)"] = time.perf_counter() - started

    conn = await asyncpg.connect(url)
    actor: uuid.UUID = await conn.fetchval(
        "INSERT INTO users (id, username, password_hash, display_name) VALUES (gen_random_uuid(),"
        " 'county-cadre', 'x', '县域压测') RETURNING id"
    )
    # the county's block of chain ids, placed by load_batch in time order across every village
    base: int = await conn.fetchval("SELECT nextval('jifen_chain_seq')")
    entries = county.entries_per_household * county.per_village * county.villages
    await conn.execute("SELECT setval('jifen_chain_seq', $1::bigint)", base + 3 * entries + 3)
    await conn.close()
    codes = [f"C{n:04d}" for n in range(1, county.villages + 1)]
    batches = [codes[i : i + BATCH_VILLAGES] for i in range(0, len(codes), BATCH_VILLAGES)]
    queue: asyncio.Queue[list[str]] = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)
    done = 0
    started = time.perf_counter()

    async def worker() -> None:
        nonlocal done
        c = await asyncpg.connect(url, server_settings={"jit": "off", "work_mem": "256MB"})
        try:
            while not queue.empty():
                batch = queue.get_nowait()
                await load_batch(c, county, batch, actor, base)
                done += len(batch)
                if len(batches) > 4 and done % (BATCH_VILLAGES * 5) == 0:
                    print(f"  … {done}/{county.villages} villages ({time.perf_counter() - started:.0f} s)")
        finally:
            await c.close()

    await asyncio.gather(*(worker() for _ in range(workers)))
    timings["households, transactions, postings (set-based SQL)"] = time.perf_counter() - started

    started = time.perf_counter()
    conn = await asyncpg.connect(url)
    await conn.execute("VACUUM ANALYZE")
    await conn.close()
    timings["vacuum analyze"] = time.perf_counter() - started

    started = time.perf_counter()
    await link_county(url, workers)
    timings["chain linked (jifen's chainer)"] = time.perf_counter() - started
    started = time.perf_counter()
    await roll_up(url)
    timings["town figures rolled up (the same background pass)"] = time.perf_counter() - started
    return timings


async def roll_up(url: str) -> None:
    """What the chainer's background pass does after linking: the town overview's figures, up to the horizon."""
    from jifen.audit import chain
    from jifen.town import repository as town

    conn = await asyncpg.connect(url, server_settings={"jit": "off"})
    try:
        upto = await chain.horizon(conn)
        assert upto is not None
        while await town.roll_up(conn, upto):
            pass
        await conn.execute(
            "VACUUM ANALYZE village_period_figures, village_period_participants, household_period_points"
        )
    finally:
        await conn.close()


async def for_each_scope(
    url: str,
    scopes: list[uuid.UUID],
    workers: int,
    work: Callable[[asyncpg.Connection, uuid.UUID], Awaitable[Any]],
) -> list[Any]:
    """work(connection, scope) for every scope, on `workers` connections at once; the results."""
    queue: asyncio.Queue[uuid.UUID] = asyncio.Queue()
    for scope in scopes:
        queue.put_nowait(scope)
    results: list[Any] = []

    async def worker() -> None:
        c = await asyncpg.connect(url, server_settings={"jit": "off"})
        try:
            while not queue.empty():
                results.append(await work(c, queue.get_nowait()))
        finally:
            await c.close()

    await asyncio.gather(*(worker() for _ in range(workers)))
    return results


async def link_county(url: str, workers: int) -> None:
    from jifen.audit import chain

    conn = await asyncpg.connect(url)
    upto = await chain.horizon(conn)
    assert upto is not None
    scopes = await chain.scopes(conn)
    await conn.close()
    await for_each_scope(url, scopes, workers, lambda c, scope: chain.link(c, scope, upto))
    c = await asyncpg.connect(url)
    await c.execute("VACUUM ANALYZE chain_links")
    await c.close()


# ------------------------------------------------------------------------------------------------ checking

_CHECKS = {
    "transactions that do not balance or have fewer than two postings": """
        SELECT count(*) FROM (
            SELECT t.village_id, t.id FROM ledger_transactions t
              LEFT JOIN postings p ON p.village_id = t.village_id AND p.transaction_id = t.id
             GROUP BY t.village_id, t.id HAVING coalesce(sum(p.amount), 0) <> 0 OR count(p.id) < 2) bad
    """,
    "postings without their transaction or account": """
        SELECT count(*) FROM postings p
         WHERE NOT EXISTS (SELECT 1 FROM ledger_transactions t
                            WHERE t.village_id = p.village_id AND t.id = p.transaction_id)
            OR NOT EXISTS (SELECT 1 FROM accounts a WHERE a.village_id = p.village_id AND a.id = p.account_id)
    """,
    "household accounts below zero": "SELECT count(*) FROM accounts WHERE posted - held < 0",
    "items whose stock disagrees with their movements": """
        SELECT count(*) FROM items i
         WHERE i.on_hand <> (SELECT coalesce(sum(m.quantity), 0) FROM stock_movements m
                              WHERE m.village_id = i.village_id AND m.item_id = i.id)
    """,
}


_FOREIGN_KEYS = """
SELECT c.conname, c.conrelid::regclass::text AS tbl, c.confrelid::regclass::text AS ref,
       array(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, o)
               JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o) AS cols,
       array(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, o)
               JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.o) AS ref_cols
  FROM pg_constraint c WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
"""


async def check(url: str, workers: int = 2) -> dict[str, Any]:
    """What `jifen audit verify` checks, for every village, and the ledger's other invariants."""
    from jifen.audit import chain
    from jifen.audit import service as audit_service

    conn = await asyncpg.connect(url, server_settings={"jit": "off", "work_mem": "256MB"})
    problems = {name: int(await conn.fetchval(sql)) for name, sql in _CHECKS.items()}
    # the bulk load skipped foreign-key checks: look for an orphan of every foreign key
    for row in await conn.fetch(_FOREIGN_KEYS):
        match = " AND ".join(f"r.{c} = t.{p}" for c, p in zip(row["ref_cols"], row["cols"], strict=True))
        present = " AND ".join(f"t.{c} IS NOT NULL" for c in row["cols"])
        orphans = await conn.fetchval(
            f"SELECT count(*) FROM {row['tbl']} t WHERE {present}"
            f" AND NOT EXISTS (SELECT 1 FROM {row['ref']} r WHERE {match})"
        )
        problems[f"rows breaking {row['conname']}"] = int(orphans)
    scopes = await chain.scopes(conn)
    await conn.close()
    # each village's verification is kept as its verified-up-to mark, as the CLI does
    verdicts: list[Any] = await for_each_scope(url, scopes, workers, audit_service.verify_scope)
    bad = [v for v in verdicts if not v.ok or v.pending]
    problems["villages whose chain or balances do not verify"] = len(bad)
    return {
        "problems": problems,
        "records": sum(v.checked for v in verdicts),
        "accounts": sum(v.accounts_checked for v in verdicts),
        "first_bad": bad[0] if bad else None,
    }


# ------------------------------------------------------------------------------------------------ measuring


@dataclass
class Read:
    name: str
    median_ms: float
    p95_ms: float


async def _timed(rounds: int, op: Callable[[int], Awaitable[Any]]) -> tuple[float, float]:
    await op(0)  # warm: the plan cache and the pages a first visitor pulls in
    timings = []
    for i in range(rounds):
        started = time.perf_counter()
        await op(i + 1)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return statistics.median(timings), timings[max(0, int(len(timings) * 0.95) - 1)]


async def measure(url: str, rounds: int) -> list[Read]:
    """Every read through the same service and repository functions the API and the pages call."""
    from jifen.audit import chain
    from jifen.audit import repository as audit_repository
    from jifen.audit import service as audit_service
    from jifen.funding import service as funding
    from jifen.kit.db import create_engine, create_sessionmaker
    from jifen.kit.periods import parse_period as local_period
    from jifen.ledger import repository as ledger_repository
    from jifen.models import Store, Village
    from jifen.rankings import service as rankings
    from jifen.town import repository as town

    engine = create_engine(url, pool_size=2, max_overflow=0, metered=False)
    sessions = create_sessionmaker(engine)
    conn = await asyncpg.connect(url, server_settings={"jit": "off", "timezone": "UTC"})
    villages = [r["id"] for r in await conn.fetch("SELECT id FROM villages ORDER BY code")]
    stores = [(r["village_id"], r["id"]) for r in await conn.fetch("SELECT village_id, id FROM stores")]
    rng = random.Random(13)
    households = [
        (r["village_id"], r["id"])
        for r in await conn.fetch("SELECT village_id, id FROM households WHERE code IN ('H00001', 'H00250')")
    ]
    for row in await conn.fetch(  # a village never verified is verified in full once, first
        "SELECT id FROM villages v WHERE NOT EXISTS (SELECT 1 FROM audit_verifications a WHERE a.scope = v.id)"
    ):
        await audit_service.verify_scope(conn, row["id"])
    month, year = rankings.parse_period("2026-11"), rankings.parse_period("2026")

    def window(period: Any) -> tuple[datetime, datetime]:
        assert period.start is not None
        assert period.end is not None
        return period.start, period.end

    reads: list[Read] = []

    async def session_op(body: Callable[[Any, int], Awaitable[Any]]) -> Callable[[int], Awaitable[Any]]:
        async def op(i: int) -> Any:
            async with sessions() as session, session.begin():
                return await body(session, i)

        return op

    def village(i: int) -> uuid.UUID:
        chosen: uuid.UUID = villages[rng.randrange(len(villages))] if i else villages[0]
        return chosen

    async def admin(session: Any, i: int) -> Any:
        village_id = village(i)
        await session.get(Village, village_id)
        await audit_repository.checkpoints(session, village_id)
        cached = await audit_service.cached_verdict(conn, village_id)
        assert cached.verdict.ok, cached.verdict
        return cached

    async def history(session: Any, i: int) -> Any:
        village_id, household_id = households[rng.randrange(len(households))]
        return await ledger_repository.entries(session, village_id, household_id, before=None, limit=51)

    async def settlement(session: Any, i: int) -> Any:
        store = await session.get(Store, stores[rng.randrange(len(stores))])
        return await funding.settlement_report(session, store, local_period("2026-11"))

    plan: list[tuple[str, Callable[[Any, int], Awaitable[Any]]]] = [
        ("village /admin data (village, checkpoints, cached audit verdict + what is new)", admin),
        ("ranking, a month (2026-11)", lambda s, i: rankings.ranking(s, village(i), month, None)),
        ("ranking, a year (2026)", lambda s, i: rankings.ranking(s, village(i), year, None)),
        ("household history page (50 newest entries)", history),
        ("town overview, every village, a month", lambda s, i: town.overview(s, "2026-11", *window(month))),
        ("town overview, every village, a year", lambda s, i: town.overview(s, "2026", *window(year))),
        ("store settlement report, a month", settlement),
    ]
    for name, body in plan:
        median, p95 = await _timed(rounds, await session_op(body))
        reads.append(Read(name, median, p95))

    median, p95 = await _verify_after_writes(url, conn, villages, rounds, rng)
    reads.append(
        Read(f"cached audit verdict after {NEW_RECORDS} new awards (incremental verify)", median, p95)
    )

    async def full_verify(i: int) -> Any:
        return await chain.verify(conn, village(i))

    median, p95 = await _timed(max(3, rounds // 4), full_verify)
    reads.append(Read("audit verify of one village, full re-scan", median, p95))
    await conn.close()
    await engine.dispose()
    return reads


NEW_RECORDS = 100  # awards written between two verifications


async def write_awards(url: str, conn: asyncpg.Connection, village_id: uuid.UUID, rng: random.Random) -> None:
    """NEW_RECORDS awards of 5 points to random households of the village, through jifen's ledger service
    (one transaction each), then linked and rolled up as the background pass does before it verifies."""
    from jifen.audit import chain
    from jifen.auth.actor import console_actor
    from jifen.kit.db import create_engine, create_sessionmaker
    from jifen.ledger import service as ledger
    from jifen.models import AccountKind, TransactionKind
    from jifen.town import repository as town

    households = [
        r["id"] for r in await conn.fetch("SELECT id FROM households WHERE village_id = $1", village_id)
    ]
    engine = create_engine(url, pool_size=1, max_overflow=0, metered=False)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            issuing = (await ledger.system_accounts(session, village_id))[AccountKind.issuing]
            for _ in range(NEW_RECORDS):
                household = households[rng.randrange(len(households))]
                lines = [ledger.Line(household, 5, earned=5), ledger.Line(issuing, -5)]
                draft = ledger.Draft(kind=TransactionKind.award, lines=lines, memo="县域压测")
                await ledger.post(session, console_actor("county"), village_id, [draft])
    finally:
        await engine.dispose()
    upto = await chain.horizon(conn)
    assert upto is not None
    await chain.link(conn, village_id, upto)
    await town.roll_up(conn, upto)


async def _verify_after_writes(
    url: str, conn: asyncpg.Connection, villages: list[uuid.UUID], rounds: int, rng: random.Random
) -> tuple[float, float]:
    """The admin page's cached verdict with records written since the village's last verification: each
    round writes and links NEW_RECORDS awards in a random village (`write_awards`), then times
    `cached_verdict` alone."""
    from jifen.audit import service as audit_service
    from jifen.kit.logging import configure_logging

    configure_logging(json=False, level="WARNING")  # not a line per award
    timings = []
    for i in range(rounds + 1):
        village_id = villages[rng.randrange(len(villages))]
        await audit_service.cached_verdict(conn, village_id)  # verified up to now
        await write_awards(url, conn, village_id, rng)
        started = time.perf_counter()
        cached = await audit_service.cached_verdict(conn, village_id)
        elapsed = (time.perf_counter() - started) * 1000
        assert cached.verdict.ok, cached.verdict
        assert cached.verdict.checked >= NEW_RECORDS, cached.verdict
        if i:  # the first round warms up
            timings.append(elapsed)
    timings.sort()
    return statistics.median(timings), timings[max(0, int(len(timings) * 0.95) - 1)]


# ------------------------------------------------------------------------------------------------ running


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench scale", description=__doc__.split("\n")[0])
    parser.add_argument("--villages", type=int, default=500)
    parser.add_argument("--households", type=int, default=250_000)
    parser.add_argument("--postings", type=int, default=25_000_000)
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_SCALE_ROUNDS", "40")))
    parser.add_argument("--workers", type=int, default=2, help="connections generating and checking")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="keep the county here; a second run measures it again without generating",
    )
    parser.add_argument(
        "--skip-check", action="store_true", help="measure only (the county was checked before)"
    )
    return parser.parse_args(argv)


async def _main(args: argparse.Namespace) -> int:
    county = County(args.villages, args.households, args.postings)
    keep = args.data_dir is not None
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="jifen-scale-"))
    server = start_embedded(
        data_dir,
        cleanup_mode=None if keep else "delete",
        settings_sql="ALTER SYSTEM SET max_wal_size = '8GB'; ALTER SYSTEM SET checkpoint_timeout = '30min';"
        " SELECT pg_reload_conf();",
    )
    try:
        ensure_database(server)
        db = describe(server)
        url = _pg_url(db.socket_dir, db.port)
        await asyncio.to_thread(upgrade, url)
        conn = await asyncpg.connect(url)
        existing = await conn.fetchval("SELECT count(*) FROM villages")
        await conn.close()
        print(
            f"county: {county.villages} villages, {county.per_village * county.villages:,} households, "
            f"{2 * county.entries_per_household * county.per_village * county.villages:,} postings"
        )
        if existing == 0:
            started = time.perf_counter()
            timings = await generate(url, county, args.workers)
            for step, seconds in timings.items():
                print(f"  {step:<52} {seconds:8.1f} s")
            print(f"  {'generated in':<52} {time.perf_counter() - started:8.1f} s")
        else:
            print(f"  reusing the county in {data_dir} ({existing} villages)")
        if not args.skip_check:
            started = time.perf_counter()
            verdict = await check(url, args.workers)
            print(
                f"  checked in {time.perf_counter() - started:.1f} s: {verdict['records']:,} chained records,"
                f" {verdict['accounts']:,} household balances"
            )
            failed = {name: n for name, n in verdict["problems"].items() if n}
            if failed:
                print(f"  INVARIANTS BROKEN: {failed}; first bad village: {verdict['first_bad']}")
                return 1
            print("  every invariant holds")
        conn = await asyncpg.connect(url)
        size = await conn.fetchval("SELECT pg_size_pretty(pg_database_size('jifen'))")
        await conn.close()
        print(f"  database size {size}")
        print(f"\n{'read':<84} {'median':>8} {'p95':>8}")
        slow = 0
        await roll_up(url)  # current, as the background pass keeps it
        for read in await measure(url, args.rounds):
            mark = "" if read.p95_ms <= LIMIT_MS or "full re-scan" in read.name else "  over 100 ms"
            slow += bool(mark)
            print(f"{read.name:<84} {read.median_ms:6.1f}ms {read.p95_ms:6.1f}ms{mark}")
        return 1 if slow else 0
    finally:
        if not keep:
            server.cleanup()  # type: ignore[attr-defined]
            shutil.rmtree(data_dir, ignore_errors=True)


def run(argv: list[str]) -> int:
    return asyncio.run(_main(_parse(argv)))
