"""`python -m bench sale`: counter sales (`POST /api/v1/redemptions`, the ledger bench's scenario (g)) with the
one-call sale (`sale_submit`, migration 0022) against the Python path (JIFEN_SALE_IN_ONE_CALL=0).

Two servers run side by side on the same embedded PostgreSQL, one with the setting on and one with it off;
each round measures both at 1, 8 and 32 clients, back to back, alternating which goes first (the machine is
shared: compare within a round). It prints every round and the medians with their ratio.

`python -m bench sale --before DIR` compares two source trees instead, both with the one call on: DIR (a `src`
directory, e.g. `git archive main src | tar -x -C /tmp/before`, served on PYTHONPATH) against this tree, so
a change and the code before it are measured in the same minutes. `python -m bench sale --before-sql FILE`
compares two versions of the database function instead, the same Python serving both: the "before" server
signs in as a role of its own whose search_path puts schema `before` first, and there `sale_submit` is the
one released migration FILE created (e.g. `0023_sale_call.py`; the function body as released, its own
search_path pinned, so everything it calls is the current schema's). With both options, "before" is DIR's
Python calling FILE's function. Each measurement also reports the p99
latency and the server's own CPU per sale (its workers' user + system time from /proc), which the shared
machine's load moves least. `--rounds N` (BENCH_ROUNDS, 3) and `--clients 1,8,32` choose the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import uuid
from pathlib import Path

import asyncpg

from bench.award_cpu import tree_cpu
from bench.ledger import (
    REDEEM_SECONDS,
    Bench,
    Result,
    _free_port,
    machine,
    timed_clients,
)

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CLIENTS = (1, 8, 32)


async def _sales(bench: Bench, port: int, clients: int, pid: int) -> tuple[Result, float]:
    """Sales at `clients` for REDEEM_SECONDS: the result and the server's CPU µs per sale."""
    bench.port = port
    conns = await bench.http_pool(clients)
    counter = iter(range(10**9))

    async def op(client: int, i: int) -> bool:
        return await bench.sell_one(conns[client], next(counter), f"s-{uuid.uuid4().hex}")

    cpu = tree_cpu(pid)
    result = await timed_clients(clients, op, duration=REDEEM_SECONDS)
    cpu = tree_cpu(pid) - cpu
    for c in conns:
        await c.close()
    assert result.errors == 0, f"{result.errors} sales failed"
    return result, cpu / max(result.ops, 1) * 1e6


BEFORE_ROLE = "jifen_before"


async def install_before(bench: Bench, migration: str) -> str:
    """The released migration's sale_submit as before.sale_submit, and a login role that finds it first;
    the URL that role serves with."""
    import importlib.util

    from jifen.kit.embedded import APP_ROLE

    path = Path(__file__).resolve().parent.parent / "migrations" / "versions" / migration
    spec = importlib.util.spec_from_file_location("before_migration", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    script: str = module.UPGRADE
    start = script.index("CREATE FUNCTION sale_submit(")
    end = script.index("\n$$;\n", start) + len("\n$$;\n")
    function = script[start:end].replace(
        "CREATE FUNCTION sale_submit(", "CREATE FUNCTION before.sale_submit("
    )
    owner = await asyncpg.connect(bench.owner_url)
    await owner.execute(
        f"CREATE SCHEMA before; CREATE ROLE {BEFORE_ROLE} LOGIN IN ROLE {APP_ROLE};"
        f" ALTER ROLE {BEFORE_ROLE} SET search_path = before, public;"
        f" GRANT USAGE ON SCHEMA before TO {BEFORE_ROLE};"
    )
    await owner.execute(function)
    await owner.close()
    url = bench.app_url.replace(f"postgresql://{APP_ROLE}@", f"postgresql://{BEFORE_ROLE}@")
    before = await asyncpg.connect(url)
    found = await before.fetchval(
        "SELECT p.pronamespace::regnamespace::text FROM pg_proc p WHERE p.oid = 'sale_submit'::regproc"
    )
    await before.close()
    assert found == "before", found
    return url


async def main(args: argparse.Namespace) -> None:
    clients_list = [int(c) for c in args.clients.split(",")]
    if args.before_sql:
        modes = {"before": {"PYTHONPATH": args.before} if args.before else {}, "this": {}}
        first, second = "this", "before"
        python = f"{args.before}'s Python" if args.before else "the same Python"
        title = f"counter sales, sale_submit of {args.before_sql} and {python} (before) vs this tree"
    elif args.before:
        modes = {"before": {"PYTHONPATH": args.before}, "this": {}}
        first, second = "this", "before"
        title = f"counter sales, {args.before} (before) vs this tree, one call on"
    else:
        modes = {"python": {"JIFEN_SALE_IN_ONE_CALL": "0"}, "one call": {"JIFEN_SALE_IN_ONE_CALL": "1"}}
        first, second = "one call", "python"
        title = "counter sales, one call vs Python path"
    print(f"{title} — {machine()}; {REDEEM_SECONDS:.0f} s per measurement", flush=True)
    bench = Bench()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        await bench.seed()
        urls = {"before": await install_before(bench, args.before_sql)} if args.before_sql else {}
        app_url = bench.app_url
        ports: dict[str, int] = {}
        pids: dict[str, int] = {}
        for mode, env in modes.items():
            bench.port = _free_port()
            bench.app_url = urls.get(mode, app_url)
            bench.serve(extra_env=env)
            bench.app_url = app_url
            assert bench.proc is not None
            procs.append(bench.proc)
            pids[mode] = bench.proc.pid
            bench.proc = None
            ports[mode] = bench.port
        await bench.login()
        await bench.fund_for_store()
        rates: dict[tuple[str, int], list[float]] = {}
        cpus: dict[tuple[str, int], list[float]] = {}
        for mode in ports:  # warm both: workers, pools, caches
            await _sales(bench, ports[mode], 8, pids[mode])
        for r in range(args.rounds):
            order = list(ports) if r % 2 else list(reversed(ports))
            for clients in clients_list:
                line = []
                for mode in order:
                    result, cpu = await _sales(bench, ports[mode], clients, pids[mode])
                    rates.setdefault((mode, clients), []).append(result.rate)
                    cpus.setdefault((mode, clients), []).append(cpu)
                    line.append(
                        f"{mode} {result.rate:7.1f}/s p99 {result.pct(0.99):6.1f} ms CPU {cpu:5.0f} µs/sale"
                    )
                print(f"  round {r + 1}, {clients:2d} clients: {', '.join(line)}", flush=True)
        for clients in clients_list:
            one, other = (
                statistics.median(rates[(first, clients)]),
                statistics.median(rates[(second, clients)]),
            )
            one_cpu, other_cpu = (
                statistics.median(cpus[(first, clients)]),
                statistics.median(cpus[(second, clients)]),
            )
            print(
                f"  median, {clients:2d} clients: {first} {one:7.1f}/s ({one_cpu:5.0f} µs CPU/sale),"
                f" {second} {other:7.1f}/s ({other_cpu:5.0f} µs CPU/sale), ratio {one / other:4.2f}",
                flush=True,
            )
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        bench.stop()


def run(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench sale")
    parser.add_argument("--before", default=None, help="a `src` directory to compare with, on PYTHONPATH")
    parser.add_argument(
        "--before-sql", default=None, help="a released migration whose sale_submit the 'before' server calls"
    )
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--clients", default=",".join(str(c) for c in CLIENTS))
    asyncio.run(main(parser.parse_args(argv)))
