"""The ledger core: accounts, transactions and postings (append-only, balanced), holds, idempotency keys,
rules and their versions, awards.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from jifen.kit.migrate import execute_script, grant_app_privileges_sql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

APPEND_ONLY = ("ledger_transactions", "postings", "rule_versions")


def upgrade() -> None:
    execute_script(
        r"""
-- Accounts. A household's account has the household's id, a store's account the store's id.
-- A household account keeps its balance on the row (posted, held, lifetime_earned, version),
-- updated in the same transaction as its postings. System accounts (issuing, deductions, store, expiry)
-- never update their row: their balance is the sum of their postings, so no award in a village waits
-- for another on a shared hot row.
CREATE TABLE accounts (
    village_id uuid NOT NULL,
    id uuid NOT NULL,
    kind varchar(16) NOT NULL,
    household_id uuid,
    store_id uuid,
    posted bigint NOT NULL DEFAULT 0,
    held bigint NOT NULL DEFAULT 0,
    lifetime_earned bigint NOT NULL DEFAULT 0,
    version bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_accounts PRIMARY KEY (village_id, id),
    CONSTRAINT fk_accounts_village_id_villages FOREIGN KEY (village_id) REFERENCES villages (id),
    CONSTRAINT fk_accounts_village_id_household_id_households
        FOREIGN KEY (village_id, household_id) REFERENCES households (village_id, id),
    CONSTRAINT fk_accounts_village_id_store_id_stores
        FOREIGN KEY (village_id, store_id) REFERENCES stores (village_id, id),
    CONSTRAINT uq_accounts_village_id_household_id UNIQUE (village_id, household_id),
    CONSTRAINT uq_accounts_village_id_store_id UNIQUE (village_id, store_id),
    CONSTRAINT ck_accounts_kind CHECK (kind IN ('household', 'issuing', 'deductions', 'store', 'expiry')),
    CONSTRAINT ck_accounts_owner CHECK (
        (kind = 'household') = (household_id IS NOT NULL) AND (kind = 'store') = (store_id IS NOT NULL)),
    CONSTRAINT ck_accounts_held_not_negative CHECK (held >= 0),
    -- the promise every villager relies on: available = posted - held never goes below zero
    CONSTRAINT ck_accounts_available_not_negative CHECK (kind <> 'household' OR posted - held >= 0),
    CONSTRAINT ck_accounts_system_row_untouched CHECK (
        kind = 'household' OR (posted = 0 AND held = 0 AND lifetime_earned = 0))
) WITH (fillfactor = 80);  -- room for HOT updates: balance changes then never touch the indexes
CREATE UNIQUE INDEX uq_accounts_village_system_kind ON accounts (village_id, kind)
    WHERE kind IN ('issuing', 'deductions', 'expiry');

-- Rules (积分细则): the rule row names the current version; versions are never changed.
CREATE TABLE rules (
    village_id uuid NOT NULL,
    id uuid NOT NULL,
    code varchar(32) NOT NULL,
    current_version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_rules PRIMARY KEY (village_id, id),
    CONSTRAINT uq_rules_village_id_code UNIQUE (village_id, code),
    CONSTRAINT fk_rules_village_id_villages FOREIGN KEY (village_id) REFERENCES villages (id)
);
CREATE INDEX ix_rules_id ON rules (id);

CREATE TABLE rule_versions (
    village_id uuid NOT NULL,
    rule_id uuid NOT NULL,
    version integer NOT NULL,
    name varchar(64) NOT NULL,
    category varchar(32) NOT NULL,
    points integer NOT NULL,
    cap_count integer,
    cap_period varchar(8),
    evidence_required boolean NOT NULL DEFAULT false,
    review varchar(8) NOT NULL DEFAULT 'none',
    active boolean NOT NULL DEFAULT true,
    created_by uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_rule_versions PRIMARY KEY (village_id, rule_id, version),
    CONSTRAINT fk_rule_versions_village_id_rule_id_rules
        FOREIGN KEY (village_id, rule_id) REFERENCES rules (village_id, id),
    CONSTRAINT ck_rule_versions_points CHECK (points <> 0 AND abs(points) <= 100000),
    CONSTRAINT ck_rule_versions_cap CHECK (
        (cap_count IS NULL) = (cap_period IS NULL) AND (cap_count IS NULL OR cap_count > 0)),
    CONSTRAINT ck_rule_versions_cap_period CHECK (
        cap_period IN ('day', 'week', 'month', 'quarter', 'year')),
    CONSTRAINT ck_rule_versions_review CHECK (review IN ('none', 'single', 'double'))
);

