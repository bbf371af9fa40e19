"""`python -m bench ceiling [ROUNDS]`: what jifen's schema allows at most, next to the peer, in one run.

Issue #13 asks for `ledger_post` at 2× the peer-style transfer function and for HTTP single awards at 0.5×
it. This bench asks whether the database can give that at all, with no Python and no HTTP in the way: on one
PostgreSQL, every script driven by pgbench (C, prepared statements) at 32 clients, alternating, ROUNDS times
(default 3):

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

import asyncpg

import bench.ledger as ledger_bench
from bench import baselines
from jifen.kit.embedded import APP_ROLE, psql

GROUP = 8
CLIENTS = 32

# The least a posting can write into jifen's ledger (see the module's docstring). Owned by the ledger's owner
# and called by the service role, so the direct writers' triggers stay quiet exactly as for ledger_post.
FLOOR_SQL = """
CREATE FUNCTION bench_posting_floor(p_village uuid, p_actor uuid, p_rule uuid, p_account uuid, p_counter uuid,
                                    p_amount bigint) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
SELECT pg_advisory_xact_lock_shared(7595439545093744238);
WITH moved AS (
    UPDATE accounts a
       SET posted = a.posted + p_amount, lifetime_earned = a.lifetime_earned + greatest(p_amount, 0),
           version = a.version + 1
     WHERE a.village_id = p_village AND a.id = p_account AND a.kind = 'household'
    RETURNING new.posted AS balance, new.version AS version),
tx AS (
    INSERT INTO ledger_transactions (village_id, id, kind, memo, actor_id, rule_id, rule_version)
    SELECT p_village, gen_random_uuid(), 'award', '门前三包', p_actor, p_rule, 1 FROM moved
    RETURNING id)
INSERT INTO postings (village_id, transaction_id, account_id, amount, balance_after, account_version)
SELECT p_village, tx.id, l.account_id, l.amount, l.balance_after, l.account_version
  FROM moved p
 CROSS JOIN tx
 CROSS JOIN LATERAL (VALUES (1, p_account, p_amount, p.balance, p.version),
                            (2, p_counter, -p_amount, NULL::bigint, NULL::bigint))
       AS l(ord, account_id, amount, balance_after, account_version)
 ORDER BY l.ord;
