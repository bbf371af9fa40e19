"""`make bench`: the ledger under load, each figure next to a raw-SQL baseline taken in the same run.

A fresh embedded PostgreSQL, one village with 10,000 households, jifen served by `jifen serve --workers 2`.
Scenarios (issue #3): single awards over HTTP at 1, 8 and 32 clients; one batch of 10,000 awards; 32 clients
debiting one household; balance reads under concurrent awards. Issue #6: counter redemptions (积分超市) at 1, 8
and 32 clients, one item of a small catalogue per basket. The baseline does the same writes with
plain SQL through asyncpg on the same schema (same triggers and constraints), so the ratio shows what
jifen's HTTP, validation, auth, idempotency and ORM layers cost on this machine today.

Issue #13: two more baselines on minimal schemas, and jifen's ledger_post alone, all driven by pgbench in the
same run (bench/baselines.py); every write figure is also given as a ratio to the one-statement award (the
physical limit) and to the peer-style transfer function, at the same number of clients.
"""

from __future__ import annotations

import asyncio
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from bench import baselines
from bench.http import Connection
from jifen.kit.embedded import APP_ROLE, describe, ensure_database, start_embedded
from jifen.kit.migrate import upgrade

HOUSEHOLDS = 10_000
DURATION = float(os.environ.get("BENCH_SECONDS", "4"))
WORKERS = os.environ.get("BENCH_WORKERS", "2")
SERVER = os.environ.get(
    "BENCH_SERVER", "granian"
)  # as `jifen serve`; BENCH_SERVER=uvicorn: `--server uvicorn`
PASSWORD = "bench-password-1"
# the catalogue the counter sells from; a basket is one unit of one of them. With 32 clients on 8 items,
# four sales queue on each item's row (BENCH_STORE_ITEMS=64: the same sales spread over more rows)
STORE_ITEMS = int(os.environ.get("BENCH_STORE_ITEMS", "8"))
# the counter's measurements are shorter, so that the whole `make bench` stays within 5 minutes
REDEEM_SECONDS = float(os.environ.get("BENCH_REDEEM_SECONDS", min(DURATION, 3.0)))
# each pgbench baseline (whole seconds): 14 of them, so they stay short
BASELINE_SECONDS = float(os.environ.get("BENCH_BASELINE_SECONDS", min(DURATION, 2.0)))
QUICK = os.environ.get("BENCH_QUICK") == "1"
# the connections each server process keeps (JIFEN_DB_POOL_SIZE; its overflow is the setting's default)
POOL_SIZE = os.environ.get("BENCH_POOL_SIZE", "20")


@dataclass
class Result:
    name: str
    ops: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _pg_url(db: Any, user: str, database: str) -> str:
    return f"postgresql://{user}@/{database}?host={db.socket_dir}&port={db.port}"


