"""A single award's writes in one statement: award_submit() with one item claims the key, moves the household's
balance, writes the ledger transaction, its two postings, the award, its audit event and its outbox event as
one statement of CTEs, instead of three nested functions and eight statements.

Measured (issue 13, `POST /awards` ≥ 1,000/s at 32 clients): with 0028, award_submit for one item cost about
2.7 times ledger_post alone (pgbench at one client, pg_stat_statements with nested statements: 0.98 ms, of which
ledger_post 0.36 ms, the award/audit/outbox statement 0.17 ms, the read 0.07 ms and the key's insert 0.05 ms;
the rest was PL/pgSQL itself: two more function calls, each with its own search_path, and fifteen array
constructors for ledger_post's arguments). Executor start-up, the CHECK constraints read from their stored
text and the WHEN of the direct-writer triggers are paid per statement (perf on the backend), so fewer
statements cost less.

What ledger_post checked for this call holds by construction, in the same statement that writes:

- **balanced**: the two postings are `+points` on the household and `-points` on the village's issuing (an
  award) or deductions (a deduction) account, read by kind from this village in the call's read;
- **never below zero**: the UPDATE that locks the household's row leaves `posted` alone when the move would
  take the available balance below zero, nothing else is written then, and JF001 is raised from the locked
  row's old values (a deduction runs in a subtransaction, as before, so nothing of it stays); the row's CHECK
  is unchanged besides;
- **references**: the household's account is of this village and of kind `household` (the UPDATE's WHERE),
  the counter account is this village's (the read), the rule version was read from this village's rules in
  this transaction, the village exists (the household's row names it);
- **balance after and history**: the household's posting carries the locked row's new `posted` and
  `version`; the system account's posting carries neither, as ledger_post wrote it;
- **lifetime earned**: an award earns its points, a deduction nothing (the ledger's rule, as ledger_post
  checked with JF005);
- **chain**: the writers' shared lock is taken before any chained record draws its chain_id;
- **the key first**: every write of the statement is gated on the key's row having been inserted by it (a
  key already claimed writes nothing and the general path replays it).

More than one item runs as before. jifen_award_claim_post_one stays for the downgrade only.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-02
"""

from jifen.kit.migrate import between, execute_script, released, replaced

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


_0028 = released("0028_award_one.py")

# 0028's writes of one item: the claim and the posting (jifen_award_claim_post_one), then the award, its audit
# event and its outbox event
_WRITES_0028 = between(
    _0028.AWARD_SUBMIT,
    "        -- the key with its answer, then the posting",
    "        answer_json := answer;\n",
)

# 0028's award, audit and outbox statement, after the claim and the posting
_RECORDS_0028 = _WRITES_0028[_WRITES_0028.index("        -- the award, its audit event") :]

