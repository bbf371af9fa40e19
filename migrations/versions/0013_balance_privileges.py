"""Balances the service cannot write.

The service role (jifen_app) keeps SELECT and INSERT on accounts (it opens them, empty) but loses UPDATE,
and loses INSERT on ledger_transactions and postings: posted, held, lifetime_earned and version, and the
ledger whose sums are the system accounts' balances, move only inside SECURITY DEFINER functions owned by
the schema owner, each with a pinned search_path (pg_temp last, so a temporary table cannot stand in for a ledger table)
and its own input checks. Holds are written only by those functions too, so `held` is always the sum of the
active holds. Row locks on accounts need UPDATE privilege, so the service takes them through
ledger_lock_households().

  ledger_post(...)            as in 0002, plus: array shapes, and the lifetime-earned rule checked (JF005)
  ledger_hold(...)            sets points aside and writes the hold; never below available (JF001)
  ledger_release_hold(v, h)   ends an active hold, the points available again (JF006 when not active)
  ledger_capture_hold(h, ...) ends an active hold by posting the transaction that spends exactly its points
  ledger_lock_households(...) locks household accounts in id order

SQLSTATEs: JF001 insufficient points, JF004 an account outside the village, JF005 input the ledger refuses,
JF006 a hold that is not active.

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-01
"""

from jifen.kit.migrate import APP_ROLE, execute_script, grant_app_privileges_sql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

POST_ARGS = (
    "uuid, uuid, uuid[], text[], text[], uuid[], integer[], text[], uuid[], uuid[], text[], integer[], uuid[],"
    " bigint[], bigint[]"
)
DEFINER_FUNCTIONS = (
    f"ledger_post({POST_ARGS})",
    "ledger_hold(uuid, uuid, bigint, text, text, uuid, uuid)",
    "ledger_release_hold(uuid, uuid)",
    f"ledger_capture_hold(uuid, {POST_ARGS})",
    "ledger_lock_households(uuid, uuid[], bigint)",
)
# pg_temp named last: otherwise it is searched first for tables, and a caller's temporary `accounts` wins
PINNED = "SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp"


