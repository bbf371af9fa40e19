"""A 10,000-award batch leaner still: the ledger's general posting path reads its postings once for its
checks and writes the households' balances and the postings in one statement, and the reversal's
self-reference is checked only for reversals.

Profiled by instructions (callgrind on `postgres --single`, one 10,000-award `award_submit` call, rolled
back; `docs/benchmarks.md`, "The batch, leaner: migration 0026"):

- **jifen_post_general** (0016, 0022) spent most of its time sorting: the lifetime-earned check computed
  every household's running balance (a window partitioned by account, a sort of every posting) for JF001,
  then the balances were moved by a second pass grouped by account, then the postings were inserted after a
  third pass that joined the accounts again, computed each running balance backwards (another partitioned
  window) and sorted once more. Now:
  - the balance checks (JF003) read the postings once, grouped by transaction (no second count of distinct
    transactions);
  - one pass over the postings joined with their transactions' kinds and their accounts checks the
    lifetime-earned rule (JF005) and counts what decides the rest: postings to accounts outside the village
    (JF004), household postings, and debits from a household;
  - running balances are computed (the statement of 0022, unchanged) only when a household is debited: a
    batch that only credits households cannot take one below zero, since each locked row's available
    balance is not negative (`ck_accounts_available_not_negative`, which still checks every row written);
  - when each household appears once in the batch (counted: its household postings equal the rows locked),
    its balance moves and its posting is written in one statement (the UPDATE's RETURNING gives the new
    balance and version: the posting's balance after and account version). A household posted more than
    once in one batch still goes through 0013's two statements (its running balances), unchanged.
  Every refusal keeps its SQLSTATE and detail; what is raised first when a batch has several faults may
  differ (a posting outside the village is now refused before the balances move, not after).
- **fk_ledger_transactions_reverses** (0002) queued an after-trigger event per inserted transaction, 10,000
  per batch, each finding a NULL reference. A row trigger `ledger_transactions_reverses` that fires only
  `WHEN (NEW.reverses_id IS NOT NULL)` checks the same reference (SQLSTATE 23503, the constraint's name);
  ledger transactions are never deleted or truncated (their append-only triggers, and no DELETE privilege),
  which is all the key's locking guarded against.
- **ix_ledger_transactions_chain_id, ix_postings_chain_id** (0003), on chain_id alone, served only /metrics'
  count of records not yet linked, across villages; it now counts per village on (village_id, chain_id), as
  the chainer reads. Three index entries fewer per award.
- **The stored answer** (`idempotency_keys.response`) is kept uncompressed (STORAGE EXTERNAL): compressing a
  10,000-award batch's answer (4.6 MB of JSON) with pglz was 5% of the call's instructions.
- **Btree deduplication is off** on the seven indexes whose keys never repeat (each ends in an id or a
  chain_id): it could never merge two entries, yet ran a pass over every full page before splitting it.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-02
"""

from jifen.kit.migrate import between, execute_script, released

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


_0016 = released("0016_lean_posting.py")
_0022 = released("0022_award_sql.py")


# jifen_post_general as 0022 left it (0016's head and 0022's tail), for the downgrade
GENERAL_OF_0022 = _0022._general_head_of_0016() + _0022.GENERAL_TAIL
# 0022's statement over joined rows (lifetime earned and running balances), run now only when a household is
# debited, for JF001
_RUNNING_OF_0022 = between(_0022.GENERAL_TAIL, "    WITH reversed AS (", "    IF bad.misearned IS NOT NULL")
# 0013's two statements (the balances by account, then the postings with running balances), for a batch that
# posts to a household more than once
_TWO_PASSES_OF_0013 = _0016._BATCH_PATH_OF_0013[_0016._BATCH_PATH_OF_0013.index("    UPDATE accounts a") :]
assert _TWO_PASSES_OF_0013.endswith("END\n$$;\n")
_TWO_PASSES_OF_0013 = _TWO_PASSES_OF_0013[: -len("END\n$$;\n")]
_RULE_VERSIONS_OF_0016 = between(
    _0016.UPGRADE,
    "    IF NOT EXISTS (SELECT 1 FROM villages v WHERE v.id = p_village)",
    "\n    PERFORM 1 FROM accounts",
)