$$;
REVOKE EXECUTE ON FUNCTION bench_posting_floor(uuid, uuid, uuid, uuid, uuid, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bench_posting_floor(uuid, uuid, uuid, uuid, uuid, bigint) TO {app};

-- independent awards in one transaction, each with its own key (the service role calls it: award_submit's
-- own access checks apply)
CREATE FUNCTION bench_award_group(p_actor uuid, p_credential integer, p_rule uuid, p_count integer,
                                  p_households integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    done integer := 0;
    got record;
BEGIN
    FOR i IN 1..p_count LOOP
        SELECT * INTO got
          FROM award_submit(p_actor, p_credential, 'bench', 'bench', '127.0.0.1', gen_random_uuid()::text,
                            'bench', false, NULL, now(),
                            ARRAY[md5('bench-household-' || random(1, p_households))::uuid], ARRAY[p_rule],
                            '{{1}}', '{{NULL}}');
        IF got.answer_json IS NOT NULL THEN
            done := done + 1;
        END IF;
    END LOOP;
    RETURN done;
END
$$;
"""


def _award_script(households: int) -> str:
    return f"""\\set n random(1, {households})
SELECT answer_json FROM award_submit(:actor::uuid, :credential, 'bench', 'bench', '127.0.0.1',
    gen_random_uuid()::text, 'bench', false, NULL, now(), ARRAY[{baselines.household_uuid_sql(":n")}],
    ARRAY[:rule::uuid], '{{1}}', '{{NULL}}');
"""


def _floor_script(households: int) -> str:
    return f"""\\set n random(1, {households})
SELECT bench_posting_floor(:village::uuid, :actor::uuid, :rule::uuid, {baselines.household_uuid_sql(":n")},
    :issuing::uuid, 5);
"""


def _cpu() -> tuple[int, int]:
    """(busy, total) jiffies of all cores so far."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


async def main(rounds: int, seconds: int) -> None:
    bench = ledger_bench.Bench()
    try:
        await bench.seed()
        psql(bench.server, f"CREATE DATABASE {baselines.PEERS_DATABASE}")
        psql(
            bench.server,
            baselines.PEERS_SCHEMA + baselines.peers_seed_sql(ledger_bench.HOUSEHOLDS),
            database=baselines.PEERS_DATABASE,
        )
        psql(bench.server, FLOOR_SQL.format(app=APP_ROLE), database="jifen")
        owner = await asyncpg.connect(bench.owner_url)
        credential = await owner.fetchval("SELECT credential_version FROM users WHERE id = $1", bench.actor)
        await owner.close()
        households = ledger_bench.HOUSEHOLDS
        defines = {
            "village": str(bench.village_id),
            "actor": str(bench.actor),
            "credential": str(credential),
            "rule": str(bench.plus_rule),
            "issuing": str(bench.issuing),
        }
        peers, jifen = ("postgres", baselines.PEERS_DATABASE), (APP_ROLE, "jifen")
        group = f"SELECT bench_award_group(:actor::uuid, :credential, :rule::uuid, {GROUP}, {households});\n"
        # name -> (user, database, script, postings or awards per transaction)
        runs: dict[str, tuple[tuple[str, str], str, int]] = {
            "peer transfer": (peers, baselines.script_peer_transfer(households), 1),
            "one statement": (peers, baselines.script_one_statement(households), 1),
            "ledger_post": (jifen, baselines.script_ledger_post(households), 1),
            "posting floor": (jifen, _floor_script(households), 1),
            "award_submit": (jifen, _award_script(households), 1),
            f"award_submit ×{GROUP}": (jifen, group, GROUP),
        }
        for (user, database), script, _ in runs.values():  # caches and plans warm, pages read once
            await asyncio.to_thread(
                baselines.pgbench,
                bench.db,
                user,
                database,
                script,
                clients=CLIENTS,
                seconds=2,
                defines=defines,
            )
        rates: dict[str, list[float]] = {name: [] for name in runs}
        busy: dict[str, list[float]] = {name: [] for name in runs}
        for r in range(rounds):
            names = list(runs) if r % 2 == 0 else list(runs)[::-1]
            for name in names:
                (user, database), script, per = runs[name]
                before = _cpu()
                got = await asyncio.to_thread(
                    baselines.pgbench,
                    bench.db,
                    user,
                    database,
                    script,
                    clients=CLIENTS,
                    seconds=seconds,
                    defines=defines,
                )
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
        await _check(bench)
    finally:
        bench.stop()


def _report(rates: dict[str, list[float]], busy: dict[str, list[float]], rounds: int, seconds: int) -> None:
    peer = rates["peer transfer"]

    def ratio(name: str) -> list[float]:
        return [a / b for a, b in zip(rates[name], peer, strict=True)]

    print(f"\n{CLIENTS} clients, {seconds} s each, {rounds} alternating rounds (medians):")
    print("| path | per second | × peer (each round) | cores busy |")
    print("| --- | --- | --- | --- |")
    for name in rates:
        print(
            f"| {name} | {statistics.median(rates[name]):,.0f} | "
            + ", ".join(f"{x:.2f}" for x in ratio(name))
            + f" | {statistics.median(busy[name]) * 100:.0f} % |"
        )


async def _check(bench: ledger_bench.Bench) -> None:
    """The floor wrote balanced, never-negative postings like everything else (or the comparison is void)."""
    owner = await asyncpg.connect(bench.owner_url)
    try:
        unbalanced = await owner.fetchval(
            "SELECT count(*) FROM (SELECT transaction_id FROM postings GROUP BY transaction_id"
            " HAVING sum(amount) <> 0) x"
        )
        negative = await owner.fetchval(
            "SELECT count(*) FROM accounts WHERE kind = 'household' AND posted < 0"
        )
        print(f"ledger after the run: {unbalanced} unbalanced transactions, {negative} households below zero")
    finally:
        await owner.close()


def run(argv: list[str]) -> None:
    rounds = int(argv[0]) if argv else 3
    seconds = int(argv[1]) if len(argv) > 1 else 8
    asyncio.run(main(rounds, seconds))


if __name__ == "__main__":
    run(sys.argv[1:])
