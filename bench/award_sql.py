"""`python -m bench award-sql [ROUNDS] [BEFORE]`: the database's half of a batch, before and after a migration,
on one PostgreSQL in the same minutes.

Two databases of one embedded server, seeded alike (`bench.ledger`'s village of 10,000 households), one
migrated up to BEFORE (default 0021) and one to head; then one `award_submit` call of 10,000 awards (what
`POST /awards/batch` sends) into each, alternating which goes first, ROUNDS times (default 4). No HTTP and no
Python beyond the call: what is left is the database's time, and the ratio of the two sides is what a busy
shared machine moves least. With `track_functions`, each function's own time is printed at the end."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

import bench.ledger as ledger_bench
from jifen.kit.embedded import APP_ROLE, psql
from jifen.kit.migrate import upgrade

SUBMIT = (
    "SELECT answer_json FROM award_submit($1::uuid, $2::integer, $3::text, $4::text, $5::text, $6::text,"
    " $7::text, $8::boolean, $9::timestamptz, $10::uuid[], $11::uuid[], $12::integer[], $13::text[])"
)
# from migration 0027 on: the batch id after p_many (NULL: a batch of its own)
SUBMIT_0027 = SUBMIT.replace("$8::boolean, $9::timestamptz", "$8::boolean, NULL, $9::timestamptz")


async def _seed(bench: ledger_bench.Bench, database: str, revision: str) -> dict[str, Any]:
    psql(bench.server, f'CREATE DATABASE "{database}"')
    bench.owner_url = ledger_bench._pg_url(bench.db, "postgres", database)
    bench.app_url = ledger_bench._pg_url(bench.db, APP_ROLE, database)
    ledger_bench.upgrade = lambda url: upgrade(url, revision)  # type: ignore[assignment]
    await bench.seed()
    return {"owner": bench.owner_url, "app": bench.app_url, "actor": bench.actor, "rule": bench.plus_rule}


async def _batch(side: dict[str, Any], households: list[uuid.UUID]) -> float:
    owner = await asyncpg.connect(side["owner"])
    credential = await owner.fetchval("SELECT credential_version FROM users WHERE id = $1", side["actor"])
    await owner.close()
    conn = await asyncpg.connect(side["app"])
    n = len(households)
    arguments = await conn.fetchval("SELECT pronargs FROM pg_proc WHERE proname = 'award_submit'")
    started = time.perf_counter()
    answer = await conn.fetchval(
        SUBMIT if arguments == 13 else SUBMIT_0027,
        side["actor"],
        credential,
        "bench",
        "bench",
        "127.0.0.1",
        f"bench-{uuid.uuid4()}",
        "bench",
        True,
        datetime.now(UTC),
        households,
        [side["rule"]] * n,
        [1] * n,
        [None] * n,
    )
    elapsed = time.perf_counter() - started
    await conn.close()
    assert answer is not None, "award_submit fell back to the general path"
    return elapsed


async def main(rounds: int, before: str) -> None:
    bench = ledger_bench.Bench()
    try:
        psql(bench.server, "ALTER SYSTEM SET track_functions = 'pl'; SELECT pg_reload_conf();")
        sides = {before: await _seed(bench, "before", before), "head": await _seed(bench, "after", "head")}
        households = bench.households
        for side in sides.values():
            await _batch(side, households[:500])  # plans and caches warm
        times: dict[str, list[float]] = {name: [] for name in sides}
        for r in range(rounds):
            for name in list(sides) if r % 2 == 0 else list(sides)[::-1]:
                times[name].append(await _batch(sides[name], households))
            print(
                f"  round {r + 1}: " + ", ".join(f"{n} {t[-1] * 1000:.0f} ms" for n, t in times.items()),
                flush=True,
            )
        medians = {name: statistics.median(t) for name, t in times.items()}
        print(
            f"10,000-award award_submit, median of {rounds}: {before} {medians[before] * 1000:.0f} ms,"
            f" head {medians['head'] * 1000:.0f} ms, head/{before} {medians['head'] / medians[before]:.2f}"
        )
        for name, side in sides.items():
            owner = await asyncpg.connect(side["owner"])
            rows = await owner.fetch(
                "SELECT funcname, calls, self_time FROM pg_stat_user_functions WHERE calls <= 2 * $1 + 2"
                " ORDER BY self_time DESC LIMIT 6",
                rounds,
            )
            await owner.close()
            print(
                f"  {name}, own time per call: "
                + ", ".join(f"{r['funcname']} {r['self_time'] / r['calls']:.0f} ms" for r in rows)
            )
    finally:
        bench.stop()


def run(argv: list[str]) -> None:
    rounds = int(argv[0]) if argv else 4
    before = argv[1] if len(argv) > 1 else "0021"
    asyncio.run(main(rounds, before))


if __name__ == "__main__":
    run(sys.argv[1:])
