"""One database call per award: award_submit() does, in one statement, what an award (or a batch of them)
took eleven statements for — who may award here, the households, the rules' current versions, the village's
notice days, the idempotency claim with its answer, the posting, the awards and their audit events.

It covers the shape almost every award has: staff (a village admin, or a cadre in their grids) applying
rules without a cap, an escalation, a member, photos or a hold (a deduction on public notice), posted at
once, put on public notice or into review. For anything else — and for every refusal (an unknown household,
a rule out of force, another village, a conflict of interest, too few points for a deduction, a key already
used) — it writes nothing and returns NULL, and the caller runs the general Python path, which gives the
refusal its code and Chinese message exactly as before (a refusal costs one call more; nothing else does).

Who may award is read here from `user_roles`, not taken from the caller: a server process keeps a signed-in
user a few seconds (auth/actor_cache.py), so the caller's copy may be that old; the credential version is
re-checked too (SQLSTATE JF007, answered 401 invalid_token), so points never move on a revoked credential or
a removed role.

The answer (the JSON the endpoint sends, AwardOut or {"items": [...]}) is built here, stored with the
idempotency claim and returned with the number of transactions posted: a replay sends the very same bytes.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01
"""

from jifen.kit.migrate import APP_ROLE, execute_script

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

SIGNATURE = (
    "award_submit(uuid, integer, text, text, text, text, text, boolean, timestamptz, uuid[], uuid[], integer[],"
    " text[])"
)
HELPER_ARGS = (
    "uuid, uuid, text, text, text, uuid, uuid, uuid[], uuid[], uuid[], integer[], bigint[], text[], uuid[],"
    " text[]"
)
PINNED = "SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp"

