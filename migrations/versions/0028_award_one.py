"""A single award in fewer statements: award_submit() with one item reads everything in one statement and
writes the award, its audit event and its outbox event in one.

Measured on `POST /awards` (issue 13: ≥ 1,000 awards/s at 32 clients), the call of 0027 ran about fifteen
statements for one item inside PL/pgSQL: the credential, the households, the roles, the notice days, the rule
check, two account lookups, the priced aggregate (thirteen array_aggs and the answer's string_agg, sorted),
the claim and the claim-post aggregate, ledger_post, and the awards, audit and outbox inserts. With one item
(n = 1) it now runs:

- **one read**: the credential, the household (every row with its id, as the general read counts them), its
  village's notice days, the rule's current version, both system accounts and who may award, in one
  statement on primary keys and the roles' index;
- the same checks as before, on that row (a refusal or a shape the call does not cover: NULL, nothing
  written, the general path runs and gives the refusal, as before); the answer, the ids and the status
  computed in PL/pgSQL expressions, with no aggregate;
- **the claim and the posting** (jifen_award_claim_post_one: the key's row, then ledger_post with the one
  transaction's arrays; a deduction inside a subtransaction, as before, so too few points leaves nothing);
- **one write**: the award, its audit event, its outbox event and deliveries, as one statement of CTEs.

And the outbox events' reference trigger (0022) now fires for direct writers only, as the ledger's and the
awards' reference triggers do: inside award_submit and sale_submit every event names what was just read.

More than one item runs as before. Same rows, same answer bytes, same refusals (tests/awards/test_one_call.py,
test_fast_lane.py, test_inspection_one_call.py compare them with the general path). Every invariant stays
where it was: ledger_post posts, the balance is checked under the account's row lock, the key is claimed
before anything is posted.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-02
"""

from jifen.kit.migrate import execute_script, released, replaced

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


_0027 = released("0027_inspection_call.py")


