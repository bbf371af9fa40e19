"""One database call per counter sale: sale_submit() does, in one statement, what `POST /redemptions` took
about ten for — the store and who may sell there, the household, the idempotency claim with its answer, the
items locked, the limits, the points, the posting, the sale with its lines and stock movements, its audit and
outbox events.

It covers the counter sale as store/basket.py `check_out` (path CounterSale) takes it: the store open, the
clerk of this store or the village admin, each item of this store, on sale and in stock, within the
household's per-item limits (completed sales of the local Asia/Shanghai period + units on active, unexpired
reservations + this basket), and points enough. For every refusal (a store paused or unknown, another store's
clerk, an unknown household or item, out of stock, a limit, too few points, a key already used) it writes
nothing and returns NULL, and the caller runs the Python path, which gives the refusal its code and Chinese
message exactly as before.

Who may sell is read here from `user_roles`, and the credential version is re-checked (SQLSTATE JF007,
answered 401 invalid_token), as in 0021: a process's cached actor may be a few seconds old.

The key is claimed before any row is locked, as the Python path claims it (so a retry racing either path
queues on the key, never deadlocks on the items); a refusal found after the claim deletes it again. Points are
checked on the household's account row locked FOR UPDATE (the row ledger_post moves next; the store's account
is a system account it never locks), so ledger_post cannot refuse with JF001 afterwards and no subtransaction
is needed. The answer (RedemptionOut's JSON, byte for byte) is stored with the claim and returned: a replay
sends the very same bytes.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-02
"""

from jifen.kit.migrate import APP_ROLE, execute_script

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

SIGNATURE = "sale_submit(uuid, integer, text, text, text, text, text, timestamptz, uuid, uuid, text, uuid[], integer[])"
PINNED = "SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp"

