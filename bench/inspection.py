"""`python -m bench inspection [--rounds N]`: the ledger bench's scenario (h) alone, N times on one server.

Each round opens a sheet for one of the bench village's grids (1,000 households each) on a day of its own,
scores 500 of its households under one rule and submits them in one request (`POST
/api/v1/inspections/{id}/submit`), timing that request; every other round also times the same awards written
by the bench's three set-based SQL statements. It prints every round (with the server's and PostgreSQL's CPU
time during the submission, from /proc: what a shared machine's load moves least) and the medians.

The jifen served is the one on PYTHONPATH (and its migrations): to compare a change with the code before it,
run this once per tree, alternating, e.g. `PYTHONPATH=/tmp/before/src python -m bench inspection`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from datetime import date, timedelta

from bench.award_cpu import tree_cpu
from bench.ledger import Bench, machine


async def _one(bench: Bench, grid: int, day: date) -> tuple[float, float, float]:
    """The submission's wall time, and the server's and PostgreSQL's CPU seconds meanwhile."""
    conn = (await bench.http_pool(1))[0]
    status, body = await conn.request(
        "POST",
        f"/api/v1/villages/{bench.village_id}/inspections",
        body={
            "grid": f"网格{grid}",
            "inspected_on": day.isoformat(),
            "rule_ids": [str(bench.plus_rule)],
            "judges": ["评委甲", "评委乙", "评委丙"],
        },
        headers=bench.auth(),
    )
    assert status == 201, body[:300]
    sheet = json.loads(body)
    scored = [h["id"] for h in sheet["households"][:500]]
    assert bench.proc is not None
    postmaster = bench.server.get_pid()  # type: ignore[attr-defined]
    cpu, db_cpu = tree_cpu(bench.proc.pid), tree_cpu(postmaster)
    started = time.perf_counter()
    status, body = await conn.request(
        "POST",
        f"/api/v1/inspections/{sheet['id']}/submit",
        body={"scores": [{"household_id": h, "rule_id": str(bench.plus_rule)} for h in scored]},
        headers=bench.auth(f"inspection-{uuid.uuid4()}"),
    )
    elapsed = time.perf_counter() - started
    cpu, db_cpu = tree_cpu(bench.proc.pid) - cpu, tree_cpu(postmaster) - db_cpu
    await conn.close()
    assert status == 201, body[:300]
    return elapsed, cpu, db_cpu


async def main(args: argparse.Namespace) -> None:
    import jifen

    print(f"inspections of 500 households — {machine()}; jifen from {jifen.__file__}", flush=True)
    bench = Bench()
    try:
        await bench.seed()
        bench.serve()
        await bench.login()
        times: list[float] = []
        cpus: list[float] = []
        db_cpus: list[float] = []
        sql: list[float] = []
        start = date(2026, 1, 1)
        for n in range(args.warmup + args.rounds):
            elapsed, cpu, db_cpu = await _one(bench, n % 10, start + timedelta(days=n))
            line = (
                f"  round {n + 1 - args.warmup:2d}: {elapsed * 1000:6.1f} ms, server CPU {cpu * 1000:5.0f} ms,"
                f" PostgreSQL CPU {db_cpu * 1000:5.0f} ms"
            )
            if n >= args.warmup:
                times.append(elapsed)
                cpus.append(cpu)
                db_cpus.append(db_cpu)
                if n % 2:
                    households = bench.households[n % 10 :: 10][:500]
                    sql.append(await bench.sql_batch(households))
                    line += f" (SQL baseline {sql[-1] * 1000:5.1f} ms)"
            else:
                line += " (warm-up)"
            print(line, flush=True)
        print(
            f"  median of {len(times)}: {statistics.median(times) * 1000:.1f} ms"
            f" (min {min(times) * 1000:.1f}), server CPU {statistics.median(cpus) * 1000:.0f} ms,"
            f" PostgreSQL CPU {statistics.median(db_cpus) * 1000:.0f} ms,"
            f" SQL baseline median {statistics.median(sql) * 1000:.1f} ms",
            flush=True,
        )
    finally:
        bench.stop()


def run(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench inspection")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    asyncio.run(main(parser.parse_args(argv)))
