"""`python -m bench ceiling [ROUNDS [SECONDS]]`: what jifen's schema allows at most, beside the peer.

Issue #13 asks for `ledger_post` at 2× the peer-style transfer function and for HTTP single awards at 0.5×
it. This bench asks whether the database can give that at all, with no Python and no HTTP in the way: on one
PostgreSQL, every script driven by pgbench (C, prepared statements) at 32 clients, alternating, ROUNDS times
(default 3) of SECONDS each (default 8):

- **peer**: the peer-style transfer function (bench/baselines.py), in its own database;
- **one statement**: the physical limit of a posting here (bench/baselines.py);
- **ledger_post**: jifen's posting function, called as the service role, as `make bench` calls it;
- **posting floor**: the least any posting can write into jifen's ledger: one statement (in a SECURITY
  DEFINER function, as ledger_post is) that moves the household's row, writes the transaction and its two
  postings, and checks nothing else. No lean posting function can be cheaper than this on this schema;
- **award_submit**: one whole award as `POST /awards` writes it (the key and its answer, the balance, the
  transaction, its postings, the award, its audit event, its outbox event), called as the service role;
- **award_submit ×8**: eight independent awards, each with its own key, in one transaction (what
  coalescing concurrent requests into one call could give at best), counted as eight awards.

Each line also shows how busy the machine's cores were during the run (from /proc/stat): near 100 % means
the rate is what the CPU allows, not a lock or the disk. The scratch functions exist only in this bench's
database."""

from __future__ import annotations

import asyncio
import statistics
import sys
from pathlib import Path

import bench.ledger as ledger_bench
from bench import baselines
from jifen.kit.embedded import APP_ROLE

GROUP = 8
CLIENTS = 32


def _cpu() -> tuple[int, int]:
    """(busy, total) jiffies of all cores so far."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


async def main(rounds: int, seconds: int) -> None:
    bench = ledger_bench.Bench()
    try:
        await bench.seed()
        defines = bench.baseline_databases()
        households = ledger_bench.HOUSEHOLDS
        peers, jifen = ("postgres", baselines.PEERS_DATABASE), (APP_ROLE, "jifen")
        group = f"SELECT bench_award_group(:actor::uuid, :credential, :rule::uuid, {GROUP}, {households});\n"
        # name -> (user, database, script, postings or awards per transaction)
        runs: dict[str, tuple[tuple[str, str], str, int]] = {
            "peer transfer": (peers, baselines.script_peer_transfer(households), 1),
            "one statement": (peers, baselines.script_one_statement(households), 1),
            "ledger_post": (jifen, baselines.script_ledger_post(households), 1),
            "posting floor": (jifen, baselines.script_posting_floor(households), 1),
            "award_submit": (jifen, baselines.script_award_submit(households), 1),
            f"award_submit ×{GROUP}": (jifen, group, GROUP),
        }

        async def pgbench(where: tuple[str, str], script: str, seconds: int) -> baselines.PgbenchResult:
            return await asyncio.to_thread(
                baselines.pgbench, bench.db, *where, script, clients=CLIENTS, seconds=seconds, defines=defines
            )

        for where, script, _ in runs.values():  # caches and plans warm, pages read once
            await pgbench(where, script, 2)
        rates: dict[str, list[float]] = {name: [] for name in runs}
        busy: dict[str, list[float]] = {name: [] for name in runs}
        for r in range(rounds):
            names = list(runs) if r % 2 == 0 else list(runs)[::-1]
            for name in names:
                where, script, per = runs[name]
                before = _cpu()
                got = await pgbench(where, script, seconds)
                after = _cpu()
                if got.failed:
                    raise RuntimeError(f"{name}: {got.failed} transactions failed")
                rates[name].append(got.rate * per)
                busy[name].append((after[0] - before[0]) / max(1, after[1] - before[1]))
            peer = rates["peer transfer"][-1]
            print(
                f"  round {r + 1}: "
                + ", ".join(
                    f"{name} {rates[name][-1] / peer:.2f}" for name in runs if name != "peer transfer"
                )
                + f" (× peer, which ran {peer:.0f}/s)",
                flush=True,
            )
        _report(rates, busy, rounds, seconds)
        await bench.check_ledger()  # the floor wrote a ledger as sound as everything else's
    finally:
        bench.stop()


def _report(rates: dict[str, list[float]], busy: dict[str, list[float]], rounds: int, seconds: int) -> None:
    peer = rates["peer transfer"]

    def ratio(name: str) -> list[float]:
        return [a / b for a, b in zip(rates[name], peer, strict=True)]

    plural = "s" if rounds > 1 else ""
    print(f"\n{CLIENTS} clients, {seconds} s each, {rounds} alternating round{plural} (medians):")
    print("| path | per second | × peer (each round) | cores busy |")
    print("| --- | --- | --- | --- |")
    for name in rates:
        print(
            f"| {name} | {statistics.median(rates[name]):,.0f} | "
            + ", ".join(f"{x:.2f}" for x in ratio(name))
            + f" | {statistics.median(busy[name]) * 100:.0f} % |"
        )


def run(argv: list[str]) -> None:
    rounds = int(argv[0]) if argv else 3
    seconds = int(argv[1]) if len(argv) > 1 else 8
    asyncio.run(main(rounds, seconds))


if __name__ == "__main__":
    run(sys.argv[1:])