-- Ledger transactions and their postings: append-only, each transaction balanced.
CREATE TABLE ledger_transactions (
    village_id uuid NOT NULL,
    id uuid NOT NULL,
    kind varchar(24) NOT NULL,
    memo varchar(500),
    actor_id uuid NOT NULL,
    rule_id uuid,
    rule_version integer,
    source_type varchar(24),
    source_id uuid,
    reverses_id uuid,
    reason varchar(500),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_ledger_transactions PRIMARY KEY (village_id, id),
    -- village and rule version are checked per statement by ledger_transactions_references (set-based:
    -- a 10,000-transaction batch costs one join instead of 20,000 row-by-row foreign-key lookups)
    CONSTRAINT fk_ledger_transactions_reverses
        FOREIGN KEY (village_id, reverses_id) REFERENCES ledger_transactions (village_id, id),
    CONSTRAINT ck_ledger_transactions_kind CHECK (kind IN (
        'award', 'deduction', 'reversal', 'redemption', 'redemption_cancel', 'expiry', 'rectification',
        'adjustment')),
    CONSTRAINT ck_ledger_transactions_reversal_has_reason CHECK (
        reverses_id IS NULL OR (kind = 'reversal' AND reason IS NOT NULL))
);
CREATE INDEX ix_ledger_transactions_id ON ledger_transactions (id);
-- a transaction is reversed at most once (partial, so the planner never mistakes it for a lookup by id)
CREATE UNIQUE INDEX uq_ledger_transactions_village_id_reverses_id ON ledger_transactions (village_id, reverses_id)
    WHERE reverses_id IS NOT NULL;

CREATE TABLE postings (
    village_id uuid NOT NULL,
    id bigint GENERATED ALWAYS AS IDENTITY,
    transaction_id uuid NOT NULL,
    account_id uuid NOT NULL,
    amount bigint NOT NULL,
    -- household accounts only: the balance after this posting and its place in the account's history
    balance_after bigint,
    account_version bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_postings PRIMARY KEY (village_id, id),
    -- transaction and account (within the same village) are checked per statement by postings_references
    CONSTRAINT ck_postings_amount_not_zero CHECK (amount <> 0),
    CONSTRAINT ck_postings_history CHECK ((balance_after IS NULL) = (account_version IS NULL))
);
CREATE INDEX ix_postings_village_id_transaction_id ON postings (village_id, transaction_id);
CREATE UNIQUE INDEX uq_postings_account_history ON postings (village_id, account_id, account_version)
    WHERE account_version IS NOT NULL;

-- Holds: points set aside (public notice of a deduction, a reservation at the store); they count against
-- `available` at once and end exactly once, posted or released.
CREATE TABLE holds (
    village_id uuid NOT NULL,
    id uuid NOT NULL,
    account_id uuid NOT NULL,
    amount bigint NOT NULL,
    status varchar(10) NOT NULL DEFAULT 'active',
    memo varchar(500),
    source_type varchar(24),
    source_id uuid,
    transaction_id uuid,
    actor_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    ended_at timestamptz,
    CONSTRAINT pk_holds PRIMARY KEY (village_id, id),
    CONSTRAINT fk_holds_village_id_account_id_accounts
        FOREIGN KEY (village_id, account_id) REFERENCES accounts (village_id, id),
    CONSTRAINT fk_holds_village_id_transaction_id_ledger_transactions
        FOREIGN KEY (village_id, transaction_id) REFERENCES ledger_transactions (village_id, id),
    CONSTRAINT ck_holds_amount CHECK (amount > 0),
    CONSTRAINT ck_holds_status CHECK (status IN ('active', 'posted', 'released')),
    CONSTRAINT ck_holds_ended CHECK ((status = 'active') = (ended_at IS NULL)),
    CONSTRAINT ck_holds_posted_has_transaction CHECK ((status = 'posted') = (transaction_id IS NOT NULL))
);
CREATE INDEX ix_holds_village_id_account_id ON holds (village_id, account_id) WHERE status = 'active';