async def timed_clients(
    clients: int, op: Callable[[int, int], Awaitable[bool]], *, duration: float = DURATION
) -> Result:
    """Run `clients` loops calling op(client, i) for `duration` seconds; count successes and latencies."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration

    async def loop(client: int) -> int:
        nonlocal errors
        done = 0
        i = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            ok = await op(client, i)
            latencies.append(time.perf_counter() - started)
            i += 1
            if ok:
                done += 1
            else:
                errors += 1
        return done

    started = time.perf_counter()
    counts = await asyncio.gather(*(loop(c) for c in range(clients)))
    return Result("", sum(counts), time.perf_counter() - started, latencies, errors)


class Bench:
    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="jifen-bench-"))
        self.server = start_embedded(self.tmp, cleanup_mode="delete")
        ensure_database(self.server)
        self.db = describe(self.server)
        self.owner_url = _pg_url(self.db, "postgres", "jifen")
        self.app_url = _pg_url(self.db, APP_ROLE, "jifen")
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.results: list[tuple[str, Result, Result | None]] = []
        # (baseline, clients) -> result: "one", "peer", "post" (jifen's ledger_post alone), "floor" (the posting
        # floor), "award" (award_submit alone), "peer_hot"
        self.baselines: dict[tuple[str, int], Result] = {}
        self.secret = uuid.uuid4().hex * 2

    # ---------------------------------------------------------------- setup
    async def seed(self) -> None:
        await asyncio.to_thread(upgrade, self.owner_url)
        from jifen.auth.actor import console_actor
        from jifen.kit.db import create_engine, create_sessionmaker
        from jifen.models import Role
        from jifen.rules.schemas import RuleCreate
        from jifen.rules.service import add_rule
        from jifen.store.schemas import ItemCreate
        from jifen.store.service import create_item, create_store
        from jifen.users.schemas import RoleGrantIn
        from jifen.users.service import create_user
        from jifen.villages.service import create_village

        engine = create_engine(self.owner_url, pool_size=1, max_overflow=0)
        async with create_sessionmaker(engine)() as session, session.begin():
            actor = console_actor("bench")
            village = await create_village(session, actor, code="BENCH", name="压测村")
            self.village_id = village.id

            async def rule(code: str, name: str, category: str, points: int) -> uuid.UUID:
                terms = RuleCreate(code=code, name=name, category=category, points=points)
                return (await add_rule(session, actor, village, terms)).rule.id

            self.plus_rule = await rule("CLEAN", "门前三包", "人居环境", 5)
            self.minus_rule = await rule("POULTRY", "家禽散养", "人居环境", -1)
            self.fund_rule = await rule("STOREFUND", "积分超市开张奖励", "其他", 1000)
            store = await create_store(session, actor, village, name="压测积分超市")
            self.store_id = store.id
            self.items = [
                (
                    await create_item(
                        session, actor, store, ItemCreate(name=f"商品{n}", price_points=1, stock=1_000_000)
                    )
                ).id
                for n in range(STORE_ITEMS)
            ]
            await create_user(
                session,
                actor,
                username="bench-clerk",
                password=PASSWORD,
                display_name="压测店员",
                roles=[RoleGrantIn(role=Role.clerk, village_id=village.id, store_id=store.id)],
            )
            await create_user(
                session,
                actor,
                username="bench-cadre",
                password=PASSWORD,
                display_name="压测网格员",
                roles=[RoleGrantIn(role=Role.cadre, village_id=village.id)],
            )
        await engine.dispose()
        owner = await asyncpg.connect(self.owner_url)
        await owner.execute(
            """
            INSERT INTO households (village_id, id, code, head_name, grid)
            SELECT $1, md5('bench-household-' || i)::uuid, 'B-' || lpad(i::text, 5, '0'), '户主' || i,
                   '网格' || (i % 10)
              FROM generate_series(1, $2) AS i;
            """,
            self.village_id,
            HOUSEHOLDS,
        )
        await owner.execute(
            "INSERT INTO accounts (village_id, id, kind, household_id) "
            "SELECT village_id, id, 'household', id FROM households WHERE village_id = $1",
            self.village_id,
        )
        rows = await owner.fetch(
            "SELECT id FROM households WHERE village_id = $1 ORDER BY code", self.village_id
        )
        self.households = [r["id"] for r in rows]
        self.issuing = await owner.fetchval(
            "SELECT id FROM accounts WHERE village_id = $1 AND kind = 'issuing'", self.village_id
        )
        self.deductions = await owner.fetchval(
            "SELECT id FROM accounts WHERE village_id = $1 AND kind = 'deductions'", self.village_id
        )
        self.actor = await owner.fetchval("SELECT id FROM users WHERE username = 'bench-cadre'")
        await owner.execute("VACUUM ANALYZE")
        await owner.close()

    async def link_backlog(self) -> None:
        """Link what the baselines wrote into the village's chain now, so that the server's chainer does not
        do it during the first measurements."""
        from jifen.audit import chain

        conn = await asyncpg.connect(self.app_url)
        try:
            started = time.perf_counter()
            linked = await chain.link_all(conn)
            print(
                f"      (the baselines' {linked:,} records linked in {time.perf_counter() - started:.1f} s)"
            )
        finally:
            await conn.close()

    def serve(
        self, chain_interval: float = 5.0, *, server: str = SERVER, extra_env: dict[str, str] | None = None
    ) -> None:
        env = {
            **os.environ,
            "JIFEN_ENV": "prod",
            "JIFEN_SECRET_KEY": self.secret,
            "JIFEN_DATABASE_URL": self.app_url,
            "JIFEN_LOG_LEVEL": "WARNING",
            "JIFEN_DB_POOL_SIZE": POOL_SIZE,
            "JIFEN_CHAIN_INTERVAL_SECONDS": str(chain_interval),
            **(extra_env or {}),  # a variant's own settings win
        }
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jifen",
                "serve",
                "--port",
                str(self.port),
                "--workers",
                WORKERS,
                "--server",
                server,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # a loaded machine can take well over 20 s to start two workers: wait up to 90 s, then say so
        deadline = time.monotonic() + 90
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("jifen serve did not start listening") from None
                time.sleep(0.1)
        time.sleep(1.0)

    async def login(self, username: str = "bench-cadre") -> None:
        self.token = await self.token_for(username)

    async def token_for(self, username: str) -> str:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        form = f"username={username}&password={PASSWORD}".encode()
        writer.write(
            b"POST /api/v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            + f"Content-Length: {len(form)}\r\n\r\n".encode()
            + form
        )
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length"))[15:])
        import json

        token: str = json.loads(await reader.readexactly(length))["access_token"]
        writer.close()
        return token

    def stop_server(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def stop(self) -> None:
        self.stop_server()
        self.server.cleanup()  # type: ignore[attr-defined]
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ---------------------------------------------------------------- helpers
    async def http_pool(self, n: int) -> list[Connection]:
        return [await Connection("127.0.0.1", self.port).open() for _ in range(n)]

    def auth(self, key: str | None = None, token: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        if key:
            headers["Idempotency-Key"] = key
        return headers

    async def sql_award(self, conn: asyncpg.Connection, household: uuid.UUID, points: int) -> bool:
        """The baseline: one award as a thin raw-SQL implementation would write it."""
        tx = uuid.uuid4()
        try:
            async with conn.transaction():
                balance = await conn.fetchrow(
                    "UPDATE accounts SET posted = posted + $3, lifetime_earned = lifetime_earned + greatest($3, 0),"
                    " version = version + 1 WHERE village_id = $1 AND id = $2 RETURNING posted, version",
                    self.village_id,
                    household,
                    points,
                )
                await conn.execute(
                    "INSERT INTO ledger_transactions (village_id, id, kind, memo, actor_id, rule_id, rule_version)"
                    " VALUES ($1, $2, $3, 'sql', $4, $5, 1)",
                    self.village_id,
                    tx,
                    "award" if points > 0 else "deduction",
                    self.actor,
                    self.plus_rule if points > 0 else self.minus_rule,
                )
                await conn.execute(
                    "INSERT INTO postings (village_id, transaction_id, account_id, amount, balance_after,"
                    " account_version) VALUES ($1, $2, $3, $4, $5, $6), ($1, $2, $7, $8, NULL, NULL)",
                    self.village_id,
                    tx,
                    household,
                    points,
                    balance["posted"],
                    balance["version"],
                    self.issuing if points > 0 else self.deductions,
                    -points,
                )
                await conn.execute(
                    "INSERT INTO awards (village_id, id, household_id, rule_id, rule_version, quantity, points,"
                    " status, transaction_id, submitted_by) VALUES ($1, $2, $3, $4, 1, 1, $5, 'posted', $6, $7)",
                    self.village_id,
                    uuid.uuid4(),
                    household,
                    self.plus_rule if points > 0 else self.minus_rule,
                    points,
                    tx,
                    self.actor,
                )
            return True
        except asyncpg.CheckViolationError:
            return False

    async def sql_redemption(self, conn: asyncpg.Connection, household: uuid.UUID, item: uuid.UUID) -> bool:
        """The baseline: one counter sale of one unit as a thin raw-SQL implementation would write it."""
        tx, redemption = uuid.uuid4(), uuid.uuid4()
        try:
            async with conn.transaction():
                row = await conn.fetchrow(
                    "SELECT price_points, on_hand FROM items WHERE village_id = $1 AND id = $2 FOR UPDATE",
                    self.village_id,
                    item,
                )
                price = row["price_points"]
                balance = await conn.fetchrow(
                    "UPDATE accounts SET posted = posted - $3, version = version + 1"
                    " WHERE village_id = $1 AND id = $2 AND posted - held >= $3 RETURNING posted, version",
                    self.village_id,
                    household,
                    price,
                )
                if balance is None:
                    raise asyncpg.CheckViolationError("insufficient points")
                await conn.execute(
                    "INSERT INTO ledger_transactions (village_id, id, kind, memo, actor_id, source_type, source_id)"
                    " VALUES ($1, $2, 'redemption', 'sql', $3, 'redemption', $4)",
                    self.village_id,
                    tx,
                    self.clerk,
                    redemption,
                )
                await conn.execute(
                    "INSERT INTO postings (village_id, transaction_id, account_id, amount, balance_after,"
                    " account_version) VALUES ($1, $2, $3, $4, $5, $6), ($1, $2, $7, $8, NULL, NULL)",
                    self.village_id,
                    tx,
                    household,
                    -price,
                    balance["posted"],
                    balance["version"],
                    self.store_id,
                    price,
                )
                await conn.execute(
                    "INSERT INTO redemptions (village_id, id, store_id, household_id, total_points,"
                    " transaction_id, clerk_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    self.village_id,
                    redemption,
                    self.store_id,
                    household,
                    price,
                    tx,
                    self.clerk,
                )
                await conn.execute(
                    "INSERT INTO redemption_lines (village_id, redemption_id, item_id, quantity, price_points,"
                    " line_points) VALUES ($1, $2, $3, 1, $4::integer, $4::integer)",
                    self.village_id,
                    redemption,
                    item,
                    price,
                )
                on_hand = await conn.fetchval(
                    "UPDATE items SET on_hand = on_hand - 1 WHERE village_id = $1 AND id = $2 RETURNING on_hand",
                    self.village_id,
                    item,
                )
                await conn.execute(
                    "INSERT INTO stock_movements (village_id, item_id, kind, quantity, on_hand_after, actor_id,"
                    " redemption_id) VALUES ($1, $2, 'sale', -1, $3, $4, $5)",
                    self.village_id,
                    item,
                    on_hand,
                    self.clerk,
                    redemption,
                )
            return True
        except asyncpg.CheckViolationError:
            return False

    def record(self, name: str, jifen: Result, sql: Result | None, clients: int | None = 32) -> None:
        """Print one scenario; `clients`: the baselines it is compared with (None: no write to compare)."""
        jifen.name = name
        self.results.append((name, jifen, sql))
        line = f"  {name:<44} jifen {jifen.rate:8.1f}/s p50 {jifen.pct(0.5):6.1f} ms p99 {jifen.pct(0.99):6.1f} ms"
        if sql is not None:
            line += (
                f" | SQL {sql.rate:8.1f}/s p99 {sql.pct(0.99):6.1f} ms"
                f" | ratio {jifen.rate / sql.rate if sql.rate else float('nan'):5.2f}"
            )
        line += self.versus_baselines(jifen.rate, clients)
        print(line, flush=True)

    def versus_baselines(self, rate: float, clients: int | None) -> str:
        one, peer = self.baselines.get(("one", clients or 0)), self.baselines.get(("peer", clients or 0))
        if one is None or peer is None:
            return ""
        return f" | vs one statement {rate / one.rate:5.3f}, vs peer {rate / peer.rate:5.2f}"

    def baseline_databases(self) -> dict[str, str]:
        """The peers' database seeded, the bench's scratch functions in jifen's; what the pgbench scripts on
        jifen's schema name (`-D`)."""
        from jifen.kit.embedded import psql

        psql(self.server, f"CREATE DATABASE {baselines.PEERS_DATABASE}")
        psql(
            self.server,
            baselines.PEERS_SCHEMA + baselines.peers_seed_sql(HOUSEHOLDS),
            database=baselines.PEERS_DATABASE,
        )
        psql(self.server, baselines.POSTING_FLOOR_SQL.format(app=APP_ROLE), database="jifen")
        credential = psql(
            self.server, f"SELECT credential_version FROM users WHERE id = '{self.actor}'", database="jifen"
        ).strip()
        return {
            "village": str(self.village_id),
            "actor": str(self.actor),
            "credential": credential,
            "rule": str(self.plus_rule),
            "issuing": str(self.issuing),
        }

    def measure_baselines(self) -> None:
        """The honest baselines (issue #13): a one-statement award and a peer-style transfer function on
        minimal schemas in their own database, at 1, 8 and 32 clients, and on jifen's schema ledger_post, the
        posting floor and award_submit alone."""
        jifen = self.baseline_databases()
        seconds = max(1, round(BASELINE_SECONDS))
        runs: list[tuple[str, int, str, str, str, dict[str, str]]] = []
        for clients in (1, 8, 32):
            runs.append(
                (
                    "one",
                    clients,
                    "postgres",
                    baselines.PEERS_DATABASE,
                    baselines.script_one_statement(HOUSEHOLDS),
                    {},
                )
            )
            runs.append(
                (
                    "peer",
                    clients,
                    "postgres",
                    baselines.PEERS_DATABASE,
                    baselines.script_peer_transfer(HOUSEHOLDS),
                    {},
                )
            )
        runs.append(("post", 32, APP_ROLE, "jifen", baselines.script_ledger_post(HOUSEHOLDS), jifen))
        runs.append(("floor", 32, APP_ROLE, "jifen", baselines.script_posting_floor(HOUSEHOLDS), jifen))
        runs.append(("award", 32, APP_ROLE, "jifen", baselines.script_award_submit(HOUSEHOLDS), jifen))
        runs.append(
            (
                "peer_hot",
                32,
                "postgres",
                baselines.PEERS_DATABASE,
                baselines.script_peer_transfer(HOUSEHOLDS, issuers=1),
                {},
            )
        )
        for name, clients, user, database, script, defines in runs:
            got = baselines.pgbench(
                self.db, user, database, script, clients=clients, seconds=seconds, defines=defines
            )
            self.baselines[(name, clients)] = Result(
                name, got.transactions, got.seconds, got.latencies, got.failed
            )
        for clients in (1, 8, 32):
            one, peer = self.baselines[("one", clients)], self.baselines[("peer", clients)]
            print(
                f"  (z) baselines, {clients:2} client{'s' if clients > 1 else ' '}: one statement {one.rate:8.1f}/s"
                f" p99 {one.pct(0.99):5.1f} ms | peer transfer {peer.rate:7.1f}/s p99 {peer.pct(0.99):5.1f} ms",
                flush=True,
            )
        post, hot = self.baselines[("post", 32)], self.baselines[("peer_hot", 32)]
        print(
            f"  (z) jifen ledger_post alone (pgbench, service role), 32 clients: {post.rate:8.1f}/s"
            f" p99 {post.pct(0.99):5.1f} ms{self.versus_baselines(post.rate, 32)}",
            flush=True,
        )
        floor, award = self.baselines[("floor", 32)], self.baselines[("award", 32)]
        print(
            f"  (z) the posting floor (the least a posting writes into jifen's schema), 32 clients:"
            f" {floor.rate:8.1f}/s p99 {floor.pct(0.99):5.1f} ms{self.versus_baselines(floor.rate, 32)}",
            flush=True,
        )
        print(
            f"  (z) award_submit alone (one whole award, no HTTP), 32 clients: {award.rate:8.1f}/s"
            f" p99 {award.pct(0.99):5.1f} ms{self.versus_baselines(award.rate, 32)}",
            flush=True,
        )
        print(
            f"      peer transfer with one issuing account (every award queues on its row): {hot.rate:7.1f}/s"
            f" p99 {hot.pct(0.99):5.1f} ms",
            flush=True,
        )

    # ---------------------------------------------------------------- scenarios
    async def single_awards(self, clients: int) -> None:
        conns = await self.http_pool(clients)
        counter = iter(range(10**9))

        async def op(client: int, i: int) -> bool:
            household = self.households[next(counter) % HOUSEHOLDS]
            status, _ = await conns[client].request(
                "POST",
                "/api/v1/awards",
                body={"household_id": str(household), "rule_id": str(self.plus_rule)},
                headers=self.auth(f"a{clients}-{client}-{i}"),
            )
            return status == 201

        jifen = await timed_clients(clients, op)
        for c in conns:
            await c.close()
        pool = await asyncpg.create_pool(self.owner_url, min_size=clients, max_size=clients)
        sql_counter = iter(range(10**9))

        async def sql_op(client: int, i: int) -> bool:
            async with pool.acquire() as conn:
                return await self.sql_award(conn, self.households[next(sql_counter) % HOUSEHOLDS], 5)

        sql = await timed_clients(clients, sql_op)
        await pool.close()
        self.record(f"(a) single award, {clients} client{'s' if clients > 1 else ''}", jifen, sql, clients)

    async def fund_for_store(self) -> None:
        """Before the counter opens: one batch award of 1,000 points to every household, over HTTP."""
        conn = (await self.http_pool(1))[0]
        items = [{"household_id": str(h), "rule_id": str(self.fund_rule)} for h in self.households]
        status, body = await conn.request(
            "POST", "/api/v1/awards/batch", body={"items": items}, headers=self.auth(f"fund-{uuid.uuid4()}")
        )
        await conn.close()
        assert status == 201, body[:300]
        self.clerk_token = await self.token_for("bench-clerk")
        owner = await asyncpg.connect(self.owner_url)
        self.clerk = await owner.fetchval("SELECT id FROM users WHERE username = 'bench-clerk'")
        await owner.close()

    async def sell_one(self, conn: Connection, n: int, key: str) -> bool:
        """The n-th counter sale: one unit of one of the catalogue's items, to the n-th household."""
        status, _ = await conn.request(
            "POST",
            "/api/v1/redemptions",
            body={
                "store_id": str(self.store_id),
                "household_id": str(self.households[n % HOUSEHOLDS]),
                "lines": [{"item_id": str(self.items[n % STORE_ITEMS]), "quantity": 1}],
            },
            headers=self.auth(key, self.clerk_token),
        )
        return status == 201

    async def counter_redemptions(self, clients: int) -> None:
        """Sales at the counter: each a basket of one unit of one of the catalogue's items, to a different
        household each time; the baseline writes the same rows (item lock, stock, movement, redemption,
        line, transaction, postings, balance) in plain SQL."""
        conns = await self.http_pool(clients)
        counter = iter(range(10**9))

        async def op(client: int, i: int) -> bool:
            return await self.sell_one(conns[client], next(counter), f"r{clients}-{client}-{i}")

        jifen = await timed_clients(clients, op, duration=REDEEM_SECONDS)
        for c in conns:
            await c.close()
        pool = await asyncpg.create_pool(self.owner_url, min_size=clients, max_size=clients)
        sql_counter = iter(range(10**9))

        async def sql_op(client: int, i: int) -> bool:
            n = next(sql_counter)
            async with pool.acquire() as conn:
                return await self.sql_redemption(
                    conn, self.households[n % HOUSEHOLDS], self.items[n % STORE_ITEMS]
                )

        sql = await timed_clients(clients, sql_op, duration=REDEEM_SECONDS)
        await pool.close()
        self.record(
            f"(g) counter redemption, {clients} client{'s' if clients > 1 else ''}", jifen, sql, clients
        )

    async def sql_batch(self, households: list[uuid.UUID]) -> float:
        """The baseline for a batch: the same awards as three set-based SQL statements."""
        owner = await asyncpg.connect(self.owner_url)
        started = time.perf_counter()
        async with owner.transaction():
            tx_ids = [uuid.uuid4() for _ in households]
            await owner.execute(
                "INSERT INTO ledger_transactions (village_id, id, kind, memo, actor_id, rule_id, rule_version)"
                " SELECT $1, t, 'award', 'sql', $2, $3, 1 FROM unnest($4::uuid[]) AS t",
                self.village_id,
                self.actor,
                self.plus_rule,
                tx_ids,
            )
            await owner.execute(
                """
                WITH moved AS (
                    UPDATE accounts a SET posted = posted + 5, lifetime_earned = lifetime_earned + 5,
                           version = version + 1
                      FROM unnest($2::uuid[], $3::uuid[]) AS i(household, tx)
                     WHERE a.village_id = $1 AND a.id = i.household
                 RETURNING a.id, a.posted, a.version, i.tx)
                INSERT INTO postings (village_id, transaction_id, account_id, amount, balance_after, account_version)
                SELECT $1, tx, id, 5, posted, version FROM moved
                UNION ALL
                SELECT $1, tx, $4::uuid, -5, NULL::bigint, NULL::bigint FROM moved
                """,
                self.village_id,
                households,
                tx_ids,
                self.issuing,
            )
            await owner.execute(
                "INSERT INTO awards (village_id, id, household_id, rule_id, rule_version, quantity, points,"
                " status, transaction_id, submitted_by)"
                " SELECT $1, gen_random_uuid(), h, $2, 1, 1, 5, 'posted', t, $3"
                " FROM unnest($4::uuid[], $5::uuid[]) AS i(h, t)",
                self.village_id,
                self.plus_rule,
                self.actor,
                households,
                tx_ids,
            )
        sql_elapsed = time.perf_counter() - started
        await owner.close()
        return sql_elapsed

    async def inspection(self) -> None:
        """A grid inspection sheet scored for 500 households, submitted in one request (issue #5)."""
        conn = (await self.http_pool(1))[0]
        status, body = await conn.request(
            "POST",
            f"/api/v1/villages/{self.village_id}/inspections",
            body={
                "grid": "网格1",
                "inspected_on": time.strftime("%Y-%m-%d"),
                "rule_ids": [str(self.plus_rule)],
                "judges": ["评委甲", "评委乙", "评委丙"],
            },
            headers=self.auth(),
        )
        assert status == 201, body[:300]
        import json

        sheet = json.loads(body)
        scored = [h["id"] for h in sheet["households"][:500]]
        started = time.perf_counter()
        status, body = await conn.request(
            "POST",
            f"/api/v1/inspections/{sheet['id']}/submit",
            body={"scores": [{"household_id": h, "rule_id": str(self.plus_rule)} for h in scored]},
            headers=self.auth(f"inspection-{uuid.uuid4()}"),
        )
        elapsed = time.perf_counter() - started
        await conn.close()
        assert status == 201, body[:300]
        sql_elapsed = await self.sql_batch([uuid.UUID(h) for h in scored])
        self.record(
            "(h) grid inspection, 500 households (awards/s)",
            Result("", 500, elapsed, [elapsed]),
            Result("", 500, sql_elapsed, [sql_elapsed]),
        )
        print(
            f"      inspection wall time: jifen {elapsed * 1000:.0f} ms, SQL {sql_elapsed * 1000:.0f} ms",
            flush=True,
        )

    async def batch(self) -> None:
        conn = (await self.http_pool(1))[0]
        items = [{"household_id": str(h), "rule_id": str(self.plus_rule)} for h in self.households]
        started = time.perf_counter()
        status, body = await conn.request(
            "POST", "/api/v1/awards/batch", body={"items": items}, headers=self.auth(f"batch-{uuid.uuid4()}")
        )
        elapsed = time.perf_counter() - started
        await conn.close()
        assert status == 201, body[:300]
        jifen = Result("", HOUSEHOLDS, elapsed, [elapsed])

        sql_elapsed = await self.sql_batch(self.households)
        sql = Result("", HOUSEHOLDS, sql_elapsed, [sql_elapsed])
        self.record("(b) one batch of 10,000 awards (awards/s)", jifen, sql)
        print(
            f"      batch wall time: jifen {elapsed * 1000:.0f} ms, SQL {sql_elapsed * 1000:.0f} ms",
            flush=True,
        )

    async def hot_household(self) -> None:
        """32 clients debit one household that can pay for exactly `budget` debits; none may overdraw."""
        clients = 32
        owner = await asyncpg.connect(self.owner_url)
        results = []
        for label, target in (("jifen", self.households[-1]), ("sql", self.households[-2])):
            posted = await owner.fetchval("SELECT posted FROM accounts WHERE id = $1", target)
            budget = 1500
            # top the household up so exactly `budget` debits of 1 point fit
            await self._top_up(owner, target, budget - posted)
            if label == "jifen":
                conns = await self.http_pool(clients)

                async def op(
                    client: int, i: int, target: uuid.UUID = target, conns: list[Connection] = conns
                ) -> bool:
                    status, _ = await conns[client].request(
                        "POST",
                        "/api/v1/awards",
                        body={"household_id": str(target), "rule_id": str(self.minus_rule)},
                        headers=self.auth(f"hot-{client}-{i}"),
                    )
                    assert status in (201, 409), status
                    return status == 201

                result = await timed_clients(clients, op)
                for c in conns:
                    await c.close()
            else:
                pool = await asyncpg.create_pool(self.owner_url, min_size=clients, max_size=clients)

                async def sql_op(client: int, i: int, target: uuid.UUID = target, pool: Any = pool) -> bool:
                    async with pool.acquire() as conn:
                        return await self.sql_award(conn, target, -1)

                result = await timed_clients(clients, sql_op)
                await pool.close()
            final = await owner.fetchrow("SELECT posted, held FROM accounts WHERE id = $1", target)
            overdrawn = final["posted"] - final["held"] < 0
            spent = budget - final["posted"]
            assert not overdrawn and spent == result.ops, (label, final, result.ops)
            results.append(result)
            print(
                f"      {label}: {result.ops} debits succeeded of a budget of {budget}, {result.errors} refused,"
                f" final balance {final['posted']} (never below zero)",
                flush=True,
            )
        await owner.close()
        self.record("(c) 32 clients debiting one household", results[0], results[1])

    async def _top_up(self, owner: asyncpg.Connection, household: uuid.UUID, amount: int) -> None:
        if amount:
            await self.sql_award(owner, household, amount)

    async def reads_under_writes(self) -> None:
        readers = writers = 16
        conns = await self.http_pool(readers + writers)
        counter = iter(range(10**9))
        stop = asyncio.Event()

        async def write_loop(client: int) -> None:
            i = 0
            while not stop.is_set():
                household = self.households[next(counter) % HOUSEHOLDS]
                await conns[readers + client].request(
                    "POST",
                    "/api/v1/awards",
                    body={"household_id": str(household), "rule_id": str(self.plus_rule)},
                    headers=self.auth(f"rw-{client}-{i}"),
                )
                i += 1

        async def read(client: int, i: int) -> bool:
            household = self.households[(client * 7919 + i) % HOUSEHOLDS]
            status, _ = await conns[client].request(
                "GET", f"/api/v1/households/{household}/balance", headers=self.auth()
            )
            return status == 200

        writers_task = [asyncio.create_task(write_loop(c)) for c in range(writers)]
        jifen = await timed_clients(readers, read)
        stop.set()
        await asyncio.gather(*writers_task)
        for c in conns:
            await c.close()

        pool = await asyncpg.create_pool(
            self.owner_url, min_size=readers + writers, max_size=readers + writers
        )
        stop = asyncio.Event()
        sql_counter = iter(range(10**9))

        async def sql_write_loop() -> None:
            while not stop.is_set():
                async with pool.acquire() as conn:
                    await self.sql_award(conn, self.households[next(sql_counter) % HOUSEHOLDS], 5)

        async def sql_read(client: int, i: int) -> bool:
            household = self.households[(client * 7919 + i) % HOUSEHOLDS]
            async with pool.acquire() as conn:
                row = await conn.fetchrow(
                    "SELECT posted, held, posted - held AS available, lifetime_earned FROM accounts"
                    " WHERE village_id = $1 AND id = $2",
                    self.village_id,
                    household,
                )
            return row is not None

        sql_writers = [asyncio.create_task(sql_write_loop()) for _ in range(writers)]
        sql = await timed_clients(readers, sql_read)
        stop.set()
        await asyncio.gather(*sql_writers)
        await pool.close()
        self.record("(d) balance reads, 16 readers + 16 writers", jifen, sql, clients=None)

    async def check_stock(self) -> None:
        owner = await asyncpg.connect(self.owner_url)
        off = await owner.fetchval(
            "SELECT count(*) FROM items i WHERE i.village_id = $1 AND i.on_hand <>"
            " (SELECT coalesce(sum(quantity), 0) FROM stock_movements m"
            "   WHERE m.village_id = i.village_id AND m.item_id = i.id)",
            self.village_id,
        )
        sold = await owner.fetchval("SELECT count(*) FROM redemptions WHERE village_id = $1", self.village_id)
        await owner.close()
        print(f"  stock check: {sold} redemptions, {off} items off their stock movements", flush=True)
        assert off == 0

    async def check_ledger(self) -> None:
        owner = await asyncpg.connect(self.owner_url)
        unbalanced = await owner.fetchval(
            "SELECT count(*) FROM (SELECT transaction_id FROM postings GROUP BY transaction_id"
            " HAVING sum(amount) <> 0) t"
        )
        drift = await owner.fetchval(
            "SELECT count(*) FROM accounts a WHERE kind = 'household' AND posted <>"
            " (SELECT coalesce(sum(amount), 0) FROM postings p WHERE p.account_id = a.id)"
        )
        negative = await owner.fetchval("SELECT count(*) FROM accounts WHERE posted - held < 0")
        transactions = await owner.fetchval("SELECT count(*) FROM ledger_transactions")
        await owner.close()
        print(
            f"  ledger check: {transactions} transactions, {unbalanced} unbalanced, {drift} balances off their"
            f" postings, {negative} below zero",
            flush=True,
        )
        assert unbalanced == drift == negative == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.machine()}, {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}"


