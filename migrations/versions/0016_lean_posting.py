"""A lean posting path: ledger_post checks what it writes itself, once, and the ledger's triggers check only
what is written by hand.

Profiled with callgrind on one backend (instructions per single award, `docs/benchmarks.md`), the posting of
0013 spent most of its time checking things twice: the statement triggers re-read through transition
tables what ledger_post had just computed (every account's last balance and version, every transaction's
sum, every reference), the deferred trigger summed each transaction's postings again at commit, the
chain's writers' lock was a trigger call of its own, and the single-transaction loop was planned afresh on
every call (a custom plan for its `unnest`).

Now, for the one shape almost every posting has (one transaction, two postings on two accounts: an award,
a deduction, a sale, a cancellation, a reversal, an expiry), ledger_post does the work and its checks in five
statements on primary keys: the chain's writers' lock; both accounts' kinds in one query (each must be of the
village: a foreign key's check); each household's row moved in account id order (lock, move and version in
one UPDATE, never below zero: JF001); the transaction, written only if its rule version exists; the two
postings. The balance (two amounts summing to zero), the lifetime-earned rule and the shapes are checked on
the arguments, without a query. Every other shape (a batch, a transaction with more postings) goes through
jifen_post_general: the set-based path of 0002/0013, which now also checks balance and references itself.
And the two `kind` CHECKs become one text[] constant each (same meaning): PostgreSQL reads a table's CHECKs
from their stored text on every statement that writes a row, and a list of literals is dear to read.

The triggers that checked balance, references and the chain's lock stay, unchanged, for everyone who writes
the ledger directly (the owner by hand; the service role may not write it at all, migration 0013): each now
fires only `WHEN (current_user = session_user)`, the same boundary 0013 drew for `jifen_owner_only`. Inside
the ledger's SECURITY DEFINER functions current_user is the owner and the session is the service, so the
check made by the function is not made again. A definer function that writes the ledger must therefore do
what ledger_post does; ledger_post is the only one (ledger_capture_hold calls it).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01
"""

import re
from pathlib import Path

from jifen.kit.migrate import execute_script

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

POST_ARGS = (
    "uuid, uuid, uuid[], text[], text[], uuid[], integer[], text[], uuid[], uuid[], text[], integer[], uuid[],"
    " bigint[], bigint[]"
)
PINNED = "SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp"
CHAIN_WRITERS_LOCK = "7595439545093744238"  # jifen_chain_writer's (migration 0003)

# The triggers that now fire for direct writers only: (table, name, definition after the name).
DIRECT_WRITER_TRIGGERS = (
    (
        "ledger_transactions",
        "ledger_transactions_chain_writer",
        "BEFORE INSERT ON ledger_transactions FOR EACH STATEMENT {when}EXECUTE FUNCTION jifen_chain_writer()",
    ),
    (
        "ledger_transactions",
        "ledger_transactions_references",
        "AFTER INSERT ON ledger_transactions REFERENCING NEW TABLE AS new_transactions FOR EACH STATEMENT"
        " {when}EXECUTE FUNCTION jifen_ledger_transactions_references()",
    ),
    (
        "postings",
        "postings_references",
        "AFTER INSERT ON postings REFERENCING NEW TABLE AS new_postings FOR EACH STATEMENT"
        " {when}EXECUTE FUNCTION jifen_postings_references()",
    ),
)
BALANCED_TRIGGER = (
    "CONSTRAINT TRIGGER ledger_transactions_balanced AFTER INSERT ON ledger_transactions"
    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW {when}EXECUTE FUNCTION jifen_transaction_balanced()"
)
DIRECT_WRITERS_ONLY = "WHEN (current_user = session_user) "


def _triggers(when: str) -> str:
    sql = ""
    for table, name, definition in DIRECT_WRITER_TRIGGERS:
        sql += f"DROP TRIGGER {name} ON {table};\nCREATE TRIGGER {name} {definition.format(when=when)};\n"
    sql += "DROP TRIGGER ledger_transactions_balanced ON ledger_transactions;\n"
    sql += f"CREATE {BALANCED_TRIGGER.format(when=when)};\n"
    return sql