-- Awards (积分评定): one application of a rule to a household.
CREATE TABLE awards (
    village_id uuid NOT NULL,
    id uuid NOT NULL,
    household_id uuid NOT NULL,
    rule_id uuid NOT NULL,
    rule_version integer NOT NULL,
    quantity integer NOT NULL,
    points bigint NOT NULL,
    member_id uuid,
    note varchar(500),
    status varchar(16) NOT NULL,
    transaction_id uuid,
    batch_id uuid,
    submitted_by uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_awards PRIMARY KEY (village_id, id),
    -- household, rule version, member and transaction are checked per statement by awards_references
    CONSTRAINT ck_awards_quantity CHECK (quantity > 0),
    CONSTRAINT ck_awards_status CHECK (status IN (
        'pending_review', 'approved', 'public_notice', 'posted', 'rejected', 'revoked')),
    CONSTRAINT ck_awards_posted_has_transaction CHECK ((status = 'posted') = (transaction_id IS NOT NULL))
);
CREATE INDEX ix_awards_id ON awards (id);
CREATE INDEX ix_awards_village_id_household_id ON awards (village_id, household_id);

-- Idempotency: the key, the request's hash and the stored answer, written in the same transaction as
-- the change, so a committed change always has its answer and a failed one leaves neither. The answer is
-- kept as the exact text sent, so a replay is byte for byte the same.
CREATE TABLE idempotency_keys (
    village_id uuid NOT NULL,
    key varchar(200) NOT NULL,
    request_hash varchar(64) NOT NULL,
    status_code integer,
    response text,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_idempotency_keys PRIMARY KEY (village_id, key),
    CONSTRAINT fk_idempotency_keys_village_id_villages FOREIGN KEY (village_id) REFERENCES villages (id)
);

------------------------------------------------------------------------------------------------------
-- Append-only: no UPDATE, DELETE or TRUNCATE, whoever asks (privileges say the same for jifen_app).
CREATE FUNCTION jifen_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % is not allowed: the ledger is append-only; correct with a reversing entry',
        TG_OP, TG_TABLE_NAME USING ERRCODE = 'JF002';
END
$$;

CREATE TRIGGER ledger_transactions_append_only BEFORE UPDATE OR DELETE ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER ledger_transactions_no_truncate BEFORE TRUNCATE ON ledger_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON postings
    FOR EACH ROW EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER postings_no_truncate BEFORE TRUNCATE ON postings
    FOR EACH STATEMENT EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER rule_versions_append_only BEFORE UPDATE OR DELETE ON rule_versions
    FOR EACH ROW EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER rule_versions_no_truncate BEFORE TRUNCATE ON rule_versions
    FOR EACH STATEMENT EXECUTE FUNCTION jifen_refuse_change();

-- A hold ends once: active -> posted | released, and nothing else about it changes.
CREATE FUNCTION jifen_hold_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'holds are never deleted' USING ERRCODE = 'JF002';
    END IF;
    IF OLD.status <> 'active' OR NEW.status = 'active'
       OR (NEW.village_id, NEW.id, NEW.account_id, NEW.amount, NEW.actor_id, NEW.created_at)
          IS DISTINCT FROM (OLD.village_id, OLD.id, OLD.account_id, OLD.amount, OLD.actor_id, OLD.created_at)
    THEN
        RAISE EXCEPTION 'hold % already ended or changed in a way that is not allowed', OLD.id
            USING ERRCODE = 'JF002';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER holds_transition BEFORE UPDATE OR DELETE ON holds
    FOR EACH ROW EXECUTE FUNCTION jifen_hold_transition();