GENERAL = (
    rf"""CREATE OR REPLACE FUNCTION jifen_post_general({_0016.POST_PARAMS}
) RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp SET enable_seqscan = off AS $$
DECLARE
    bad record;
    seen record;
    written bigint;
    locked bigint;
    n_tx integer := cardinality(t_ids);
    n_lines integer := cardinality(p_accounts);
BEGIN
    PERFORM pg_advisory_xact_lock_shared({_0016.CHAIN_WRITERS_LOCK});

    -- Balanced, in one pass: every transaction has two postings or more and sums to zero, and every
    -- transaction has postings (ledger_post checked that each posting names one of them).
    SELECT count(*) AS groups, min(g.tx) FILTER (WHERE g.lines < 2 OR g.total <> 0) AS tx INTO seen
      FROM (SELECT i.tx, sum(i.amount) AS total, count(*) AS lines
              FROM unnest(p_tx, p_amounts) AS i(tx, amount) GROUP BY i.tx) g;
    IF seen.tx IS NOT NULL THEN
        SELECT sum(i.amount) AS total, count(*) AS lines INTO bad
          FROM unnest(p_tx, p_amounts) AS i(tx, amount) WHERE i.tx = seen.tx;
        RAISE EXCEPTION 'ledger transaction % is unbalanced (sum %, % postings)', t_ids[seen.tx], bad.total,
            bad.lines USING ERRCODE = 'JF003';
    END IF;
    IF seen.groups <> n_tx THEN
        RAISE EXCEPTION 'a ledger transaction of this batch has no postings' USING ERRCODE = 'JF003';
    END IF;
"""
    + _RULE_VERSIONS_OF_0016
    + r"""
    PERFORM 1 FROM accounts
     WHERE village_id = p_village AND id = ANY (p_accounts) AND kind = 'household'
     ORDER BY id FOR UPDATE;
    GET DIAGNOSTICS locked = ROW_COUNT;

    -- Every posting with its transaction's kind, its account and (a reversal) the kind of what it reverses,
    -- read once, without sorting: the first posting whose lifetime earned does not follow the ledger's rule
    -- (JF005, before anything is written), the postings outside the village (JF004), the household postings
    -- and whether any debits a household (then JF001 needs the running balances).
    WITH reversed AS (
        SELECT t.tx, x.kind
          FROM unnest(t_kinds, t_reverses) WITH ORDINALITY AS t(kind, reverses, tx)
          JOIN ledger_transactions x ON x.village_id = p_village AND x.id = t.reverses
         WHERE t.kind = 'reversal')
    SELECT min(i.ord) FILTER (WHERE i.earned IS DISTINCT FROM CASE
                   WHEN a.kind IS DISTINCT FROM 'household' THEN 0
                   WHEN t.kind IN ('award', 'rectification') THEN greatest(i.amount, 0)
                   WHEN r.kind IN ('award', 'rectification') THEN least(i.amount, 0)
                   WHEN t.kind = 'adjustment' THEN least(i.amount, 0)
                   ELSE 0 END) AS misearned,
           count(*) FILTER (WHERE a.id IS NULL) AS outside,
           count(*) FILTER (WHERE a.kind = 'household') AS household_lines,
           coalesce(bool_or(a.kind = 'household' AND i.amount < 0), false) AS debits
      INTO seen
      FROM unnest(p_tx, p_accounts, p_amounts, p_earned) WITH ORDINALITY AS i(tx, account, amount, earned, ord)
      JOIN unnest(t_kinds) WITH ORDINALITY AS t(kind, tx) ON t.tx = i.tx
      LEFT JOIN reversed r ON r.tx = i.tx
      LEFT JOIN accounts a ON a.village_id = p_village AND a.id = i.account;
    IF seen.misearned IS NOT NULL THEN
        RAISE EXCEPTION 'ledger_post: lifetime earned of posting % does not follow the ledger''s rule',
            seen.misearned USING ERRCODE = 'JF005';
    END IF;

"""
    + between(_0016._BATCH_PATH_OF_0013, "    INSERT INTO ledger_transactions (", "    -- the first posting")
    + r"""    -- the first posting that would take a household below zero, counted on the balances before the batch:
    -- only a debit can
    IF seen.debits THEN
"""
    + _RUNNING_OF_0022.replace("\n    ", "\n        ").replace(
        "    WITH reversed AS (", "        WITH reversed AS (", 1
    )
    + r"""        IF bad.short IS NOT NULL THEN
            RAISE EXCEPTION 'insufficient points' USING ERRCODE = 'JF001', DETAIL = bad.short::text;
        END IF;
    END IF;
    IF seen.outside > 0 THEN
        RAISE EXCEPTION 'posting to an account outside village %', p_village USING ERRCODE = 'JF004';
    END IF;

    IF seen.household_lines <> locked THEN
        -- a household posted more than once: its balance moves by its postings' sum, each posting's balance
        -- after counted back from the new balance (0013)
"""
    + _TWO_PASSES_OF_0013.replace("\n    ", "\n        ").replace(
        "    UPDATE accounts a", "        UPDATE accounts a", 1
    )
    + r"""        RETURN;
    END IF;

    -- Each household once: its row moves by its one posting (locked above, in id order), and the UPDATE's
    -- new balance and version are that posting's balance after and account version.
    WITH moved AS (
        UPDATE accounts a
           SET posted = a.posted + i.amount,
               lifetime_earned = a.lifetime_earned + i.earned,
               version = a.version + 1
          FROM unnest(p_accounts, p_amounts, p_earned) AS i(account, amount, earned)
         WHERE a.village_id = p_village AND a.id = i.account AND a.kind = 'household'
        RETURNING a.id, a.posted, a.version)
    INSERT INTO postings (village_id, transaction_id, account_id, amount, balance_after, account_version)
    SELECT p_village, t_ids[i.tx], i.account, i.amount, m.posted, m.version
      FROM unnest(p_tx, p_accounts, p_amounts) WITH ORDINALITY AS i(tx, account, amount, ord)
      LEFT JOIN moved m ON m.id = i.account
     ORDER BY i.ord;
END
$$;
"""
)

