"""`python -m bench sale`: counter sales (`POST /api/v1/redemptions`, the ledger bench's scenario (g)) with the
one-call sale (`sale_submit`, migration 0022) against the Python path (JIFEN_SALE_IN_ONE_CALL=0).

Two servers run side by side on the same embedded PostgreSQL, one with the setting on and one with it off;
each round measures both at 1, 8 and 32 clients, back to back, alternating which goes first (the machine is
shared: compare within a round). It prints every round and the medians with their ratio.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import uuid

from bench.ledger import (
    REDEEM_SECONDS,
    Bench,
    _free_port,
    machine,
    timed_clients,
)

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CLIENTS = (1, 8, 32)


async def _sales(bench: Bench, port: int, clients: int) -> float:
    bench.port = port
    conns = await bench.http_pool(clients)
    counter = iter(range(10**9))

    async def op(client: int, i: int) -> bool:
        return await bench.sell_one(conns[client], next(counter), f"s-{uuid.uuid4().hex}")

    result = await timed_clients(clients, op, duration=REDEEM_SECONDS)
    for c in conns:
        await c.close()
    assert result.errors == 0, f"{result.errors} sales failed"
    return result.rate


async def main() -> None:
    print(f"counter sales, one call vs Python path — {machine()}; {REDEEM_SECONDS:.0f} s per measurement")
    bench = Bench()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        await bench.seed()
        ports: dict[str, int] = {}
        for mode, flag in (("python", "0"), ("one call", "1")):
            bench.port = _free_port()
            bench.serve(extra_env={"JIFEN_SALE_IN_ONE_CALL": flag})
            assert bench.proc is not None
            procs.append(bench.proc)
            bench.proc = None
            ports[mode] = bench.port
        await bench.login()
        await bench.fund_for_store()
        rates: dict[tuple[str, int], list[float]] = {}
        for mode in ports:  # warm both: workers, pools, caches
            await _sales(bench, ports[mode], 8)
        for r in range(ROUNDS):
            order = list(ports) if r % 2 else list(reversed(ports))
            for clients in CLIENTS:
                line = []
                for mode in order:
                    rate = await _sales(bench, ports[mode], clients)
                    rates.setdefault((mode, clients), []).append(rate)
                    line.append(f"{mode} {rate:7.1f}/s")
                print(f"  round {r + 1}, {clients:2d} clients: {', '.join(line)}", flush=True)
        for clients in CLIENTS:
            one, python = (
                statistics.median(rates[("one call", clients)]),
                statistics.median(rates[("python", clients)]),
            )
            print(
                f"  median, {clients:2d} clients: one call {one:7.1f}/s, Python path {python:7.1f}/s,"
                f" ratio {one / python:4.2f}",
                flush=True,
            )
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        bench.stop()


def run() -> None:
    asyncio.run(main())