UPGRADE = rf"""
CREATE FUNCTION sale_submit(
    p_actor uuid,            -- the signed-in clerk or village admin, at
    p_credential integer,    -- the credential version their token or cookie carries
    p_actor_name text,       -- for the audit event
    p_request_id text,
    p_client_addr text,
    p_key text,              -- the Idempotency-Key and the request's fingerprint (kit/idempotency.py)
    p_request_hash text,
    p_now timestamptz,       -- the sale's time (the caller's clock, as the Python path has it)
    p_store uuid,
    p_household uuid,        -- the household by id, or (NULL) by its code
    p_household_code text,
    p_items uuid[],          -- the basket: units by item, each item once, in id order (service.basket_of)
    p_quantities integer[],
    OUT answer_json text     -- the answer; NULL: nothing written, the Python path runs
) RETURNS text LANGUAGE plpgsql {PINNED} AS $$
DECLARE
    n integer := cardinality(p_items);
    v_village uuid;
    v_store_name text;
    v_active boolean;
    may_sell boolean;
    town boolean;
    roles text;
    v_household uuid;
    v_code text;
    v_available bigint;
    v_balance bigint;
    redemption uuid := gen_random_uuid();
    tx uuid := gen_random_uuid();
    t record;
    v_receipt bigint;
    v_receipt_text text;
BEGIN
    IF n IS NULL OR n = 0 OR cardinality(p_quantities) <> n THEN
        RAISE EXCEPTION 'sale_submit: the lines do not line up' USING ERRCODE = 'JF005';
    END IF;
    -- the credential: a sign-out, a password change, a reset or a disabling ends it at once, whatever a
    -- server process still remembers
    PERFORM 1 FROM users u WHERE u.id = p_actor AND u.is_active AND u.credential_version = p_credential;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'sale_submit: credential % of user % is no longer valid', p_credential, p_actor
            USING ERRCODE = 'JF007';
    END IF;

    -- the store, open (basket.py StorePaused)
    SELECT s.village_id, s.name, s.active INTO v_village, v_store_name, v_active FROM stores s WHERE s.id = p_store;
    IF v_village IS NULL OR NOT v_active THEN
        RETURN;
    END IF;
    -- who may sell here (store/auth.py authorize_store_staff: never a town admin), and the roles the audit
    -- event names (audit/service.py _roles)
    SELECT coalesce(bool_or(r.village_id = v_village
                            AND (r.role = 'village_admin' OR (r.role = 'clerk' AND r.store_id = p_store))), false),
           coalesce(bool_or(r.role = 'town_admin'), false),
           left(string_agg(DISTINCT r.role::text COLLATE "C", ',' ORDER BY r.role::text COLLATE "C")
                FILTER (WHERE r.village_id = v_village OR r.village_id IS NULL), 200)
      INTO may_sell, town, roles
      FROM user_roles r WHERE r.user_id = p_actor;
    IF NOT may_sell OR town THEN
        RETURN;
    END IF;
    -- the household (service.find_household)
    IF p_household IS NOT NULL THEN
        SELECT h.id, h.code INTO v_household, v_code FROM households h
         WHERE h.village_id = v_village AND h.id = p_household;
    ELSE
        SELECT h.id, h.code INTO v_household, v_code FROM households h
         WHERE h.village_id = v_village AND h.code = p_household_code;
    END IF;
    IF v_household IS NULL THEN
        RETURN;
    END IF;

    -- the key, claimed before any lock as the Python path claims it (kit/idempotency.py claim; a concurrent
    -- request with the same key waits on its row): a key already used leaves the replay or the refusal to
    -- the Python path. Its answer is filled in below; a refusal from here on takes the claim back.
    INSERT INTO idempotency_keys (village_id, caller_id, key, request_hash)
    VALUES (v_village, p_actor, p_key, p_request_hash)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN;
    END IF;

    -- step 1 (basket.py _checked_lines): the items locked in id order (repository.lock_items), each of this
    -- store, on sale and in stock
    PERFORM 1 FROM items i WHERE i.village_id = v_village AND i.id = ANY (p_items) ORDER BY i.id FOR UPDATE;
    SELECT count(i.id) AS n_found,
           coalesce(bool_and(i.store_id = p_store AND i.active AND i.on_hand - i.reserved >= b.quantity), false)
               AS fits,
           -- step 2 (basket.py _check_limits): units sold in the limit's local period + units on active,
           -- unexpired reservations + this basket
           coalesce(bool_or(i.limit_count IS NOT NULL AND b.quantity > greatest(i.limit_count - (
                SELECT coalesce(sum(rl.quantity), 0)
                  FROM redemptions r
                  JOIN redemption_lines rl ON rl.village_id = r.village_id AND rl.redemption_id = r.id
                 WHERE r.village_id = v_village AND r.household_id = v_household AND r.status = 'completed'
                   AND r.created_at >= w.since AND r.created_at < w.until AND rl.item_id = i.id) - (
                SELECT coalesce(sum(rl.quantity), 0)
                  FROM reservations r
                  JOIN reservation_lines rl ON rl.village_id = r.village_id AND rl.reservation_id = r.id
                 WHERE r.village_id = v_village AND r.household_id = v_household AND r.status = 'active'
                   AND r.expires_at > p_now AND rl.item_id = i.id), 0)), false) AS over_limit,
           sum(b.quantity::bigint * i.price_points)::bigint AS total,
           array_agg(i.name ORDER BY b.ord) AS names,
           array_agg(i.price_points ORDER BY b.ord) AS prices,
           string_agg(i.name || '×' || b.quantity, '、' ORDER BY b.ord) AS summary,
           string_agg('{{"item_id":"' || i.id || '","name":' || to_json(i.name)::text || ',"quantity":' || b.quantity
                      || ',"price_points":' || i.price_points || ',"line_points":'
                      || b.quantity::bigint * i.price_points || '}}', ',' ORDER BY b.ord) AS lines_json,
           jsonb_agg(jsonb_build_array(i.id::text, b.quantity, i.price_points) ORDER BY b.ord) AS audit_lines,
           jsonb_agg(jsonb_build_array(i.name, b.quantity) ORDER BY b.ord) AS event_lines
      INTO t
      FROM unnest(p_items, p_quantities) WITH ORDINALITY AS b(item_id, quantity, ord)
      LEFT JOIN items i ON i.village_id = v_village AND i.id = b.item_id
      LEFT JOIN LATERAL (
            SELECT (date_trunc(i.limit_period, p_now AT TIME ZONE 'Asia/Shanghai')
                        AT TIME ZONE 'Asia/Shanghai') AS since,
                   ((date_trunc(i.limit_period, p_now AT TIME ZONE 'Asia/Shanghai')
                     + CASE i.limit_period WHEN 'quarter' THEN interval '3 months'
                            ELSE ('1 ' || i.limit_period)::interval END) AT TIME ZONE 'Asia/Shanghai') AS until) w ON true;
    IF t.n_found <> n OR NOT t.fits OR t.over_limit THEN
        DELETE FROM idempotency_keys WHERE village_id = v_village AND caller_id = p_actor AND key = p_key;
        RETURN;
    END IF;

    -- step 3: points, on the household's account locked (the row ledger_post moves next): too few, the
    -- claim taken back and the Python path refuses it
    SELECT a.posted - a.held INTO v_available FROM accounts a
     WHERE a.village_id = v_village AND a.id = v_household FOR UPDATE;
    IF v_available IS NULL OR v_available < t.total THEN
        DELETE FROM idempotency_keys WHERE village_id = v_village AND caller_id = p_actor AND key = p_key;
        RETURN;
    END IF;

    -- the points to the store (basket.py _sell: one redemption transaction, household → store)
    PERFORM ledger_post(v_village, p_actor, ARRAY[tx], ARRAY['redemption'],
                        ARRAY[left('积分超市兑换：' || t.summary, 500)], ARRAY[NULL::uuid], ARRAY[NULL::integer],
                        ARRAY['redemption'], ARRAY[redemption], ARRAY[NULL::uuid], ARRAY[NULL::text],
                        ARRAY[1, 1], ARRAY[v_household, p_store], ARRAY[-t.total, t.total],
                        ARRAY[0, 0]::bigint[]);

    -- the sale, its lines, the stock off the shelf and the sale movements (repository/sales.py record_sale)
    WITH made AS (
        INSERT INTO redemptions (village_id, id, store_id, household_id, total_points, transaction_id, clerk_id,
                                 created_at)
        VALUES (v_village, redemption, p_store, v_household, t.total, tx, p_actor, p_now)
        RETURNING receipt_no
    ), lines AS (
        INSERT INTO redemption_lines (village_id, redemption_id, item_id, quantity, price_points, line_points)
        SELECT v_village, redemption, l.item_id, l.quantity, l.price, l.quantity::bigint * l.price
          FROM unnest(p_items, p_quantities, t.prices) AS l(item_id, quantity, price)
    ), sold AS (
        UPDATE items i SET on_hand = i.on_hand - l.quantity
          FROM unnest(p_items, p_quantities) AS l(item_id, quantity)
         WHERE i.village_id = v_village AND i.id = l.item_id
        RETURNING i.id, l.quantity, i.on_hand
    ), movements AS (
        INSERT INTO stock_movements (village_id, item_id, kind, quantity, on_hand_after, actor_id, redemption_id,
                                     created_at)
        SELECT v_village, sold.id, 'sale', -sold.quantity, sold.on_hand, p_actor, redemption, p_now FROM sold
    )
    SELECT made.receipt_no INTO v_receipt FROM made;
    SELECT a.posted INTO v_balance FROM accounts a WHERE a.village_id = v_village AND a.id = v_household;
    v_receipt_text := CASE WHEN v_receipt >= 100000000 THEN v_receipt::text ELSE lpad(v_receipt::text, 8, '0') END;

    answer_json := '{{"id":"' || redemption || '","receipt_no":"' || v_receipt_text
        || '","status":"completed","store_id":"' || p_store || '","household_id":"' || v_household
        || '","household_code":' || to_json(v_code)::text || ',"total_points":' || t.total
        || ',"lines":[' || t.lines_json || '],"transaction_id":"' || tx || '","balance_after":' || v_balance
        || ',"clerk_id":"' || p_actor || '","created_at":' || jifen_json_time(p_now)
        || ',"cancel_transaction_id":null,"cancelled_at":null,"cancel_reason":null}}';
    UPDATE idempotency_keys SET status_code = 201, response = answer_json
     WHERE village_id = v_village AND caller_id = p_actor AND key = p_key;

    -- its audit event (service.completed_sale) and what the household hears of it (service.sale_event,
    -- outbox/repository.py fan_out)
    INSERT INTO audit_events (scope, actor_id, actor_name, actor_roles, action, record_type, record_id, before,
                              after, reason, request_id, client_addr)
    VALUES (v_village, p_actor, left(p_actor_name, 64), coalesce(roles, ''), 'redemption.complete', 'redemption',
            redemption::text, NULL,
            jsonb_build_object('receipt_no', v_receipt_text, 'store_id', p_store, 'household_id', v_household,
                               'total_points', t.total, 'transaction_id', tx, 'lines', t.audit_lines),
            NULL, p_request_id, p_client_addr);
    WITH e AS (
        INSERT INTO outbox_events (village_id, id, kind, household_id, payload)
        VALUES (v_village, gen_random_uuid(), 'sale.completed', v_household,
                jsonb_build_object('redemption_id', redemption, 'receipt_no', v_receipt_text,
                                   'store', v_store_name, 'total_points', t.total, 'balance_after', v_balance,
                                   'lines', t.event_lines))
        RETURNING village_id, id, household_id)
    INSERT INTO outbox_deliveries (village_id, event_id, channel_id)
    SELECT e.village_id, e.id, c.id
      FROM e JOIN notify_channels c ON c.village_id = e.village_id AND c.enabled
       AND (c.kind = 'webhook' OR e.household_id IS NOT NULL);
END
$$;

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
    execute_script(f"DROP FUNCTION {SIGNATURE};\n")