def _ledger_post_of_0013() -> str:
    """0013's ledger_post, read from that migration (released migrations never change)."""
    source = Path(__file__).with_name("0013_balance_privileges.py").read_text()
    found = re.search(r"CREATE OR REPLACE FUNCTION ledger_post\(.*?\n\$\$;\n", source, re.DOTALL)
    assert found is not None
    return found.group(0).replace("{PINNED}", PINNED)


def _batch_path_of_0013() -> str:
    """The set-based part of 0013's ledger_post (from locking the households to its end), unchanged."""
    body = _ledger_post_of_0013()
    return body[body.index("\n    PERFORM 1 FROM accounts") + 1 :]


def _between(text: str, start: str, end: str) -> str:
    return text[text.index(start) : text.index(end, text.index(start))]


_0013 = _ledger_post_of_0013()
_BATCH_PATH_OF_0013 = _batch_path_of_0013()
# its parameters, and its check of the arguments' shapes (JF005), unchanged
POST_PARAMS = _between(_0013, "\n    p_village uuid,", "\n) RETURNS void")
_SHAPE_CHECK_OF_0013 = _between(
    _0013, "    IF p_village IS NULL OR p_actor IS NULL", "    IF n_tx > 1 AND EXISTS"
)


# PostgreSQL reads every CHECK constraint of a table from its stored text once per statement that writes a
# row; a list of varchar literals is an array of casts, several times dearer to read than one text[] constant
# meaning the same. (Same constraints, same names; the models say the same.)
KIND_CHECKS = (
    (
        "ledger_transactions",
        "ck_ledger_transactions_kind",
        tuple(
            "award deduction reversal redemption redemption_cancel expiry rectification adjustment".split()
        ),
    ),
    ("accounts", "ck_accounts_kind", ("household", "issuing", "deductions", "store", "expiry")),
)


def _kind_checks(as_array: bool) -> str:
    sql = ""
    for table, name, kinds in KIND_CHECKS:
        if as_array:
            check = "kind::text = ANY ('{" + ",".join(kinds) + "}'::text[])"
        else:
            check = "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"
        sql += (
            f"ALTER TABLE {table} DROP CONSTRAINT {name}, ADD CONSTRAINT {name} CHECK ({check}) NOT VALID;\n"
            f"ALTER TABLE {table} VALIDATE CONSTRAINT {name};\n"
        )
    return sql


