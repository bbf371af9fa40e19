"""`python -m bench award-cpu`: what one single award over HTTP costs the server's processes, in CPU.

Throughput on a 2-core machine shared with other work moves with everyone else's load; the CPU the server's
processes (the supervisor and its workers, from /proc/<pid>/stat) spend per award does not, much. This runs
single awards (`POST /api/v1/awards`, a fresh key each) against `jifen serve --workers 2` at the given client
counts, for each variant in turn and for several rounds alternating, and prints per variant: awards/s, p50,
p99, and the server's and PostgreSQL's (the postmaster and its backends) CPU µs per award.

A variant is a server (`uvicorn`, `granian`) and a source tree: `--before DIR` (a `src` directory, e.g.
`git archive main src | tar -x -C /tmp/before`) also serves that code, on PYTHONPATH, so a change and the
code before it are measured in the same minutes.

    python -m bench award-cpu [--servers uvicorn,granian] [--before DIR] [--clients 1,8,32] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from bench.ledger import HOUSEHOLDS, Bench, Result, timed_clients

_TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu(root: int) -> float:
    """CPU seconds (user + system) of `root` and every process under it, as /proc has them now."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after the command name, which may hold spaces
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / _TICK
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += times.get(pid, 0.0)
        todo.extend(child for child, parent in parents.items() if parent == pid)
    return total


@dataclass(frozen=True)
class Variant:
    server: str
    src: str | None  # a source tree served instead of the installed one

    @property
    def name(self) -> str:
        return f"{'before' if self.src else 'this'}/{self.server}"


async def measure(
    bench: Bench, variant: Variant, clients: int, seconds: float
) -> tuple[Result, float, float]:
    """Awards at `clients` for `seconds`: the result, the server's and PostgreSQL's CPU µs per award."""
    conns = await bench.http_pool(clients)
    counter = iter(range(10**9))
    keys = iter(range(10**9))  # warm-up and measurement share no key (a key sent again is a replay)
    tag = os.urandom(4).hex()

    async def op(client: int, i: int) -> bool:
        household = bench.households[next(counter) % HOUSEHOLDS]
        status, _ = await conns[client].request(
            "POST",
            "/api/v1/awards",
            body={"household_id": str(household), "rule_id": str(bench.plus_rule)},
            headers=bench.auth(f"cpu-{tag}-{next(keys)}"),
        )
        return status == 201

    await timed_clients(clients, op, duration=1.0)  # warm: connections, prepared statements, caches
    assert bench.proc is not None
    postmaster = bench.server.get_pid()  # type: ignore[attr-defined]
    before, db_before = tree_cpu(bench.proc.pid), tree_cpu(postmaster)
    result = await timed_clients(clients, op, duration=seconds)
    used, db_used = tree_cpu(bench.proc.pid) - before, tree_cpu(postmaster) - db_before
    for conn in conns:
        await conn.close()
    return result, used / max(result.ops, 1) * 1e6, db_used / max(result.ops, 1) * 1e6


async def main(args: argparse.Namespace) -> None:
    servers = args.servers.split(",")
    variants = [Variant(s, None) for s in servers]
    if args.before:
        variants = [Variant(s, src) for s in servers for src in (args.before, None)]
    clients = [int(c) for c in args.clients.split(",")]
    bench = Bench()
    try:
        await bench.seed()
        for round_ in range(1, args.rounds + 1):
            for variant in variants:
                env = {"PYTHONPATH": variant.src} if variant.src else {}
                bench.serve(server=variant.server, extra_env=env)
                await bench.login()
                for n in clients:
                    result, cpu, db_cpu = await measure(bench, variant, n, args.seconds)
                    print(
                        f"round {round_} {variant.name:15} {n:2} clients: {result.rate:7.1f}/s"
                        f" p50 {result.pct(0.5):6.1f} ms p99 {result.pct(0.99):6.1f} ms"
                        f" errors {result.errors:3}  server CPU {cpu:6.0f} µs/award,"
                        f" PostgreSQL CPU {db_cpu:6.0f} µs/award",
                        flush=True,
                    )
                bench.stop_server()
    finally:
        bench.stop()


def run(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench award-cpu")
    parser.add_argument("--servers", default="uvicorn")
    parser.add_argument("--before", default=None, help="a `src` directory to serve as well, on PYTHONPATH")
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=4.0)
    asyncio.run(main(parser.parse_args(argv)))