CHAIN_WRITER_TRIGGERS = (
    ("ledger_transactions", "ledger_transactions_chain_writer"),
    ("audit_events", "audit_events_chain_writer"),
)


async def chain_cost(bench: Bench) -> None:
    """Award throughput at 32 clients with the tamper-evident chain off (no chainer, no writers' lock) and on
    (the writers' lock, and the chainer linking every 5 seconds, the default). Since migration 0016
    ledger_post takes the writers' lock itself (its trigger fires for direct writers only), so "off" keeps
    that one shared advisory lock per posting and switches off the audit events' and the chainer."""
    owner = await asyncpg.connect(bench.owner_url)
    results = {}
    # off, on, off, on: alternating, so drift (a growing database, a noisy neighbour) does not pose as cost
    phases = (
        ("off", 0.0, "DISABLE"),
        ("on", float(os.environ.get("BENCH_CHAIN_ON_INTERVAL", "5")), "ENABLE"),
    ) * 2
    for round_, (label, interval, triggers) in enumerate(phases):
        for table, trigger in CHAIN_WRITER_TRIGGERS:
            await owner.execute(f"ALTER TABLE {table} {triggers} TRIGGER {trigger}")
        bench.stop_server()
        bench.serve(chain_interval=interval)
        conns = await bench.http_pool(32)
        counter = iter(range(10**9))

        async def op(
            client: int,
            i: int,
            conns: list[Connection] = conns,
            label: str = label,
            counter: Any = counter,
            round_: int = round_,
        ) -> bool:
            household = bench.households[next(counter) % HOUSEHOLDS]
            status, _ = await conns[client].request(
                "POST",
                "/api/v1/awards",
                body={"household_id": str(household), "rule_id": str(bench.plus_rule)},
                headers=bench.auth(f"chain-{label}-{round_}-{client}-{i}"),
            )
            return status == 201

        result = await timed_clients(32, op, duration=min(DURATION, 3.0))
        if label in results:
            results[label].ops += result.ops
            results[label].seconds += result.seconds
            results[label].latencies += result.latencies
        else:
            results[label] = result
        for c in conns:
            await c.close()
    await owner.close()
    off, on = results["off"], results["on"]
    print(
        f"  (e) chain cost, single awards at 32 clients: off {off.rate:.1f}/s p99 {off.pct(0.99):.1f} ms,"
        f" on {on.rate:.1f}/s p99 {on.pct(0.99):.1f} ms | ratio on/off {on.rate / off.rate:.2f}",
        flush=True,
    )