ONE_ITEM = r"""
    -- One item (POST /awards): every read in one statement, the writes in one.
    IF n = 1 THEN
        SELECT u.id IS NOT NULL AS credential_ok, h.households_found, h.village_id, h.grid, v.notice_days,
               rv.rule_id, rv.version, rv.name, rv.points, rv.review, rv.active, rv.cap_count, rv.escalation,
               rv.evidence_required, rv.active_from, rv.active_until, ai.id AS issuing, ad.id AS deductions,
               ro.is_admin, ro.is_cadre, ro.whole_village, ro.grids, ro.own, ro.roles
          INTO one
          FROM (SELECT 1) AS x
          LEFT JOIN users u ON u.id = p_actor AND u.is_active AND u.credential_version = p_credential
          LEFT JOIN LATERAL (SELECT h.village_id, h.grid, count(*) OVER () AS households_found
                               FROM households h WHERE h.id = p_households[1] LIMIT 1) h ON true
          LEFT JOIN villages v ON v.id = h.village_id
          LEFT JOIN rules r ON r.village_id = h.village_id AND r.id = p_rules[1]
          LEFT JOIN rule_versions rv
            ON rv.village_id = r.village_id AND rv.rule_id = r.id AND rv.version = r.current_version
          LEFT JOIN accounts ai ON ai.village_id = h.village_id AND ai.kind = 'issuing'
          LEFT JOIN accounts ad ON ad.village_id = h.village_id AND ad.kind = 'deductions'
          LEFT JOIN LATERAL (
                SELECT coalesce(bool_or(ur.role = 'village_admin' AND ur.village_id = h.village_id), false) AS is_admin,
                       coalesce(bool_or(ur.role = 'cadre' AND ur.village_id = h.village_id), false) AS is_cadre,
                       coalesce(bool_or(ur.role = 'cadre' AND ur.village_id = h.village_id AND ur.grid IS NULL),
                                false) AS whole_village,
                       array_agg(ur.grid) FILTER (WHERE ur.role = 'cadre' AND ur.village_id = h.village_id
                                                   AND ur.grid IS NOT NULL) AS grids,
                       array_agg(ur.household_id) FILTER (WHERE ur.household_id IS NOT NULL) AS own,
                       left(string_agg(DISTINCT ur.role::text COLLATE "C", ',' ORDER BY ur.role::text COLLATE "C")
                            FILTER (WHERE ur.village_id = h.village_id OR ur.village_id IS NULL), 200) AS roles
                  FROM user_roles ur WHERE ur.user_id = p_actor) ro ON true;
        -- the credential first, then the checks of the general statements below, on the one row
        IF NOT one.credential_ok THEN
            RAISE EXCEPTION 'award_submit: credential % of user % is no longer valid', p_credential, p_actor
                USING ERRCODE = 'JF007';
        END IF;
        IF one.households_found IS DISTINCT FROM 1 OR NOT (one.is_admin OR one.is_cadre) OR p_households && one.own THEN
            RETURN;
        END IF;
        IF NOT one.is_admin AND NOT one.whole_village
           AND (one.grid IS NULL OR NOT one.grid = ANY (one.grids)) THEN
            RETURN;
        END IF;
        v_village := one.village_id;
        notice := one.notice_days;
        IF one.rule_id IS NULL OR NOT one.active OR one.cap_count IS NOT NULL OR one.escalation IS NOT NULL
           OR one.evidence_required OR today < one.active_from OR today > one.active_until
           OR (one.review = 'none' AND notice > 0 AND one.points < 0) THEN
            RETURN;
        END IF;
        notice_until := CASE WHEN notice > 0 THEN now_ + make_interval(days => notice) END;
        o_status := CASE WHEN one.review <> 'none' THEN 'pending_review'
                         WHEN notice > 0 THEN 'public_notice'
                         ELSE 'posted' END;
        o_points := one.points * p_quantities[1];
        o_id := jifen_uuid_add(ids, 1);
        o_tx := CASE WHEN o_status = 'posted' THEN jifen_uuid_add(ids, 2) END;
        awarded := CASE WHEN o_status = 'posted' AND o_points > 0 THEN 1 ELSE 0 END;
        deducted := CASE WHEN o_status = 'posted' AND o_points < 0 THEN 1 ELSE 0 END;
        answer := '{"id":"' || o_id || '","status":"' || o_status || '","points":' || o_points
               || ',"transaction_id":' || coalesce('"' || o_tx || '"', 'null')
               || ',"household_id":"' || p_households[1] || '","rule_id":"' || one.rule_id
               || '","rule_version":' || one.version || ',"quantity":' || p_quantities[1]
               || ',"member_id":null,"note":' || coalesce(to_json(p_notes[1])::text, 'null')
               || ',"created_at":' || jifen_json_time(now_)
               || ',"notice_until":' || CASE WHEN o_status = 'public_notice' THEN jifen_json_time(notice_until)
                                             ELSE 'null' END
               || ',"photo_ids":[],"self_report":false,"submitted_by":"' || p_actor || '","observed_at":null}';
        IF p_many THEN
            answer := '{"items":[' || answer || ']}';
            batch := ids;
        END IF;
        batch := coalesce(p_batch, batch);

        -- the key with its answer, then the posting (a deduction without the points for it undoes both)
        IF o_status = 'posted' AND o_points < 0 THEN
            BEGIN
                claimed := jifen_award_claim_post_one(v_village, p_actor, p_key, p_request_hash, answer, o_tx,
                                                      one.rule_id, one.version, one.name, p_quantities[1], o_id,
                                                      p_households[1], one.deductions, o_points);
            EXCEPTION WHEN SQLSTATE 'JF001' THEN
                awarded := NULL;
                deducted := NULL;
                RETURN;
            END;
        ELSE
            claimed := jifen_award_claim_post_one(v_village, p_actor, p_key, p_request_hash, answer, o_tx,
                                                  one.rule_id, one.version, one.name, p_quantities[1], o_id,
                                                  p_households[1],
                                                  CASE WHEN o_points > 0 THEN one.issuing ELSE one.deductions END,
                                                  o_points);
        END IF;
        IF NOT claimed THEN
            awarded := NULL;
            deducted := NULL;
            RETURN;
        END IF;

        -- the award, its audit event, and what the household hears of it, in one statement
        WITH award AS (
            INSERT INTO awards (village_id, id, household_id, rule_id, rule_version, quantity, points, member_id,
                                note, status, transaction_id, batch_id, submitted_by, created_at, notice_until,
                                hold_id, self_report)
            VALUES (v_village, o_id, p_households[1], one.rule_id, one.version, p_quantities[1], o_points, NULL,
                    p_notes[1], o_status, o_tx, batch, p_actor, now_,
                    CASE WHEN o_status = 'public_notice' THEN notice_until END, NULL, false)),
        audit AS (
            INSERT INTO audit_events (scope, actor_id, actor_name, actor_roles, action, record_type, record_id,
                                      before, after, reason, request_id, client_addr)
            VALUES (v_village, p_actor, left(p_actor_name, 64), coalesce(one.roles, ''), 'award.submit', 'award',
                    o_id::text, NULL,
                    jsonb_build_object('household_id', p_households[1], 'rule_id', one.rule_id,
                                       'rule_version', one.version, 'quantity', p_quantities[1],
                                       'points', o_points, 'status', o_status, 'transaction_id', o_tx,
                                       'note', p_notes[1]),
                    NULL, p_request_id, p_client_addr)),
        e AS (
            INSERT INTO outbox_events (village_id, id, kind, household_id, payload)
            SELECT v_village, jifen_uuid_add(o_id, 2),
                   CASE WHEN o_status = 'public_notice' THEN 'notice.opened'
                        WHEN o_points > 0 THEN 'award.posted' ELSE 'deduction.posted' END,
                   p_households[1],
                   jsonb_build_object('points', o_points, 'award_id', o_id, 'rule', one.name,
                                      'transaction_id', o_tx)
                   || CASE WHEN o_status = 'public_notice'
                           THEN jsonb_build_object('notice_until', notice_until) ELSE '{}'::jsonb END
             WHERE o_status IN ('posted', 'public_notice')
            RETURNING village_id, id, household_id)
        INSERT INTO outbox_deliveries (village_id, event_id, channel_id)
        SELECT e.village_id, e.id, c.id
          FROM e JOIN notify_channels c ON c.village_id = e.village_id AND c.enabled
           AND (c.kind = 'webhook' OR e.household_id IS NOT NULL);
        answer_json := answer;
        RETURN;
    END IF;
"""

