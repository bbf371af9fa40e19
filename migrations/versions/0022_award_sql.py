"""A 10,000-award batch in a fraction of the time: what award_submit and the ledger's general posting path
still did row by row is done set-wise, and what was checked twice is checked once.

Profiled on one 10,000-award `award_submit` call (auto_explain, nested statements, `track_functions`;
`docs/benchmarks.md`, "The batch, set-wise"):

- **The lifetime-earned check** of jifen_post_general (0013/0016) looked up each posting's transaction kind
  as `t_kinds[i.tx]` — subscripting a text array is a walk from its first element, so 10,000 postings cost
  tens of millions of steps — and each account by a lateral lookup. It is now one join: the postings with
  their transactions' kinds (both unnested, joined on the transaction's number), their accounts, and the
  transactions reversed (looked up only for reversals). The running-balance check (JF001) reads the same
  rows in the same statement; each refusal is still raised where it was, with the same SQLSTATE and detail.
- **The outbox events' foreign keys** (village, household; migration 0020) checked and key-share-locked one
  row per event. One statement-level trigger, `outbox_events_references`, checks the same references for
  the whole statement (households and villages are never deleted, triggers of 0002, so a check on insert is
  all the foreign keys did); a dangling reference is refused with SQLSTATE 23503, as before.
- **The awards' reference trigger** (0002) stays for direct writers only, `WHEN (current_user =
  session_user)`, the boundary 0013 and 0016 drew: inside award_submit (SECURITY DEFINER) every household is
  read from the village, every rule version from the rule, and every transaction is posted by the same call,
  so the references hold by construction and are not looked up again, row by row.
- **award_submit** writes each timestamp of its answer once per call, not once per item, and draws its ids
  with `uuidv7()` (PostgreSQL 18): time-ordered ids land at the right-hand end of their indexes instead of
  at random pages.
- **ix_awards_village_id_household_id** is dropped: ix_awards_household_created (village, household,
  created_at) serves every read it served.

Every invariant is enforced by the database as before: balance, never below zero, append-only, the chain's
bookkeeping, at most one compensation.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-02
"""

import importlib.util
from pathlib import Path
from types import ModuleType

from jifen.kit.migrate import execute_script

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def _released(name: str) -> ModuleType:
    """A released migration, read as it is (released migrations never change)."""
    spec = importlib.util.spec_from_file_location(f"jifen_migration_{name}", Path(__file__).with_name(name))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_0016 = _released("0016_lean_posting.py")
_0021 = _released("0021_award_call.py")


def _replaced(text: str, *pairs: tuple[str, str]) -> str:
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new)
    return text


def _function(script: str, name: str) -> str:
    """One `CREATE FUNCTION name(...) ... $$;` of a released migration's script, as CREATE OR REPLACE."""
    start = script.index(f"CREATE FUNCTION {name}(")
    end = script.index("\n$$;\n", start) + len("\n$$;\n")
    return "CREATE OR REPLACE" + script[start + len("CREATE") : end]


def _general_head_of_0016() -> str:
    """jifen_post_general of 0016 up to its locking of the households (its own checks, unchanged)."""
    script = _0016.UPGRADE
    start = script.index("CREATE FUNCTION jifen_post_general(")
    return (
        "CREATE OR REPLACE"
        + script[start + len("CREATE") : script.index("    PERFORM 1 FROM accounts", start)]
    )


def _between(text: str, start: str, end: str) -> str:
    return text[text.index(start) : text.index(end, text.index(start))]