UPGRADE = rf"""
-- A timestamp as pydantic writes it in JSON: UTC, 'Z', microseconds only when there are any.
CREATE FUNCTION jifen_json_time(t timestamptz) RETURNS text LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT '"' || to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
           || CASE WHEN extract(microseconds FROM t)::bigint % 1000000 = 0 THEN ''
                   ELSE '.' || to_char(t AT TIME ZONE 'UTC', 'US') END || 'Z"'
$$;

CREATE FUNCTION award_submit(
    p_actor uuid,            -- the signed-in user, at
    p_credential integer,    -- the credential version their token or cookie carries
    p_actor_name text,       -- for the audit events
    p_request_id text,
    p_client_addr text,
    p_key text,              -- the Idempotency-Key and the request's fingerprint (kit/idempotency.py)
    p_request_hash text,
    p_many boolean,          -- POST /awards/batch: {{"items": [...]}} and a batch id
    p_now timestamptz,       -- the awards' time (the caller's clock, as the general path has it)
    p_households uuid[],     -- the items
    p_rules uuid[],
    p_quantities integer[],
    p_notes text[],
    OUT answer_json text,    -- the answer; NULL: nothing written, the general path runs
    OUT awarded integer,     -- the transactions posted, by kind (jifen_ledger_transactions_total)
    OUT deducted integer
) RETURNS record LANGUAGE plpgsql {PINNED} AS $$
DECLARE
    n integer := cardinality(p_households);
    v_village uuid;
    found_households integer;
    villages integer;
    is_admin boolean;
    is_cadre boolean;
    whole_village boolean;
    grids text[];
    own uuid[];
    roles text;
    notice integer;
    issuing uuid;
    deductions uuid;
    now_ timestamptz := p_now;
    today date := (p_now AT TIME ZONE 'Asia/Shanghai')::date;
    notice_until timestamptz;
    answer text;
    batch uuid;
    claimed boolean;
    deducting boolean;
    a_ids uuid[];
    a_households uuid[];
    a_rules uuid[];
    a_versions integer[];
    a_quantities integer[];
    a_points bigint[];
    a_notes text[];
    a_statuses text[];
    a_transactions uuid[];
    a_memos text[];
BEGIN
    IF n IS NULL OR n = 0 OR cardinality(p_rules) <> n OR cardinality(p_quantities) <> n
       OR cardinality(p_notes) <> n THEN
        RAISE EXCEPTION 'award_submit: the items do not line up' USING ERRCODE = 'JF005';
    END IF;
    -- the credential: a sign-out, a password change, a reset or a disabling ends it at once, whatever a
    -- server process still remembers
    PERFORM 1 FROM users u WHERE u.id = p_actor AND u.is_active AND u.credential_version = p_credential;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'award_submit: credential % of user % is no longer valid', p_credential, p_actor
            USING ERRCODE = 'JF007';
    END IF;

    -- the households, all of one village
    SELECT count(h.id), count(DISTINCT h.village_id), min(h.village_id::text)::uuid
      INTO found_households, villages, v_village
      FROM unnest(p_households) AS x(id) LEFT JOIN households h ON h.id = x.id;
    IF found_households <> n OR villages <> 1 THEN
        RETURN;
    END IF;

    -- who may award here (awards/auth.py SUBMITTERS, auth/scope.py check_grid), and the roles the audit
    -- event names (audit/service.py _roles)
    SELECT coalesce(bool_or(r.role = 'village_admin' AND r.village_id = v_village), false),
           coalesce(bool_or(r.role = 'cadre' AND r.village_id = v_village), false),
           coalesce(bool_or(r.role = 'cadre' AND r.village_id = v_village AND r.grid IS NULL), false),
           array_agg(r.grid) FILTER (WHERE r.role = 'cadre' AND r.village_id = v_village AND r.grid IS NOT NULL),
           array_agg(r.household_id) FILTER (WHERE r.household_id IS NOT NULL),
           left(string_agg(DISTINCT r.role::text COLLATE "C", ',' ORDER BY r.role::text COLLATE "C")
                FILTER (WHERE r.village_id = v_village OR r.village_id IS NULL), 200)
      INTO is_admin, is_cadre, whole_village, grids, own, roles
      FROM user_roles r WHERE r.user_id = p_actor;
    IF NOT (is_admin OR is_cadre) OR p_households && own THEN
        RETURN;
    END IF;
    IF NOT is_admin AND NOT whole_village AND EXISTS (
        SELECT 1 FROM households h
         WHERE h.village_id = v_village AND h.id = ANY (p_households)
           AND (h.grid IS NULL OR NOT h.grid = ANY (grids))) THEN
        RETURN;
    END IF;

    SELECT v.notice_days INTO notice FROM villages v WHERE v.id = v_village;
    notice_until := CASE WHEN notice > 0 THEN now_ + make_interval(days => notice) END;

    -- the rules' current versions: of this village, in force, and of the simple kind (no cap, escalation
    -- or evidence; a deduction on public notice holds its points: the general path)
    IF EXISTS (
        SELECT 1
          FROM (SELECT DISTINCT x.rule_id FROM unnest(p_rules) AS x(rule_id)) x
          LEFT JOIN rules r ON r.id = x.rule_id AND r.village_id = v_village
          LEFT JOIN rule_versions rv
            ON rv.village_id = r.village_id AND rv.rule_id = r.id AND rv.version = r.current_version
         WHERE rv.rule_id IS NULL OR NOT rv.active OR rv.cap_count IS NOT NULL OR rv.escalation IS NOT NULL
            OR rv.evidence_required OR today < rv.active_from OR today > rv.active_until
            OR (rv.review = 'none' AND notice > 0 AND rv.points < 0)) THEN
        RETURN;
    END IF;

    SELECT a.id INTO issuing FROM accounts a WHERE a.village_id = v_village AND a.kind = 'issuing';
    SELECT a.id INTO deductions FROM accounts a WHERE a.village_id = v_village AND a.kind = 'deductions';

    -- every item priced, with its ids and its answer, in item order
    SELECT array_agg(x.id ORDER BY x.ord), array_agg(x.household_id ORDER BY x.ord),
           array_agg(x.rule_id ORDER BY x.ord), array_agg(x.version ORDER BY x.ord),
           array_agg(x.quantity ORDER BY x.ord), array_agg(x.points ORDER BY x.ord),
           array_agg(x.note ORDER BY x.ord), array_agg(x.status ORDER BY x.ord),
           array_agg(x.transaction_id ORDER BY x.ord), array_agg(x.memo ORDER BY x.ord),
           coalesce(bool_or(x.status = 'posted' AND x.points < 0), false),
           count(*) FILTER (WHERE x.status = 'posted' AND x.points > 0),
           count(*) FILTER (WHERE x.status = 'posted' AND x.points < 0),
           string_agg(
               '{{"id":"' || x.id || '","status":"' || x.status || '","points":' || x.points
               || ',"transaction_id":' || coalesce('"' || x.transaction_id || '"', 'null')
               || ',"household_id":"' || x.household_id || '","rule_id":"' || x.rule_id
               || '","rule_version":' || x.version || ',"quantity":' || x.quantity
               || ',"member_id":null,"note":' || coalesce(to_json(x.note)::text, 'null')
               || ',"created_at":' || jifen_json_time(now_)
               || ',"notice_until":' || CASE WHEN x.status = 'public_notice' THEN jifen_json_time(notice_until)
                                             ELSE 'null' END
               || ',"photo_ids":[],"self_report":false,"submitted_by":"' || p_actor || '","observed_at":null}}',
               ',' ORDER BY x.ord)
      INTO a_ids, a_households, a_rules, a_versions, a_quantities, a_points, a_notes, a_statuses, a_transactions,
           a_memos, deducting, awarded, deducted, answer
      FROM (SELECT i.ord, gen_random_uuid() AS id, i.household_id, i.rule_id, rv.version, i.quantity,
                   rv.points * i.quantity AS points, i.note, s.status,
                   CASE WHEN s.status = 'posted' THEN gen_random_uuid() END AS transaction_id,
                   CASE WHEN i.quantity = 1 THEN rv.name ELSE rv.name || ' ×' || i.quantity END AS memo
              FROM unnest(p_households, p_rules, p_quantities, p_notes) WITH ORDINALITY
                     AS i(household_id, rule_id, quantity, note, ord)
              JOIN rules r ON r.id = i.rule_id AND r.village_id = v_village
              JOIN rule_versions rv
                ON rv.village_id = r.village_id AND rv.rule_id = r.id AND rv.version = r.current_version
             CROSS JOIN LATERAL (SELECT CASE WHEN rv.review <> 'none' THEN 'pending_review'
                                             WHEN notice > 0 THEN 'public_notice'
                                             ELSE 'posted' END AS status) s) x;
    IF p_many THEN
        answer := '{{"items":[' || answer || ']}}';
        batch := gen_random_uuid();
    END IF;

    -- the key with its answer, then the posting: a deduction without the points for it (JF001) undoes both
    -- (the block is a subtransaction, so only a deduction pays for one) and leaves the refusal to the
    -- general path
    IF deducting THEN
        BEGIN
            claimed := jifen_award_claim_post(v_village, p_actor, p_key, p_request_hash, answer, issuing,
                                              deductions, a_ids, a_households, a_rules, a_versions, a_points,
                                              a_statuses, a_transactions, a_memos);
        EXCEPTION WHEN SQLSTATE 'JF001' THEN
            awarded := NULL;
            deducted := NULL;
            RETURN;
        END;
    ELSE
        claimed := jifen_award_claim_post(v_village, p_actor, p_key, p_request_hash, answer, issuing,
                                          deductions, a_ids, a_households, a_rules, a_versions, a_points,
                                          a_statuses, a_transactions, a_memos);
    END IF;
    IF NOT claimed THEN
        awarded := NULL;
        deducted := NULL;
        RETURN;
    END IF;

    INSERT INTO awards (village_id, id, household_id, rule_id, rule_version, quantity, points, member_id, note,
                        status, transaction_id, batch_id, submitted_by, created_at, notice_until, hold_id,
                        self_report)
    SELECT v_village, a.id, a.household_id, a.rule_id, a.rule_version, a.quantity, a.points, NULL, a.note,
           a.status, a.transaction_id, batch, p_actor, now_,
           CASE WHEN a.status = 'public_notice' THEN notice_until END, NULL, false
      FROM unnest(a_ids, a_households, a_rules, a_versions, a_quantities, a_points, a_notes, a_statuses,
                  a_transactions) AS a(id, household_id, rule_id, rule_version, quantity, points, note, status,
                                       transaction_id);

    INSERT INTO audit_events (scope, actor_id, actor_name, actor_roles, action, record_type, record_id, before,
                              after, reason, request_id, client_addr)
    SELECT v_village, p_actor, left(p_actor_name, 64), coalesce(roles, ''), 'award.submit', 'award', a.id::text,
           NULL,
           jsonb_build_object('household_id', a.household_id, 'rule_id', a.rule_id,
                              'rule_version', a.rule_version, 'quantity', a.quantity, 'points', a.points,
                              'status', a.status, 'transaction_id', a.transaction_id, 'note', a.note),
           NULL, p_request_id, p_client_addr
      FROM unnest(a_ids, a_households, a_rules, a_versions, a_quantities, a_points, a_notes, a_statuses,
                  a_transactions) AS a(id, household_id, rule_id, rule_version, quantity, points, note, status,
                                       transaction_id);
    -- what the households hear of it (outbox/repository.py fan_out, awards/service.py award_event): an event
    -- per posted award or deduction and per award put on public notice, and a delivery row for every enabled
    -- channel of the village that takes it
    WITH e AS (
        INSERT INTO outbox_events (village_id, id, kind, household_id, payload)
        SELECT v_village, gen_random_uuid(),
               CASE WHEN a.status = 'public_notice' THEN 'notice.opened'
                    WHEN a.points > 0 THEN 'award.posted' ELSE 'deduction.posted' END,
               a.household_id,
               jsonb_build_object('points', a.points, 'award_id', a.id, 'rule', rv.name,
                                  'transaction_id', a.transaction_id)
               || CASE WHEN a.status = 'public_notice'
                       THEN jsonb_build_object('notice_until', notice_until) ELSE '{{}}'::jsonb END
          FROM unnest(a_ids, a_households, a_rules, a_versions, a_points, a_statuses, a_transactions)
                 AS a(id, household_id, rule_id, version, points, status, transaction_id)
          JOIN rule_versions rv
            ON rv.village_id = v_village AND rv.rule_id = a.rule_id AND rv.version = a.version
         WHERE a.status IN ('posted', 'public_notice')
        RETURNING village_id, id, household_id)
    INSERT INTO outbox_deliveries (village_id, event_id, channel_id)
    SELECT e.village_id, e.id, c.id
      FROM e JOIN notify_channels c ON c.village_id = e.village_id AND c.enabled
       AND (c.kind = 'webhook' OR e.household_id IS NOT NULL);
    answer_json := answer;
END
$$;

-- The key claimed with its answer (SQL twin of kit/idempotency.py claim: a concurrent request with the same
-- key waits on its row until this one commits; a key already used: false, the general path replays or
-- refuses it), then the posted items as ledger transactions in one ledger_post call (awards/service.py
-- award_draft: an award credits the household from the issuing account and counts as earned, a deduction
-- debits it to the deductions account).
CREATE FUNCTION jifen_award_claim_post(
    p_village uuid, p_actor uuid, p_key text, p_request_hash text, p_answer text, p_issuing uuid,
    p_deductions uuid, a_ids uuid[], a_households uuid[], a_rules uuid[], a_versions integer[], a_points bigint[],
    a_statuses text[], a_transactions uuid[], a_memos text[]
) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    claimed boolean;
    t record;
BEGIN
    INSERT INTO idempotency_keys (village_id, caller_id, key, request_hash, status_code, response)
    VALUES (p_village, p_actor, p_key, p_request_hash, 201, p_answer)
    ON CONFLICT DO NOTHING RETURNING true INTO claimed;
    IF claimed IS NULL THEN
        RETURN false;
    END IF;
    SELECT array_agg(a.transaction_id ORDER BY a.ord) FILTER (WHERE q.line = 1) AS ids,
           array_agg(CASE WHEN a.points > 0 THEN 'award' ELSE 'deduction' END ORDER BY a.ord)
               FILTER (WHERE q.line = 1) AS kinds,
           array_agg(a.memo ORDER BY a.ord) FILTER (WHERE q.line = 1) AS memos,
           array_agg(a.rule_id ORDER BY a.ord) FILTER (WHERE q.line = 1) AS rules,
           array_agg(a.rule_version ORDER BY a.ord) FILTER (WHERE q.line = 1) AS versions,
           array_agg('award'::text ORDER BY a.ord) FILTER (WHERE q.line = 1) AS source_types,
           array_agg(a.id ORDER BY a.ord) FILTER (WHERE q.line = 1) AS sources,
           array_agg(NULL::uuid ORDER BY a.ord) FILTER (WHERE q.line = 1) AS no_uuids,
           array_agg(NULL::text ORDER BY a.ord) FILTER (WHERE q.line = 1) AS no_texts,
           array_agg(q.tx ORDER BY a.ord, q.line) AS p_tx,
           array_agg(q.account ORDER BY a.ord, q.line) AS p_accounts,
           array_agg(q.amount ORDER BY a.ord, q.line) AS p_amounts,
           array_agg(q.earned ORDER BY a.ord, q.line) AS p_earned
      INTO t
      FROM (SELECT u.*, row_number() OVER (ORDER BY u.ord)::integer AS tx
              FROM unnest(a_ids, a_households, a_rules, a_versions, a_points, a_statuses, a_transactions, a_memos)
                   WITH ORDINALITY AS u(id, household_id, rule_id, rule_version, points, status, transaction_id,
                                        memo, ord)
             WHERE u.status = 'posted') a
     CROSS JOIN LATERAL (VALUES
            (1, a.tx, a.household_id, a.points, greatest(a.points, 0)),
            (2, a.tx, CASE WHEN a.points > 0 THEN p_issuing ELSE p_deductions END, -a.points, 0::bigint)
     ) AS q(line, tx, account, amount, earned);
    IF t.ids IS NOT NULL THEN
        PERFORM ledger_post(p_village, p_actor, t.ids, t.kinds, t.memos, t.rules, t.versions, t.source_types,
                            t.sources, t.no_uuids, t.no_texts, t.p_tx, t.p_accounts, t.p_amounts, t.p_earned);
    END IF;
    RETURN true;
END
$$;

REVOKE EXECUTE ON FUNCTION jifen_award_claim_post({HELPER_ARGS}) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION jifen_json_time(timestamptz) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION {SIGNATURE} FROM PUBLIC;
DO $grant$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
    GRANT EXECUTE ON FUNCTION {SIGNATURE} TO {APP_ROLE};
  END IF;
END $grant$;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(
        f"DROP FUNCTION {SIGNATURE};\n"
        f"DROP FUNCTION jifen_award_claim_post({HELPER_ARGS});\n"
        "DROP FUNCTION jifen_json_time(timestamptz);\n"
    )