UPGRADE = rf"""
{_kind_checks(as_array=True)}
{_triggers(DIRECT_WRITERS_ONLY)}

-- Every shape but the common one: many transactions (a batch, an inspection sheet, expiry), or one with more
-- than two postings. The set-based path of 0013's ledger_post (read from that migration, unchanged), after
-- the checks the triggers made for it: the chain writers' lock, every transaction has two postings or more and
-- sums to zero, the village and every rule version exist. (A posting to an account outside the village is
-- refused with JF004 here, as 0013's batch path did.) Called by ledger_post only, inside its SECURITY DEFINER.
CREATE FUNCTION jifen_post_general({POST_PARAMS}
) RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp SET enable_seqscan = off AS $$
DECLARE
    bad record;
    written bigint;
    n_tx integer := cardinality(t_ids);
    n_lines integer := cardinality(p_accounts);
BEGIN
    PERFORM pg_advisory_xact_lock_shared({CHAIN_WRITERS_LOCK});

    -- (no join with the transactions' numbers: with LIMIT 1 the planner would nest the loops, 10,000 × 10,000)
    SELECT g.tx, g.total, g.lines INTO bad
      FROM (SELECT i.tx, sum(i.amount) AS total, count(*) AS lines
              FROM unnest(p_tx, p_amounts) AS i(tx, amount) GROUP BY i.tx) g
     WHERE g.lines < 2 OR g.total <> 0
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger transaction % is unbalanced (sum %, % postings)', t_ids[bad.tx], bad.total,
            bad.lines USING ERRCODE = 'JF003';
    END IF;
    -- every transaction has postings (ledger_post checked that each posting names one of them)
    IF (SELECT count(DISTINCT i.tx) FROM unnest(p_tx) AS i(tx)) <> n_tx THEN
        RAISE EXCEPTION 'a ledger transaction of this batch has no postings' USING ERRCODE = 'JF003';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM villages v WHERE v.id = p_village) THEN
        RAISE EXCEPTION 'ledger transaction % names a village or rule version that does not exist', t_ids[1]
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'ledger_transactions_references';
    END IF;
    -- each rule version once (a batch names a few)
    SELECT t.rule_id, t.rule_version INTO bad
      FROM (SELECT DISTINCT r.rule_id, r.rule_version
              FROM unnest(t_rule_ids, t_rule_versions) AS r(rule_id, rule_version)) t
      LEFT JOIN LATERAL (
            SELECT x.rule_id FROM rule_versions x
             WHERE x.village_id = p_village AND x.rule_id = t.rule_id AND x.version = t.rule_version
             LIMIT 1) rv ON true
     WHERE (t.rule_id IS NULL) <> (t.rule_version IS NULL) OR (t.rule_id IS NOT NULL AND rv.rule_id IS NULL)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'a ledger transaction names rule % version %, which does not exist', bad.rule_id,
            bad.rule_version USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'ledger_transactions_references';
    END IF;

{_BATCH_PATH_OF_0013}
REVOKE EXECUTE ON FUNCTION jifen_post_general({POST_ARGS}) FROM PUBLIC;

-- ledger_post: the same arguments, refusals and SQLSTATEs as in 0013.
CREATE OR REPLACE FUNCTION ledger_post({POST_PARAMS}
) RETURNS void LANGUAGE plpgsql {PINNED} SET enable_seqscan = off AS $$
DECLARE
    n_tx integer := coalesce(cardinality(t_ids), 0);
    n_lines integer := coalesce(cardinality(p_accounts), 0);
    reversed_kind text;
    first integer;
    line integer;
    amount bigint;
    was_posted bigint;
    was_held bigint;
    new_version bigint;
    kinds text[];
    balances bigint[] := '{{NULL,NULL}}';
    versions bigint[] := '{{NULL,NULL}}';
    expected bigint[] := '{{0,0}}';
BEGIN
{_SHAPE_CHECK_OF_0013}    IF n_tx > 1 OR n_lines > 2 OR p_accounts[1] IS NULL OR p_accounts[2] IS NULL
       OR p_accounts[1] = p_accounts[2]
    THEN
        -- (a query: only off the hot path)
        IF n_tx > 1 AND EXISTS (SELECT 1 FROM unnest(p_tx) AS x(tx) WHERE x.tx IS NULL OR x.tx < 1 OR x.tx > n_tx)
        THEN
            RAISE EXCEPTION 'ledger_post: transactions and postings do not line up' USING ERRCODE = 'JF005';
        END IF;
        PERFORM jifen_post_general(p_village, p_actor, t_ids, t_kinds, t_memos, t_rule_ids, t_rule_versions,
                                   t_source_types, t_source_ids, t_reverses, t_reasons, p_tx, p_accounts,
                                   p_amounts, p_earned);
        RETURN;
    END IF;

    -- One transaction, two postings on two accounts. Balanced: the two amounts sum to zero.
    IF p_amounts[1] IS NULL OR p_amounts[2] IS NULL OR p_amounts[1] + p_amounts[2] <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % is unbalanced (sum %, 2 postings)', t_ids[1],
            p_amounts[1] + p_amounts[2] USING ERRCODE = 'JF003';
    END IF;
    -- the chain's writers' lock, before any chained record draws its chain_id (migration 0003)
    PERFORM pg_advisory_xact_lock_shared({CHAIN_WRITERS_LOCK});
    IF t_kinds[1] = 'reversal' AND t_reverses[1] IS NOT NULL THEN
        SELECT x.kind INTO reversed_kind FROM ledger_transactions x
         WHERE x.village_id = p_village AND x.id = t_reverses[1];
    END IF;

    -- Both accounts' kinds, read together; each must be of this village (refused below, after the
    -- lifetime-earned rule, as before).
    SELECT ARRAY[(SELECT a.kind::text FROM accounts a WHERE a.village_id = p_village AND a.id = p_accounts[1]),
                 (SELECT a.kind::text FROM accounts a WHERE a.village_id = p_village AND a.id = p_accounts[2])]
      INTO kinds;
    -- Household accounts move in account id order (the order every path locks them in), each with one
    -- UPDATE that locks, moves and versions its row; a household's available balance never goes below zero
    -- (JF001 here, the row's CHECK besides). A system account's row never moves (migration 0002).
    first := CASE WHEN p_accounts[1] < p_accounts[2] THEN 1 ELSE 2 END;
    FOREACH line IN ARRAY ARRAY[first, 3 - first] LOOP
        CONTINUE WHEN kinds[line] IS DISTINCT FROM 'household';
        amount := p_amounts[line];
        -- what a household earns by this posting: the ledger's rule (ledger/service.py earned_by)
        expected[line] := CASE
            WHEN t_kinds[1] IN ('award', 'rectification') THEN greatest(amount, 0)
            WHEN reversed_kind IN ('award', 'rectification') THEN least(amount, 0)
            WHEN t_kinds[1] = 'adjustment' THEN least(amount, 0)
            ELSE 0 END;
        UPDATE accounts a
           SET posted = CASE WHEN a.posted + amount - a.held < 0 THEN a.posted ELSE a.posted + amount END,
               lifetime_earned = a.lifetime_earned + expected[line],
               version = a.version + 1
         WHERE a.village_id = p_village AND a.id = p_accounts[line]
        RETURNING old.posted, old.held, new.version INTO was_posted, was_held, new_version;
        IF was_posted + amount - was_held < 0 THEN
            RAISE EXCEPTION 'insufficient points'
                USING ERRCODE = 'JF001',
                      DETAIL = json_build_object('tx_index', 1, 'account_id', p_accounts[line],
                                                 'available', was_posted - was_held, 'needed', -amount)::text;
        END IF;
        balances[line] := was_posted + amount;
        versions[line] := new_version;
    END LOOP;
    IF expected IS DISTINCT FROM p_earned THEN
        RAISE EXCEPTION 'ledger_post: lifetime earned % does not follow the ledger''s rule (%)',
            p_earned, expected USING ERRCODE = 'JF005';
    END IF;
    IF kinds[1] IS NULL OR kinds[2] IS NULL THEN
        RAISE EXCEPTION 'a posting names an account outside village %', p_village
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'postings_account';
    END IF;

    -- the transaction, written only if its rule version exists (a rule in the village: the village exists)
    INSERT INTO ledger_transactions (
        village_id, id, kind, memo, actor_id, rule_id, rule_version, source_type, source_id, reverses_id,
        reason)
    SELECT p_village, t_ids[1], t_kinds[1], t_memos[1], p_actor, t_rule_ids[1], t_rule_versions[1],
           t_source_types[1], t_source_ids[1], t_reverses[1], t_reasons[1]
     WHERE CASE WHEN t_rule_ids[1] IS NULL THEN t_rule_versions[1] IS NULL
                ELSE EXISTS (SELECT 1 FROM rule_versions x
                              WHERE x.village_id = p_village AND x.rule_id = t_rule_ids[1]
                                AND x.version = t_rule_versions[1]) END;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ledger transaction % names a village or rule version that does not exist', t_ids[1]
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'ledger_transactions_references';
    END IF;

    -- the postings (their accounts are of this village, so the village exists: accounts reference villages)
    INSERT INTO postings (village_id, transaction_id, account_id, amount, balance_after, account_version)
    VALUES (p_village, t_ids[1], p_accounts[1], p_amounts[1], balances[1], versions[1]),
           (p_village, t_ids[1], p_accounts[2], p_amounts[2], balances[2], versions[2]);
END
$$;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(
        _ledger_post_of_0013()
        + f"DROP FUNCTION jifen_post_general({POST_ARGS});\n"
        + _triggers("")
        + _kind_checks(as_array=False)
    )