# jifen_post_general from the households' lock on: the lifetime-earned rule and the running balances in one
# statement over joined rows (no array subscripts of text, no lateral lookups), the writes of 0013 unchanged.
GENERAL_TAIL = (
    r"""    PERFORM 1 FROM accounts
     WHERE village_id = p_village AND id = ANY (p_accounts) AND kind = 'household'
     ORDER BY id FOR UPDATE;

    -- Every posting with its transaction's kind, its account and (a reversal) the kind of what it reverses,
    -- read once: the first posting whose lifetime earned does not follow the ledger's rule (JF005, before
    -- anything is written), and the first that would take a household below zero counted on the balances
    -- before the batch (JF001, after the transactions, as before).
    WITH reversed AS (
        SELECT t.tx, x.kind
          FROM unnest(t_kinds, t_reverses) WITH ORDINALITY AS t(kind, reverses, tx)
          JOIN ledger_transactions x ON x.village_id = p_village AND x.id = t.reverses
         WHERE t.kind = 'reversal'),
    lines AS (
        SELECT i.ord, i.tx, i.account, i.amount, a.held,
               i.earned IS DISTINCT FROM CASE
                   WHEN a.kind IS DISTINCT FROM 'household' THEN 0
                   WHEN t.kind IN ('award', 'rectification') THEN greatest(i.amount, 0)
                   WHEN r.kind IN ('award', 'rectification') THEN least(i.amount, 0)
                   WHEN t.kind = 'adjustment' THEN least(i.amount, 0)
                   ELSE 0 END AS misearned,
               CASE WHEN a.kind = 'household'
                    THEN a.posted + sum(i.amount) OVER (PARTITION BY i.account ORDER BY i.ord) END AS balance_after
          FROM unnest(p_tx, p_accounts, p_amounts, p_earned) WITH ORDINALITY AS i(tx, account, amount, earned, ord)
          JOIN unnest(t_kinds) WITH ORDINALITY AS t(kind, tx) ON t.tx = i.tx
          LEFT JOIN reversed r ON r.tx = i.tx
          LEFT JOIN accounts a ON a.village_id = p_village AND a.id = i.account)
    SELECT min(l.ord) FILTER (WHERE l.misearned) AS misearned,
           (array_agg(json_build_object('tx_index', l.tx, 'account_id', l.account,
                                        'available', l.balance_after - l.amount - l.held, 'needed', -l.amount)
                      ORDER BY l.ord) FILTER (WHERE l.balance_after - l.held < 0))[1] AS short
      INTO bad
      FROM lines l;
    IF bad.misearned IS NOT NULL THEN
        RAISE EXCEPTION 'ledger_post: lifetime earned of posting % does not follow the ledger''s rule',
            bad.misearned USING ERRCODE = 'JF005';
    END IF;

"""
    + _between(_0016._BATCH_PATH_OF_0013, "    INSERT INTO ledger_transactions (", "    -- the first posting")
    + r"""    IF bad.short IS NOT NULL THEN
        RAISE EXCEPTION 'insufficient points' USING ERRCODE = 'JF001', DETAIL = bad.short::text;
    END IF;

"""
    + _0016._BATCH_PATH_OF_0013[_0016._BATCH_PATH_OF_0013.index("    UPDATE accounts a") :]
)

# award_submit of 0021 with its timestamps written once and time-ordered ids
_AWARD_SUBMIT_OF_0021 = _function(_0021.UPGRADE, "award_submit")
AWARD_SUBMIT = _replaced(
    _AWARD_SUBMIT_OF_0021,
    (
        "    notice_until timestamptz;\n",
        "    notice_until timestamptz;\n    created_json text;\n    notice_json text;\n",
    ),
    (
        "    notice_until := CASE WHEN notice > 0 THEN now_ + make_interval(days => notice) END;\n",
        "    notice_until := CASE WHEN notice > 0 THEN now_ + make_interval(days => notice) END;\n"
        "    created_json := jifen_json_time(now_);\n"
        "    notice_json := coalesce(jifen_json_time(notice_until), 'null');\n",
    ),
    ("|| jifen_json_time(now_)", "|| created_json"),
    ("THEN jifen_json_time(notice_until)", "THEN notice_json"),
    ("    notice_json text;\n", "    notice_json text;\n    ids uuid := uuidv7();\n"),
    ("SELECT i.ord, gen_random_uuid() AS id,", "SELECT i.ord, jifen_uuid_add(ids, i.ord) AS id,"),
    (
        "THEN gen_random_uuid() END AS transaction_id",
        "THEN jifen_uuid_add(ids, n + i.ord) END AS transaction_id",
    ),
    ("batch := gen_random_uuid();", "batch := ids;"),
    ("SELECT v_village, gen_random_uuid(),", "SELECT v_village, jifen_uuid_add(a.id, 2 * n),"),
)