-- Every transaction's postings sum to zero, and it has at least two: checked at commit, so a
-- transaction's postings may be written in any order within the database transaction.
CREATE FUNCTION jifen_assert_balanced(p_village uuid, p_transaction uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    total bigint;
    lines integer;
BEGIN
    SELECT coalesce(sum(amount), 0), count(*) INTO total, lines
      FROM postings WHERE village_id = p_village AND transaction_id = p_transaction;
    IF total <> 0 OR lines < 2 THEN
        RAISE EXCEPTION 'ledger transaction % is unbalanced (sum %, % postings)', p_transaction, total, lines
            USING ERRCODE = 'JF003';
    END IF;
END
$$;
CREATE FUNCTION jifen_transaction_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM jifen_assert_balanced(NEW.village_id, NEW.id);
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER ledger_transactions_balanced AFTER INSERT ON ledger_transactions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION jifen_transaction_balanced();

-- References, checked once per INSERT statement over all its rows (the work of foreign keys, set-based).
-- Postings also balance at the end of their statement: a posting slipped into an existing transaction
-- unbalances it and is refused at once; the deferred trigger above catches a transaction left without
-- postings.
CREATE FUNCTION jifen_postings_references() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    -- per account: it exists in the posting's village; a household's postings carry its running balance
    -- and its row has moved with them (a posting written by hand, without moving the balance, is refused)
    SELECT g.account_id, a.id IS NULL AS missing INTO bad
      FROM (SELECT village_id, account_id,
                   max(account_version) AS last_version,
                   (array_agg(balance_after ORDER BY account_version DESC NULLS LAST))[1] AS last_balance,
                   count(*) FILTER (WHERE account_version IS NULL) AS unversioned,
                   count(*) AS lines
              FROM new_postings
             GROUP BY village_id, account_id) g
      -- a lookup per account whatever the planner guesses of the transition table's size
      LEFT JOIN LATERAL (
            SELECT acc.id, acc.kind, acc.posted, acc.version FROM accounts acc
             WHERE acc.village_id = g.village_id AND acc.id = g.account_id LIMIT 1) a ON true
     WHERE a.id IS NULL
        OR (a.kind = 'household'
            AND (g.unversioned > 0 OR a.posted <> g.last_balance OR a.version <> g.last_version))
        OR (a.kind <> 'household' AND g.unversioned <> g.lines)
     LIMIT 1;
    IF FOUND AND bad.missing THEN
        RAISE EXCEPTION 'a posting names account % outside its village', bad.account_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'postings_account';
    ELSIF FOUND THEN
        RAISE EXCEPTION 'postings to account % do not match the account''s balance', bad.account_id
            USING ERRCODE = 'JF003';
    END IF;
    SELECT t.transaction_id, s.total, s.lines INTO bad
      FROM (SELECT DISTINCT village_id, transaction_id FROM new_postings) t
      LEFT JOIN LATERAL (
            SELECT x.id FROM ledger_transactions x
             WHERE x.village_id = t.village_id AND x.id = t.transaction_id LIMIT 1) lt ON true
      CROSS JOIN LATERAL (
            SELECT coalesce(sum(p.amount), 0) AS total, count(*) AS lines
              FROM postings p WHERE p.village_id = t.village_id AND p.transaction_id = t.transaction_id) s
     WHERE lt.id IS NULL OR s.total <> 0 OR s.lines < 2
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'postings of transaction % do not balance or have no transaction (sum %, % postings)',
            bad.transaction_id, bad.total, bad.lines USING ERRCODE = 'JF003';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER postings_references AFTER INSERT ON postings
    REFERENCING NEW TABLE AS new_postings FOR EACH STATEMENT EXECUTE FUNCTION jifen_postings_references();

CREATE FUNCTION jifen_ledger_transactions_references() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT t.id INTO bad
      FROM new_transactions t
      LEFT JOIN LATERAL (SELECT x.id FROM villages x WHERE x.id = t.village_id LIMIT 1) v ON true
      LEFT JOIN LATERAL (
            SELECT x.rule_id FROM rule_versions x
             WHERE x.village_id = t.village_id AND x.rule_id = t.rule_id AND x.version = t.rule_version
             LIMIT 1) rv ON true
     WHERE v.id IS NULL OR (t.rule_id IS NOT NULL AND rv.rule_id IS NULL)
        OR (t.rule_id IS NULL) <> (t.rule_version IS NULL)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger transaction % names a village or rule version that does not exist', bad.id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'ledger_transactions_references';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER ledger_transactions_references AFTER INSERT ON ledger_transactions
    REFERENCING NEW TABLE AS new_transactions FOR EACH STATEMENT
    EXECUTE FUNCTION jifen_ledger_transactions_references();

CREATE FUNCTION jifen_awards_references() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT aw.id INTO bad
      FROM new_awards aw
      LEFT JOIN LATERAL (
            SELECT x.id FROM households x WHERE x.village_id = aw.village_id AND x.id = aw.household_id
             LIMIT 1) h ON true
      LEFT JOIN LATERAL (
            SELECT x.rule_id FROM rule_versions x
             WHERE x.village_id = aw.village_id AND x.rule_id = aw.rule_id AND x.version = aw.rule_version
             LIMIT 1) rv ON true
      LEFT JOIN LATERAL (
            SELECT x.id, x.household_id FROM members x WHERE x.village_id = aw.village_id AND x.id = aw.member_id
             LIMIT 1) m ON true
      LEFT JOIN LATERAL (
            SELECT x.id FROM ledger_transactions x
             WHERE x.village_id = aw.village_id AND x.id = aw.transaction_id LIMIT 1) lt ON true
     WHERE h.id IS NULL OR rv.rule_id IS NULL
        OR (aw.member_id IS NOT NULL AND (m.id IS NULL OR m.household_id <> aw.household_id))
        OR (aw.transaction_id IS NOT NULL AND lt.id IS NULL)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'award % names a household, rule version, member or transaction that does not exist',
            bad.id USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'awards_references';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER awards_references_on_insert AFTER INSERT ON awards
    REFERENCING NEW TABLE AS new_awards FOR EACH STATEMENT EXECUTE FUNCTION jifen_awards_references();
CREATE TRIGGER awards_references_on_update AFTER UPDATE ON awards
    REFERENCING NEW TABLE AS new_awards FOR EACH STATEMENT EXECUTE FUNCTION jifen_awards_references();

-- What the ledger names is never deleted.
CREATE TRIGGER accounts_never_deleted BEFORE DELETE ON accounts
    FOR EACH ROW EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER accounts_no_truncate BEFORE TRUNCATE ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER villages_never_deleted BEFORE DELETE ON villages
    FOR EACH ROW EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER households_never_deleted BEFORE DELETE ON households
    FOR EACH ROW EXECUTE FUNCTION jifen_refuse_change();

-- Post many transactions in one call, set-based: lock the household accounts in id order, write the
-- transactions and postings with each household's running balance, refuse (JF001) at the first posting
-- that would take a household's available balance below zero, then move the balances.
-- Postings are given as parallel arrays; p_tx[i] is the 1-based index of posting i's transaction.
CREATE FUNCTION ledger_post(
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
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    bad record;
    written bigint;
    account record;
    balances bigint[];
    versions bigint[];
BEGIN
    IF cardinality(t_ids) = 1 THEN
        -- one transaction (a single award, a redemption, a reversal): row by row is cheaper than sorting
        -- and windowing, and does the same
        INSERT INTO ledger_transactions (
            village_id, id, kind, memo, actor_id, rule_id, rule_version, source_type, source_id, reverses_id,
            reason)
        VALUES (p_village, t_ids[1], t_kinds[1], t_memos[1], p_actor, t_rule_ids[1], t_rule_versions[1],
                t_source_types[1], t_source_ids[1], t_reverses[1], t_reasons[1]);
        balances := array_fill(NULL::bigint, ARRAY[cardinality(p_accounts)]);
        versions := balances;
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
                account.posted := account.posted + p_amounts[account.lines[n]];
                account.version := account.version + 1;
                IF account.posted - account.held < 0 THEN
                    RAISE EXCEPTION 'insufficient points'
                        USING ERRCODE = 'JF001',
                              DETAIL = json_build_object(
                                  'tx_index', 1, 'account_id', account.id,
                                  'available', account.posted - p_amounts[account.lines[n]] - account.held,
                                  'needed', -p_amounts[account.lines[n]])::text;
                END IF;
                balances[account.lines[n]] := account.posted;
                versions[account.lines[n]] := account.version;
            END LOOP;
            UPDATE accounts
               SET posted = account.posted,
                   lifetime_earned = lifetime_earned + (
                       SELECT sum(p_earned[l]) FROM unnest(account.lines) AS l),
                   version = account.version
             WHERE village_id = p_village AND id = account.id;
        END LOOP;
        INSERT INTO postings (village_id, transaction_id, account_id, amount, balance_after, account_version)
        SELECT p_village, t_ids[1], i.account, i.amount, i.balance, i.version
          FROM unnest(p_accounts, p_amounts, balances, versions) AS i(account, amount, balance, version);
        RETURN;
    END IF;

    PERFORM 1 FROM accounts
     WHERE village_id = p_village AND id = ANY (p_accounts) AND kind = 'household'
     ORDER BY id FOR UPDATE;

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
    IF written <> cardinality(p_accounts) THEN
        RAISE EXCEPTION 'posting to an account outside village %', p_village USING ERRCODE = 'JF004';
    END IF;
END
$$;

-- These functions look rows up by key. PostgreSQL caches their plans per connection, sometimes from a
-- moment when a table was nearly empty (a new village, before autovacuum's next ANALYZE), and a cached
-- scan inside a join turns a 10,000-award batch from a second into minutes (seen in `make bench`). So
-- every lookup is a LATERAL ... LIMIT 1 driven by the rows being written, and no sequential scans.
ALTER FUNCTION jifen_postings_references() SET enable_seqscan = off;
ALTER FUNCTION jifen_ledger_transactions_references() SET enable_seqscan = off;
ALTER FUNCTION jifen_awards_references() SET enable_seqscan = off;
ALTER FUNCTION jifen_assert_balanced(uuid, uuid) SET enable_seqscan = off;
ALTER FUNCTION ledger_post(uuid, uuid, uuid[], text[], text[], uuid[], integer[], text[], uuid[], uuid[], text[],
                           integer[], uuid[], bigint[], bigint[]) SET enable_seqscan = off;

-- Accounts for what already exists.
INSERT INTO accounts (village_id, id, kind)
SELECT v.id, gen_random_uuid(), k.kind
  FROM villages v CROSS JOIN (VALUES ('issuing'), ('deductions'), ('expiry')) AS k(kind);
INSERT INTO accounts (village_id, id, kind, household_id)
SELECT village_id, id, 'household', id FROM households;
INSERT INTO accounts (village_id, id, kind, store_id)
SELECT village_id, id, 'store', id FROM stores;
"""
    )
    execute_script(grant_app_privileges_sql(APPEND_ONLY))


def downgrade() -> None:
    execute_script(
        """
DROP FUNCTION ledger_post;
DROP TABLE idempotency_keys, awards, holds, postings, ledger_transactions, rule_versions, rules, accounts;
DROP TRIGGER villages_never_deleted ON villages;
DROP TRIGGER households_never_deleted ON households;
DROP FUNCTION jifen_awards_references, jifen_postings_references, jifen_ledger_transactions_references, jifen_transaction_balanced, jifen_assert_balanced, jifen_hold_transition,
    jifen_refuse_change;
"""
    )