# The reversal's reference, checked only for a reversal (the key queued a check per inserted transaction).
REVERSES = r"""
CREATE FUNCTION jifen_ledger_transactions_reverses() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    PERFORM 1 FROM ledger_transactions x WHERE x.village_id = NEW.village_id AND x.id = NEW.reverses_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ledger transaction % reverses %, which is not a transaction of its village', NEW.id,
            NEW.reverses_id USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'fk_ledger_transactions_reverses';
    END IF;
    RETURN NULL;
END
$$;
ALTER TABLE ledger_transactions DROP CONSTRAINT fk_ledger_transactions_reverses;
CREATE TRIGGER ledger_transactions_reverses AFTER INSERT ON ledger_transactions
    FOR EACH ROW WHEN (NEW.reverses_id IS NOT NULL) EXECUTE FUNCTION jifen_ledger_transactions_reverses();
"""
REVERSES_KEY = (
    "DROP TRIGGER ledger_transactions_reverses ON ledger_transactions;\n"
    "DROP FUNCTION jifen_ledger_transactions_reverses();\n"
    "ALTER TABLE ledger_transactions ADD CONSTRAINT fk_ledger_transactions_reverses"
    " FOREIGN KEY (village_id, reverses_id) REFERENCES ledger_transactions (village_id, id);\n"
)

# Indexes on chain_id alone: the chainer reads each village's records by (village_id, chain_id), and so now does
# /metrics (metrics/repository.py); each cost every transaction and posting an index entry.
CHAIN_ONLY_INDEXES = (
    ("ix_ledger_transactions_chain_id", "ledger_transactions"),
    ("ix_postings_chain_id", "postings"),
)
DROP_CHAIN_ONLY = "".join(f"DROP INDEX {name};\n" for name, _ in CHAIN_ONLY_INDEXES)
CREATE_CHAIN_ONLY = "".join(
    f"CREATE INDEX {name} ON {table} (chain_id);\n" for name, table in CHAIN_ONLY_INDEXES
)

# The stored answer, uncompressed: pglz (this PostgreSQL has no lz4) spent more on a batch's answer of a few
# megabytes than writing it whole does, and a replay reads it back without decompressing. Answers under about
# 2 kB (a single award, a sale) stay in their row as before.
ANSWER_STORAGE = "ALTER TABLE idempotency_keys ALTER COLUMN response SET STORAGE {storage};\n"

# Indexes whose keys never repeat (each ends in an id or a chain_id) without being declared unique: btree
# deduplication could never merge two entries, yet ran a pass over every full page before splitting it.
DISTINCT_INDEXES = (
    "ix_audit_events_scope_chain_id",
    "ix_audit_events_scope_record",
    "ix_audit_events_actor_id",
    "ix_audit_events_scope_action",
    "ix_ledger_transactions_id",
    "ix_ledger_transactions_village_id_chain_id",
    "ix_postings_village_id_chain_id",
)
NO_DEDUP = "".join(f"ALTER INDEX {name} SET (deduplicate_items = off);\n" for name in DISTINCT_INDEXES)
DEDUP = "".join(f"ALTER INDEX {name} RESET (deduplicate_items);\n" for name in DISTINCT_INDEXES)

UPGRADE = GENERAL + REVERSES + DROP_CHAIN_ONLY + ANSWER_STORAGE.format(storage="EXTERNAL") + NO_DEDUP


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(
        DEDUP + ANSWER_STORAGE.format(storage="EXTENDED") + CREATE_CHAIN_ONLY + REVERSES_KEY + GENERAL_OF_0022
    )