# jifen_award_claim_post of 0021 with every aggregate in one order, (item, line): PostgreSQL then sorts the
# postings once for all thirteen instead of once per aggregate (the first lines are in item order either way)
_CLAIM_POST_OF_0021 = _function(_0021.UPGRADE, "jifen_award_claim_post")
CLAIM_POST = _replaced(_CLAIM_POST_OF_0021, ("ORDER BY a.ord)", "ORDER BY a.ord, q.line)"))

OUTBOX_FOREIGN_KEYS = (
    "ALTER TABLE outbox_events ADD CONSTRAINT fk_outbox_events_village_id_villages"
    " FOREIGN KEY (village_id) REFERENCES villages (id);\n"
    "ALTER TABLE outbox_events ADD CONSTRAINT fk_outbox_events_village_id_household_id_households"
    " FOREIGN KEY (village_id, household_id) REFERENCES households (village_id, id);\n"
)

AWARDS_REFERENCES_TRIGGER = (
    "DROP TRIGGER awards_references_on_insert ON awards;\n"
    "CREATE TRIGGER awards_references_on_insert AFTER INSERT ON awards REFERENCING NEW TABLE AS new_awards"
    " FOR EACH STATEMENT {when}EXECUTE FUNCTION jifen_awards_references();\n"
)

# Time-ordered ids for a whole call from one uuidv7(): the id with k added to its last 48 bits. (This
# PostgreSQL reads /dev/urandom afresh, an open and a close, for every random uuid: three per award.) An
# award's ids are uuidv7() + its item number, its transaction's + n more, its event's + 2n more: distinct
# within the call, and another call draws another uuidv7(). No SET clause, so that it is inlined.
UUID_ADD = r"""
CREATE FUNCTION jifen_uuid_add(id uuid, k bigint) RETURNS uuid LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (pg_catalog.left(id::text, 24) || pg_catalog.lpad(pg_catalog.to_hex(
        (('x' || pg_catalog.right(id::text, 12))::bit(48)::bigint + k) & 281474976710655), 12, '0'))::uuid
$$;
REVOKE EXECUTE ON FUNCTION jifen_uuid_add(uuid, bigint) FROM PUBLIC;
"""

UPGRADE = rf"""
{UUID_ADD}{_general_head_of_0016()}{GENERAL_TAIL}
{AWARD_SUBMIT}
{CLAIM_POST}
{AWARDS_REFERENCES_TRIGGER.format(when="WHEN (current_user = session_user) ")}
-- The outbox events' references, for the whole statement: the village, and the household when there is one.
CREATE FUNCTION jifen_outbox_events_references() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    bad record;
BEGIN
    SELECT e.village_id, e.household_id INTO bad
      FROM (SELECT DISTINCT n.village_id, n.household_id FROM new_events n) e
      LEFT JOIN villages v ON v.id = e.village_id
      LEFT JOIN households h ON h.village_id = e.village_id AND h.id = e.household_id
     WHERE v.id IS NULL OR (e.household_id IS NOT NULL AND h.id IS NULL)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'an outbox event names village % household %, which does not exist', bad.village_id,
            bad.household_id USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'outbox_events_references';
    END IF;
    RETURN NULL;
END
$$;
ALTER TABLE outbox_events DROP CONSTRAINT fk_outbox_events_village_id_villages,
    DROP CONSTRAINT fk_outbox_events_village_id_household_id_households;
CREATE TRIGGER outbox_events_references AFTER INSERT ON outbox_events REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION jifen_outbox_events_references();

DROP INDEX ix_awards_village_id_household_id;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(
        "CREATE INDEX ix_awards_village_id_household_id ON awards (village_id, household_id);\n"
        "DROP TRIGGER outbox_events_references ON outbox_events;\n"
        "DROP FUNCTION jifen_outbox_events_references();\n"
        + OUTBOX_FOREIGN_KEYS
        + AWARDS_REFERENCES_TRIGGER.format(when="")
        + _AWARD_SUBMIT_OF_0021
        + _CLAIM_POST_OF_0021
        + _general_head_of_0016()
        + _0016._BATCH_PATH_OF_0013
        + "DROP FUNCTION jifen_uuid_add(uuid, bigint);\n"
    )