# A posted deduction: 0028's claim and posting in a subtransaction (too few points undo both, and the general
# path gives the refusal), then its records. Anything else (an award, or nothing posted yet): one statement.
WRITES = (
    r"""        IF o_status = 'posted' AND o_points < 0 THEN
            BEGIN
                claimed := jifen_award_claim_post_one(v_village, p_actor, p_key, p_request_hash, answer, o_tx,
                                                      one.rule_id, one.version, one.name, p_quantities[1], o_id,
                                                      p_households[1], one.deductions, o_points);
            EXCEPTION WHEN SQLSTATE 'JF001' THEN
                awarded := NULL;
                deducted := NULL;
                RETURN;
            END;
            IF NOT claimed THEN
                awarded := NULL;
                deducted := NULL;
                RETURN;
            END IF;
"""
    + _RECORDS_0028
    + r"""            answer_json := answer;
            RETURN;
        END IF;

        -- the chain's writers' lock before any chained record draws its chain_id (migration 0003)
        PERFORM pg_advisory_xact_lock_shared(7595439545093744238);
        -- an award (its points > 0: no balance to check), or a deduction on review or notice (nothing posted
        -- yet): every write gated on the key claimed here (none without a key)
        WITH claim AS (
            INSERT INTO idempotency_keys (village_id, caller_id, key, request_hash, status_code, response)
            SELECT v_village, p_actor, p_key, p_request_hash, 201, answer WHERE p_key IS NOT NULL
            ON CONFLICT DO NOTHING
            RETURNING 1),
        go AS (SELECT 1 WHERE p_key IS NULL OR EXISTS (SELECT 1 FROM claim)),
        moved AS (
            UPDATE accounts a
               SET posted = a.posted + o_points,
                   lifetime_earned = a.lifetime_earned + o_points,
                   version = a.version + 1
             WHERE a.village_id = v_village AND a.id = p_households[1] AND a.kind = 'household'
               AND o_tx IS NOT NULL AND EXISTS (SELECT 1 FROM go)
            RETURNING new.posted AS balance, new.version AS version),
        tx AS (
            INSERT INTO ledger_transactions (village_id, id, kind, memo, actor_id, rule_id, rule_version,
                                             source_type, source_id, reverses_id, reason)
            SELECT v_village, o_tx, 'award',
                   CASE WHEN p_quantities[1] = 1 THEN one.name ELSE one.name || ' ×' || p_quantities[1] END,
                   p_actor, one.rule_id, one.version, 'award', o_id, NULL, NULL
              FROM moved),
        lines AS (
            INSERT INTO postings (village_id, transaction_id, account_id, amount, balance_after,
                                  account_version)
            SELECT v_village, o_tx, l.account_id, l.amount, l.balance_after, l.account_version
              FROM moved p
             CROSS JOIN LATERAL (VALUES (1, p_households[1], o_points, p.balance, p.version),
                                        (2, one.issuing, -o_points, NULL::bigint, NULL::bigint))
                     AS l(ord, account_id, amount, balance_after, account_version)
             ORDER BY l.ord),
        written AS (SELECT 1 FROM go WHERE o_tx IS NULL OR EXISTS (SELECT 1 FROM moved)),
        award AS (
            INSERT INTO awards (village_id, id, household_id, rule_id, rule_version, quantity, points,
                                member_id, note, status, transaction_id, batch_id, submitted_by, created_at,
                                notice_until, hold_id, self_report)
            SELECT v_village, o_id, p_households[1], one.rule_id, one.version, p_quantities[1], o_points,
                   NULL, p_notes[1], o_status, o_tx, batch, p_actor, now_,
                   CASE WHEN o_status = 'public_notice' THEN notice_until END, NULL, false
              FROM written),
        audit AS (
            INSERT INTO audit_events (scope, actor_id, actor_name, actor_roles, action, record_type,
                                      record_id, before, after, reason, request_id, client_addr)
            SELECT v_village, p_actor, left(p_actor_name, 64), coalesce(one.roles, ''), 'award.submit',
                   'award', o_id::text, NULL,
                   jsonb_build_object('household_id', p_households[1], 'rule_id', one.rule_id,
                                      'rule_version', one.version, 'quantity', p_quantities[1],
                                      'points', o_points, 'status', o_status, 'transaction_id', o_tx,
                                      'note', p_notes[1]),
                   NULL, p_request_id, p_client_addr
              FROM written),
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
              FROM written
             WHERE o_status IN ('posted', 'public_notice')
            RETURNING village_id, id, household_id),
        deliveries AS (
            INSERT INTO outbox_deliveries (village_id, event_id, channel_id)
            SELECT e.village_id, e.id, c.id
              FROM e JOIN notify_channels c ON c.village_id = e.village_id AND c.enabled
               AND (c.kind = 'webhook' OR e.household_id IS NOT NULL))
        SELECT EXISTS (SELECT 1 FROM go), EXISTS (SELECT 1 FROM moved)
          INTO claimed, o_moved;
        IF NOT claimed THEN
            awarded := NULL;
            deducted := NULL;
            RETURN;
        END IF;
        IF o_tx IS NOT NULL AND NOT o_moved THEN
            RAISE EXCEPTION 'a posting names an account outside village %', v_village
                USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'postings_account';
        END IF;
"""
)

AWARD_SUBMIT = replaced(
    _0028.AWARD_SUBMIT,
    ("    o_points bigint;\nBEGIN\n", "    o_points bigint;\n    o_moved boolean;\nBEGIN\n"),
    (_WRITES_0028, WRITES),
)


def upgrade() -> None:
    execute_script(AWARD_SUBMIT)


def downgrade() -> None:
    execute_script(_0028.AWARD_SUBMIT)