async def large_village(bench: Bench, records: int = 1_000_000) -> None:
    """Link and verify a village with a million chained records (synthetic, written straight in SQL)."""
    from jifen.audit import chain
    from jifen.auth.actor import console_actor
    from jifen.kit.db import create_engine, create_sessionmaker
    from jifen.villages.service import create_village

    bench.stop_server()  # its background chainer would share the work and blur the timing
    engine = create_engine(bench.owner_url, pool_size=1, max_overflow=0)
    async with create_sessionmaker(engine)() as session, session.begin():
        village = await create_village(session, console_actor("bench"), code="BIG", name="百万记录村")
    await engine.dispose()
    owner = await asyncpg.connect(bench.owner_url)
    await owner.execute("SET session_replication_role = replica")  # bulk load: the rows, not the checks
    started = time.perf_counter()
    quarter = records // 4
    await owner.execute(
        """
        INSERT INTO households (village_id, id, code, head_name) VALUES ($1, $2, 'BIG-1', '户主');
        INSERT INTO accounts (village_id, id, kind, household_id) VALUES ($1, $2, 'household', $2);
        """.replace("$1", f"'{village.id}'").replace("$2", f"'{uuid.uuid4()}'")
    )
    household = await owner.fetchval("SELECT id FROM households WHERE village_id = $1", village.id)
    issuing = await owner.fetchval(
        "SELECT id FROM accounts WHERE village_id = $1 AND kind = 'issuing'", village.id
    )
    await owner.execute(
        """
        CREATE TEMP TABLE big_tx AS SELECT gen_random_uuid() AS id, i FROM generate_series(1, $1) AS i;
        """.replace("$1", str(quarter))
    )
    await owner.execute(
        "INSERT INTO ledger_transactions (village_id, id, kind, memo, actor_id, created_at)"
        " SELECT $1, id, 'award', '压测', $2, now() - make_interval(secs => $3 - i) FROM big_tx",
        village.id,
        uuid.UUID(int=1),
        quarter,
    )
    await owner.execute(
        "INSERT INTO postings (village_id, transaction_id, account_id, amount, balance_after, account_version)"
        " SELECT $1::uuid, id, $2::uuid, 1, i, i FROM big_tx"
        " UNION ALL SELECT $1::uuid, id, $3::uuid, -1, NULL, NULL FROM big_tx",
        village.id,
        household,
        issuing,
    )
    # the household's row as the postings say, or `audit verify` (which reconciles balances) would refuse it
    await owner.execute(
        "UPDATE accounts SET posted = $2, lifetime_earned = $2, version = $2 WHERE village_id = $1 AND id = $3",
        village.id,
        quarter,
        household,
    )
    await owner.execute(
        "INSERT INTO audit_events (scope, action, record_type, record_id, after)"
        " SELECT $1, 'award.submit', 'award', id::text, jsonb_build_object('points', 1) FROM big_tx",
        village.id,
    )
    await owner.execute("SET session_replication_role = origin")
    await owner.execute("ANALYZE")
    loaded = time.perf_counter() - started
    app = await asyncpg.connect(bench.app_url)
    started = time.perf_counter()
    upto = None
    while upto is None:
        upto = await chain.horizon(app)
    linked = await chain.link(app, village.id, upto)
    link_seconds = time.perf_counter() - started
    started = time.perf_counter()
    verdict = await chain.verify(app, village.id)
    verify_seconds = time.perf_counter() - started
    await app.close()
    await owner.close()
    assert verdict.ok and verdict.checked >= records, verdict
    print(
        f"  (f) a village of {verdict.checked:,} chained records: loaded in {loaded:.1f} s, linked in"
        f" {link_seconds:.1f} s, verified in {verify_seconds:.1f} s ({linked:,} linked)",
        flush=True,
    )


async def main() -> None:
    print(f"jifen ledger benchmark — {machine()}; PostgreSQL 18 (embedded); {DURATION:.0f} s per measurement")
    bench = Bench()
    try:
        await bench.seed()
        bench.measure_baselines()
        await bench.link_backlog()
        bench.serve()
        await bench.login()
        for clients in (1, 8, 32):
            await bench.single_awards(clients)
        await bench.batch()
        await bench.inspection()
        if not QUICK:  # BENCH_QUICK=1: the award and counter-sale paths only, (a) (b) (h) (g)
            await bench.hot_household()
            await bench.reads_under_writes()
        await bench.fund_for_store()
        for clients in (1, 8, 32):
            await bench.counter_redemptions(clients)
        if not QUICK:
            await bench.check_stock()
        await bench.check_ledger()
        if QUICK:
            return
        await chain_cost(bench)
        await large_village(bench)
        from bench.pages import run_pages

        bench.stop_server()  # the pages run on the same PostgreSQL, in their own database
        await run_pages(bench.owner_url, bench.app_url, _free_port(), bench.secret)
    finally:
        bench.stop()


def run() -> None:
    asyncio.run(main())