def upgrade() -> None:
    execute_script(
        rf"""
-- Only the owner (through the functions below) changes these tables; any other role is refused even if a
-- later migration's blanket GRANT gives the privilege back (grant_app_privileges_sql revokes it again when
-- it finds this trigger). One check per statement, not per row, and none at all inside the ledger's
-- SECURITY DEFINER functions, where current_user (the owner) is not the session's role: the WHEN clause
-- skips the call on the hot path. A session writing directly (current_user = session_user) is checked.
CREATE FUNCTION jifen_owner_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT pg_catalog.pg_has_role(
        current_user, (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = TG_RELID), 'USAGE')
    THEN
        RAISE EXCEPTION '% on % is done by the ledger''s functions only', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER accounts_owner_only BEFORE UPDATE ON accounts
    FOR EACH STATEMENT WHEN (current_user = session_user) EXECUTE FUNCTION jifen_owner_only();
CREATE TRIGGER holds_owner_only BEFORE INSERT OR UPDATE OR DELETE ON holds
    FOR EACH STATEMENT WHEN (current_user = session_user) EXECUTE FUNCTION jifen_owner_only();
-- The ledger itself is written by ledger_post() only: a system account's balance (issuing, deductions, a
-- store's) is the sum of its postings, so a balanced transaction inserted by hand between two of them would
-- move money-bearing balances (a store's settlement) without any check.
CREATE TRIGGER ledger_transactions_owner_only BEFORE INSERT ON ledger_transactions
    FOR EACH STATEMENT WHEN (current_user = session_user) EXECUTE FUNCTION jifen_owner_only();
CREATE TRIGGER postings_owner_only BEFORE INSERT ON postings
    FOR EACH STATEMENT WHEN (current_user = session_user) EXECUTE FUNCTION jifen_owner_only();

-- An account opens empty: its balance only ever comes from postings and holds.
CREATE FUNCTION jifen_account_opens_empty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.posted <> 0 OR NEW.held <> 0 OR NEW.lifetime_earned <> 0 OR NEW.version <> 0 THEN
        RAISE EXCEPTION 'account % must open with no points (posted %, held %, lifetime earned %, version %)',
            NEW.id, NEW.posted, NEW.held, NEW.lifetime_earned, NEW.version USING ERRCODE = 'JF002';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER accounts_open_empty BEFORE INSERT ON accounts
    FOR EACH ROW EXECUTE FUNCTION jifen_account_opens_empty();

-- A household's history starts at version 1: a hand-written posting at version 0 would otherwise match a
-- fresh account's row (posted 0, version 0) without moving it.
ALTER TABLE postings ADD CONSTRAINT ck_postings_account_version_positive
    CHECK (account_version IS NULL OR account_version > 0);

-- ledger_post: the body of 0002, now SECURITY DEFINER, and checking what a caller could otherwise abuse:
-- the arrays' shapes, and `p_earned`, which must follow the ledger's rule (ledger/service.py earned_by):
-- a household earns the positive amount of an award or rectification, and a reversal of one of those
-- takes back (its negative amount) what was earned, as does an adjustment (an objection lowering or revoking
-- a posted award); nothing else earns. `jifen audit verify` reconciles
-- lifetime_earned with the postings by the same rule.
CREATE OR REPLACE FUNCTION ledger_post(
    p_village uuid,
    p_actor uuid,
    t_ids uuid[],
    t_kinds text[],
    t_memos text[],
    t_rule_ids uuid[],
    t_rule_versions integer[],
    t_source_types text[],
    t_source_ids uuid[],
    t_reverses uuid[],
    t_reasons text[],
    p_tx integer[],
    p_accounts uuid[],
    p_amounts bigint[],
    p_earned bigint[]
) RETURNS void LANGUAGE plpgsql {PINNED} SET enable_seqscan = off AS $$
DECLARE
    bad record;
    written bigint;
    account record;
    balances bigint[];
    versions bigint[];
    expected bigint[];
    amount bigint;
    reversed_kind text;
    n_tx integer := coalesce(cardinality(t_ids), 0);
    n_lines integer := coalesce(cardinality(p_accounts), 0);
BEGIN
    IF p_village IS NULL OR p_actor IS NULL OR n_tx = 0 OR n_lines < 2
       OR ARRAY[coalesce(cardinality(t_kinds), -1), coalesce(cardinality(t_memos), -1),
                coalesce(cardinality(t_rule_ids), -1), coalesce(cardinality(t_rule_versions), -1),
                coalesce(cardinality(t_source_types), -1), coalesce(cardinality(t_source_ids), -1),
                coalesce(cardinality(t_reverses), -1), coalesce(cardinality(t_reasons), -1)]
          <> array_fill(n_tx, ARRAY[8])
       OR ARRAY[coalesce(cardinality(p_tx), -1), coalesce(cardinality(p_amounts), -1),
                coalesce(cardinality(p_earned), -1)] <> array_fill(n_lines, ARRAY[3])
       -- one transaction: every posting is its (a plain expression, no query on the hot path)
       OR (n_tx = 1 AND p_tx IS DISTINCT FROM array_fill(1, ARRAY[n_lines]))
    THEN
        RAISE EXCEPTION 'ledger_post: transactions and postings do not line up' USING ERRCODE = 'JF005';
    END IF;
    IF n_tx > 1 AND EXISTS (SELECT 1 FROM unnest(p_tx) AS x(tx) WHERE x.tx IS NULL OR x.tx < 1 OR x.tx > n_tx)
    THEN
        RAISE EXCEPTION 'ledger_post: transactions and postings do not line up' USING ERRCODE = 'JF005';
    END IF;

    IF n_tx = 1 THEN
        -- one transaction (a single award, a redemption, a reversal): row by row is cheaper than sorting
        -- and windowing, and does the same
        IF t_kinds[1] = 'reversal' AND t_reverses[1] IS NOT NULL THEN
            SELECT x.kind INTO reversed_kind FROM ledger_transactions x
             WHERE x.village_id = p_village AND x.id = t_reverses[1];
        END IF;
        INSERT INTO ledger_transactions (
            village_id, id, kind, memo, actor_id, rule_id, rule_version, source_type, source_id, reverses_id,
            reason)
        VALUES (p_village, t_ids[1], t_kinds[1], t_memos[1], p_actor, t_rule_ids[1], t_rule_versions[1],
                t_source_types[1], t_source_ids[1], t_reverses[1], t_reasons[1]);
        balances := array_fill(NULL::bigint, ARRAY[n_lines]);
        versions := balances;
        expected := array_fill(0::bigint, ARRAY[n_lines]);
        PERFORM 1 FROM accounts
         WHERE village_id = p_village AND id = ANY (p_accounts) AND kind = 'household'
         ORDER BY id FOR UPDATE;
        FOR account IN
            SELECT a.id, a.posted, a.held, a.version, array_agg(i.ord ORDER BY i.ord) AS lines
              FROM unnest(p_accounts) WITH ORDINALITY AS i(account, ord)
              JOIN accounts a ON a.village_id = p_village AND a.id = i.account AND a.kind = 'household'
             GROUP BY a.id, a.posted, a.held, a.version
        LOOP
            FOR n IN 1 .. cardinality(account.lines) LOOP
                amount := p_amounts[account.lines[n]];
                account.posted := account.posted + amount;
                account.version := account.version + 1;
                IF account.posted - account.held < 0 THEN
                    RAISE EXCEPTION 'insufficient points'
                        USING ERRCODE = 'JF001',
                              DETAIL = json_build_object(
                                  'tx_index', 1, 'account_id', account.id,
                                  'available', account.posted - amount - account.held,
                                  'needed', -amount)::text;
                END IF;
                balances[account.lines[n]] := account.posted;
                versions[account.lines[n]] := account.version;
                expected[account.lines[n]] := CASE
                    WHEN t_kinds[1] IN ('award', 'rectification') THEN greatest(amount, 0)
                    WHEN reversed_kind IN ('award', 'rectification') THEN least(amount, 0)
                    WHEN t_kinds[1] = 'adjustment' THEN least(amount, 0)
                    ELSE 0 END;
            END LOOP;
            UPDATE accounts
               SET posted = account.posted,
                   lifetime_earned = lifetime_earned + (
                       SELECT sum(expected[l]) FROM unnest(account.lines) AS l),
                   version = account.version
             WHERE village_id = p_village AND id = account.id;
        END LOOP;
        IF expected IS DISTINCT FROM p_earned THEN
            RAISE EXCEPTION 'ledger_post: lifetime earned % does not follow the ledger''s rule (%)',
                p_earned, expected USING ERRCODE = 'JF005';
        END IF;
        INSERT INTO postings (village_id, transaction_id, account_id, amount, balance_after, account_version)
        SELECT p_village, t_ids[1], i.account, i.amount, i.balance, i.version
          FROM unnest(p_accounts, p_amounts, balances, versions) AS i(account, amount, balance, version);
        RETURN;
    END IF;

    PERFORM 1 FROM accounts
     WHERE village_id = p_village AND id = ANY (p_accounts) AND kind = 'household'
     ORDER BY id FOR UPDATE;

    -- lifetime earned as the ledger's rule says, before anything is written (reversed transactions exist)
    SELECT i.ord INTO bad
      FROM unnest(p_tx, p_accounts, p_amounts, p_earned) WITH ORDINALITY AS i(tx, account, amount, earned, ord)
      LEFT JOIN LATERAL (
            SELECT x.kind FROM accounts x WHERE x.village_id = p_village AND x.id = i.account LIMIT 1) a ON true
      LEFT JOIN LATERAL (
            SELECT x.kind FROM ledger_transactions x
             WHERE t_kinds[i.tx] = 'reversal' AND x.village_id = p_village AND x.id = t_reverses[i.tx]
             LIMIT 1) r ON true
     WHERE i.earned IS DISTINCT FROM CASE
            WHEN a.kind IS DISTINCT FROM 'household' THEN 0
            WHEN t_kinds[i.tx] IN ('award', 'rectification') THEN greatest(i.amount, 0)
            WHEN r.kind IN ('award', 'rectification') THEN least(i.amount, 0)
            WHEN t_kinds[i.tx] = 'adjustment' THEN least(i.amount, 0)
            ELSE 0 END
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger_post: lifetime earned of posting % does not follow the ledger''s rule', bad.ord
            USING ERRCODE = 'JF005';
    END IF;

    INSERT INTO ledger_transactions (
        village_id, id, kind, memo, actor_id, rule_id, rule_version, source_type, source_id, reverses_id,
        reason)
    SELECT p_village, t.id, t.kind, t.memo, p_actor, t.rule_id, t.rule_version, t.source_type, t.source_id,
           t.reverses_id, t.reason
      FROM unnest(t_ids, t_kinds, t_memos, t_rule_ids, t_rule_versions, t_source_types, t_source_ids,
                  t_reverses, t_reasons)
        AS t(id, kind, memo, rule_id, rule_version, source_type, source_id, reverses_id, reason);

    -- the first posting that would take a household below zero, counted on the balances before the batch
    SELECT r.ord, r.tx, r.account, r.balance_after - r.amount - r.held AS available, -r.amount AS needed
      INTO bad
      FROM (SELECT i.tx, i.account, i.amount, i.ord, a.held,
                   a.posted + sum(i.amount) OVER (PARTITION BY i.account ORDER BY i.ord) AS balance_after
              FROM unnest(p_tx, p_accounts, p_amounts) WITH ORDINALITY AS i(tx, account, amount, ord)
              JOIN accounts a ON a.village_id = p_village AND a.id = i.account AND a.kind = 'household') r
     WHERE r.balance_after - r.held < 0
     ORDER BY r.ord
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insufficient points'
            USING ERRCODE = 'JF001',
                  DETAIL = json_build_object('tx_index', bad.tx, 'account_id', bad.account,
                                             'available', bad.available, 'needed', bad.needed)::text;
    END IF;

    UPDATE accounts a
       SET posted = a.posted + d.total,
           lifetime_earned = a.lifetime_earned + d.earned,
           version = a.version + d.lines
      FROM (SELECT i.account, sum(i.amount) AS total, sum(i.earned) AS earned, count(*) AS lines
              FROM unnest(p_accounts, p_amounts, p_earned) AS i(account, amount, earned)
             GROUP BY i.account) d
     WHERE a.village_id = p_village AND a.id = d.account AND a.kind = 'household';

    -- the postings, each household's running balance counted back from its new balance
    WITH inserted AS (
        INSERT INTO postings (village_id, transaction_id, account_id, amount, balance_after, account_version)
        SELECT p_village, t_ids[r.tx], r.account, r.amount,
               CASE WHEN r.is_household THEN r.posted - coalesce(sum(r.amount) OVER later, 0) END,
               CASE WHEN r.is_household THEN r.version - count(*) OVER later END
          FROM (SELECT i.tx, i.account, i.amount, i.ord, a.kind = 'household' AS is_household, a.posted,
                       a.version
                  FROM unnest(p_tx, p_accounts, p_amounts) WITH ORDINALITY AS i(tx, account, amount, ord)
                  JOIN accounts a ON a.village_id = p_village AND a.id = i.account) r
        WINDOW later AS (PARTITION BY r.account ORDER BY r.ord ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)
         ORDER BY r.ord
        RETURNING 1
    )
    SELECT count(*) INTO written FROM inserted;
    IF written <> n_lines THEN
        RAISE EXCEPTION 'posting to an account outside village %', p_village USING ERRCODE = 'JF004';
    END IF;
END
$$;

-- Set points aside: they count against `available` at once. The check is in the UPDATE's WHERE, re-checked
-- on the locked row, so two holds racing for the last points cannot both succeed.
CREATE FUNCTION ledger_hold(
    p_village uuid,
    p_account uuid,
    p_amount bigint,
    p_memo text,
    p_source_type text,
    p_source_id uuid,
    p_actor uuid
) RETURNS holds LANGUAGE plpgsql {PINNED} AS $$
DECLARE
    available bigint;
    hold holds;
BEGIN
    IF p_amount IS NULL OR p_amount <= 0 OR p_village IS NULL OR p_actor IS NULL THEN
        RAISE EXCEPTION 'a hold is for a positive amount, in a village, by an actor' USING ERRCODE = 'JF005';
    END IF;
    UPDATE accounts
       SET held = held + p_amount, version = version + 1
     WHERE village_id = p_village AND id = p_account AND kind = 'household' AND posted - held >= p_amount;
    IF NOT FOUND THEN
        SELECT a.posted - a.held INTO available FROM accounts a
         WHERE a.village_id = p_village AND a.id = p_account AND a.kind = 'household';
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no household account % in village %', p_account, p_village USING ERRCODE = 'JF004';
        END IF;
        RAISE EXCEPTION 'insufficient points'
            USING ERRCODE = 'JF001',
                  DETAIL = json_build_object('tx_index', 1, 'account_id', p_account, 'available', available,
                                             'needed', p_amount)::text;
    END IF;
    INSERT INTO holds (village_id, id, account_id, amount, memo, source_type, source_id, actor_id)
    VALUES (p_village, gen_random_uuid(), p_account, p_amount, p_memo, p_source_type, p_source_id, p_actor)
    RETURNING * INTO hold;
    RETURN hold;
END
$$;

-- Lock the active hold and give its points back to `available`; JF006 when there is no such active hold
-- (ended already, or of another village). Called by the two functions that end a hold, never directly.
CREATE FUNCTION jifen_unhold(p_village uuid, p_hold uuid) RETURNS holds
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    hold holds;
BEGIN
    SELECT * INTO hold FROM holds WHERE village_id = p_village AND id = p_hold FOR UPDATE;
    IF NOT FOUND OR hold.status <> 'active' THEN
        RAISE EXCEPTION 'hold % is not active', p_hold USING ERRCODE = 'JF006';
    END IF;
    UPDATE accounts SET held = held - hold.amount, version = version + 1
     WHERE village_id = p_village AND id = hold.account_id;
    RETURN hold;
END
$$;

-- End a hold without moving points: they are available again.
CREATE FUNCTION ledger_release_hold(p_village uuid, p_hold uuid) RETURNS holds
LANGUAGE plpgsql {PINNED} AS $$
DECLARE
    hold holds;
BEGIN
    PERFORM jifen_unhold(p_village, p_hold);
    UPDATE holds SET status = 'released', ended_at = now()
     WHERE village_id = p_village AND id = p_hold
    RETURNING * INTO hold;
    RETURN hold;
END
$$;

-- End a hold by posting the one transaction that takes exactly the held points from the household; its
-- available balance does not change.
CREATE FUNCTION ledger_capture_hold(
    p_hold uuid,
    p_village uuid,
    p_actor uuid,
    t_ids uuid[],
    t_kinds text[],
    t_memos text[],
    t_rule_ids uuid[],
    t_rule_versions integer[],
    t_source_types text[],
    t_source_ids uuid[],
    t_reverses uuid[],
    t_reasons text[],
    p_tx integer[],
    p_accounts uuid[],
    p_amounts bigint[],
    p_earned bigint[]
) RETURNS holds LANGUAGE plpgsql {PINNED} AS $$
DECLARE
    hold holds;
BEGIN
    hold := jifen_unhold(p_village, p_hold);
    IF cardinality(t_ids) <> 1 OR (
        SELECT sum(i.amount) FROM unnest(p_accounts, p_amounts) AS i(account, amount)
         WHERE i.account = hold.account_id) IS DISTINCT FROM -hold.amount
    THEN
        RAISE EXCEPTION 'a hold is captured by one transaction taking exactly its % points', hold.amount
            USING ERRCODE = 'JF005';
    END IF;
    PERFORM ledger_post(p_village, p_actor, t_ids, t_kinds, t_memos, t_rule_ids, t_rule_versions,
                        t_source_types, t_source_ids, t_reverses, t_reasons, p_tx, p_accounts, p_amounts,
                        p_earned);
    UPDATE holds SET status = 'posted', ended_at = now(), transaction_id = t_ids[1]
     WHERE village_id = p_village AND id = p_hold
    RETURNING * INTO hold;
    RETURN hold;
END
$$;

-- Lock household accounts in id order (as ledger_post does), optionally only those with more than
-- `p_above` points available; a row lock needs UPDATE privilege, which the service no longer has.
CREATE FUNCTION ledger_lock_households(p_village uuid, p_ids uuid[], p_above bigint) RETURNS SETOF uuid
LANGUAGE sql {PINNED} AS $$
    SELECT id FROM accounts
     WHERE village_id = p_village AND kind = 'household'
       AND (p_ids IS NULL OR id = ANY (p_ids))
       AND (p_above IS NULL OR posted - held > p_above)
     ORDER BY id
       FOR UPDATE
$$;

REVOKE EXECUTE ON FUNCTION jifen_unhold(uuid, uuid) FROM PUBLIC;
"""
        + "".join(f"REVOKE EXECUTE ON FUNCTION {f} FROM PUBLIC;\n" for f in DEFINER_FUNCTIONS)
    )
    execute_script(grant_app_privileges_sql())
    execute_script(
        "DO $grant$ BEGIN\n"
        f"  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN\n"
        + "".join(f"    GRANT EXECUTE ON FUNCTION {f} TO {APP_ROLE};\n" for f in DEFINER_FUNCTIONS)
        + "  END IF;\nEND $grant$;"
    )


def downgrade() -> None:
    execute_script(
        f"""
DROP FUNCTION ledger_lock_households(uuid, uuid[], bigint);
DROP FUNCTION ledger_capture_hold(uuid, {POST_ARGS});
DROP FUNCTION ledger_release_hold(uuid, uuid);
DROP FUNCTION jifen_unhold(uuid, uuid);
DROP FUNCTION ledger_hold(uuid, uuid, bigint, text, text, uuid, uuid);
ALTER FUNCTION ledger_post({POST_ARGS}) SECURITY INVOKER RESET search_path;
GRANT EXECUTE ON FUNCTION ledger_post({POST_ARGS}) TO PUBLIC;
ALTER TABLE postings DROP CONSTRAINT ck_postings_account_version_positive;
DROP TRIGGER accounts_open_empty ON accounts;
DROP TRIGGER accounts_owner_only ON accounts;
DROP TRIGGER holds_owner_only ON holds;
DROP TRIGGER ledger_transactions_owner_only ON ledger_transactions;
DROP TRIGGER postings_owner_only ON postings;
DROP FUNCTION jifen_account_opens_empty();
DROP FUNCTION jifen_owner_only();
"""
    )
    execute_script(grant_app_privileges_sql())