AWARD_SUBMIT = replaced(
    _0027.AWARD_SUBMIT,
    ("CREATE FUNCTION award_submit(", "CREATE OR REPLACE FUNCTION award_submit("),
    (
        "    a_memos text[];\nBEGIN\n",
        "    a_memos text[];\n    one record;\n    o_id uuid;\n    o_tx uuid;\n    o_status text;\n"
        "    o_points bigint;\nBEGIN\n",
    ),
    (
        "        RAISE EXCEPTION 'award_submit: the items do not line up' USING ERRCODE = 'JF005';\n    END IF;\n",
        "        RAISE EXCEPTION 'award_submit: the items do not line up' USING ERRCODE = 'JF005';\n    END IF;\n"
        + ONE_ITEM,
    ),
)

# jifen_award_claim_post (0021, 0027) for one item: the key claimed with its answer (none without a key), then
# the award or deduction posted (awards/service.py award_draft) with the one transaction's arrays, without
# the aggregate that lines up many
CLAIM_POST_ONE = r"""
CREATE FUNCTION jifen_award_claim_post_one(
    p_village uuid, p_actor uuid, p_key text, p_request_hash text, p_answer text, p_transaction uuid,
    p_rule uuid, p_version integer, p_rule_name text, p_quantity integer, p_award uuid, p_household uuid,
    p_counter uuid, p_points bigint
) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    claimed boolean := true;
BEGIN
    IF p_key IS NOT NULL THEN
        INSERT INTO idempotency_keys (village_id, caller_id, key, request_hash, status_code, response)
        VALUES (p_village, p_actor, p_key, p_request_hash, 201, p_answer)
        ON CONFLICT DO NOTHING RETURNING true INTO claimed;
        IF claimed IS NULL THEN
            RETURN false;
        END IF;
    END IF;
    IF p_transaction IS NOT NULL THEN
        PERFORM ledger_post(p_village, p_actor, ARRAY[p_transaction],
                            ARRAY[CASE WHEN p_points > 0 THEN 'award' ELSE 'deduction' END],
                            ARRAY[CASE WHEN p_quantity = 1 THEN p_rule_name
                                       ELSE p_rule_name || ' ×' || p_quantity END],
                            ARRAY[p_rule], ARRAY[p_version], ARRAY['award'], ARRAY[p_award], ARRAY[NULL::uuid],
                            ARRAY[NULL::text], ARRAY[1, 1], ARRAY[p_household, p_counter],
                            ARRAY[p_points, -p_points], ARRAY[greatest(p_points, 0), 0::bigint]);
    END IF;
    RETURN true;
END
$$;
REVOKE EXECUTE ON FUNCTION jifen_award_claim_post_one(uuid, uuid, text, text, text, uuid, uuid, integer, text,
    integer, uuid, uuid, uuid, bigint) FROM PUBLIC;
"""

# The outbox events' references (0022's statement trigger) checked for direct writers only, the boundary 0013,
# 0016 and 0022 drew for the ledger's and the awards' reference triggers: inside award_submit and sale_submit
# (SECURITY DEFINER) every event names the village and a household just read from it, and households and
# villages are never deleted; the app's own inserts (current_user = session_user) are checked as before.
OUTBOX_REFERENCES_TRIGGER = (
    "DROP TRIGGER outbox_events_references ON outbox_events;\n"
    "CREATE TRIGGER outbox_events_references AFTER INSERT ON outbox_events REFERENCING NEW TABLE AS new_events"
    " FOR EACH STATEMENT {when}EXECUTE FUNCTION jifen_outbox_events_references();\n"
)
DIRECT_WRITERS_ONLY = "WHEN (current_user = session_user) "

UPGRADE = CLAIM_POST_ONE + AWARD_SUBMIT + OUTBOX_REFERENCES_TRIGGER.format(when=DIRECT_WRITERS_ONLY)


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(
        OUTBOX_REFERENCES_TRIGGER.format(when="")
        + _0027.AWARD_SUBMIT.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
        + "DROP FUNCTION jifen_award_claim_post_one(uuid, uuid, text, text, text, uuid, uuid, integer, text,"
        " integer, uuid, uuid, uuid, bigint);\n"
    )
