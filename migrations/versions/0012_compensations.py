"""Compensations: one per source transaction, whichever path comes first; objections to posted awards and
their double review.

A transaction is compensated at most once — by a reversal, a sale's cancellation, a rectification (整改), or
an objection's revision or revocation of a posted award. Each path writes a row here in the same database
transaction as the compensating posting, and the primary key on (village, source, step) decides a race: the
loser's insert waits for the winner and then finds the slot taken. The only second step is the reversal of
a rectified deduction for what is left of it (step 2 after a step-1 rectification, checked by a trigger).

`transaction_id` names a transaction the same database transaction is about to post (the link is written
first, to claim the source before any points move), so its foreign key is checked at commit.

Objections may now challenge a posted award too (within the notice period after its posting), so a revoked
award may keep the transaction it was posted with; and a `double` rule's resolution is first proposed by
one resolver and completed by a second who agrees (the proposal columns on `objections`).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from jifen.kit.migrate import execute_script, grant_app_privileges_sql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

APPEND_ONLY = ("compensations",)

# Links for the compensations made before this table existed, in the order they were made: the first of
# a source's reversals, cancellations and rectifications is its compensation; a reversal that followed a
# rectification is the rectified deduction's second step.
BACKFILL = r"""
WITH household_amount AS (
    SELECT p.village_id, p.transaction_id, sum(p.amount) AS amount
      FROM postings p
     WHERE p.account_version IS NOT NULL
     GROUP BY p.village_id, p.transaction_id
), made AS (
    SELECT t.village_id, t.reverses_id AS source_id, t.id AS transaction_id, 'reversal' AS kind,
           t.actor_id, t.created_at
      FROM ledger_transactions t
     WHERE t.reverses_id IS NOT NULL
    UNION ALL
    SELECT r.village_id, r.transaction_id, r.cancel_transaction_id, 'cancellation', t.actor_id, t.created_at
      FROM redemptions r
      JOIN ledger_transactions t ON t.village_id = r.village_id AND t.id = r.cancel_transaction_id
    UNION ALL
    SELECT t.village_id, a.transaction_id, t.id, 'rectification', t.actor_id, t.created_at
      FROM ledger_transactions t
      JOIN awards a ON a.village_id = t.village_id AND a.id = t.source_id
     WHERE t.kind = 'rectification' AND a.transaction_id IS NOT NULL
)
INSERT INTO compensations (village_id, source_id, step, transaction_id, kind, amount, actor_id, created_at)
SELECT m.village_id, m.source_id, 1, m.transaction_id, m.kind, coalesce(h.amount, 0), m.actor_id, m.created_at
  FROM made m
  LEFT JOIN household_amount h ON h.village_id = m.village_id AND h.transaction_id = m.transaction_id
 ORDER BY m.created_at, m.transaction_id
ON CONFLICT DO NOTHING;

INSERT INTO compensations (village_id, source_id, step, transaction_id, kind, amount, actor_id, created_at)
SELECT t.village_id, t.reverses_id, 2, t.id, 'reversal',
       coalesce((SELECT sum(p.amount) FROM postings p
                  WHERE p.village_id = t.village_id AND p.transaction_id = t.id
                    AND p.account_version IS NOT NULL), 0),
       t.actor_id, t.created_at
  FROM ledger_transactions t
  JOIN compensations c ON c.village_id = t.village_id AND c.source_id = t.reverses_id AND c.step = 1
                      AND c.kind = 'rectification' AND c.created_at <= t.created_at
 WHERE NOT EXISTS (SELECT 1 FROM compensations x WHERE x.village_id = t.village_id AND x.transaction_id = t.id)
ON CONFLICT DO NOTHING;
"""


def upgrade() -> None:
    execute_script(
        r"""
CREATE TABLE compensations (
    village_id uuid NOT NULL,
    source_id uuid NOT NULL,
    step smallint NOT NULL DEFAULT 1,
    transaction_id uuid NOT NULL,
    kind varchar(16) NOT NULL,
    -- what the compensating transaction moved on the household's account (signed)
    amount bigint NOT NULL,
    actor_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- at most one compensation per source transaction, whichever path asks first
    CONSTRAINT pk_compensations PRIMARY KEY (village_id, source_id, step),
    CONSTRAINT uq_compensations_village_id_transaction_id UNIQUE (village_id, transaction_id),
    CONSTRAINT fk_compensations_source
        FOREIGN KEY (village_id, source_id) REFERENCES ledger_transactions (village_id, id),
    CONSTRAINT fk_compensations_transaction
        FOREIGN KEY (village_id, transaction_id) REFERENCES ledger_transactions (village_id, id)
        DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT ck_compensations_kind CHECK (
        kind IN ('reversal', 'cancellation', 'rectification', 'revision', 'revocation')),
    -- the one second step: a rectified deduction reversed for what is left of it
    CONSTRAINT ck_compensations_step CHECK (step = 1 OR (step = 2 AND kind = 'reversal')),
    CONSTRAINT ck_compensations_not_itself CHECK (source_id <> transaction_id)
);
CREATE INDEX ix_compensations_village_id_transaction_id ON compensations (village_id, transaction_id);

-- Step 2 only after a step-1 rectification of the same source (a trigger: a CHECK sees one row only).
CREATE FUNCTION jifen_compensation_step() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.step = 2 AND NOT EXISTS (
        SELECT 1 FROM compensations c
         WHERE c.village_id = NEW.village_id AND c.source_id = NEW.source_id AND c.step = 1
           AND c.kind = 'rectification')
    THEN
        RAISE EXCEPTION 'transaction % is already compensated', NEW.source_id
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'pk_compensations';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER compensations_step BEFORE INSERT ON compensations
    FOR EACH ROW EXECUTE FUNCTION jifen_compensation_step();

CREATE TRIGGER compensations_append_only BEFORE UPDATE OR DELETE ON compensations
    FOR EACH ROW EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER compensations_no_truncate BEFORE TRUNCATE ON compensations
    FOR EACH STATEMENT EXECUTE FUNCTION jifen_refuse_change();

-- A posted award that an objection revoked keeps the transaction it was posted with.
ALTER TABLE awards DROP CONSTRAINT ck_awards_posted_has_transaction;
ALTER TABLE awards ADD CONSTRAINT ck_awards_posted_has_transaction CHECK (
    (status <> 'posted' OR transaction_id IS NOT NULL)
    AND (transaction_id IS NULL OR status IN ('posted', 'revoked')));

-- A `double` rule's objections are resolved by two people: the first proposes, a second who agrees completes.
ALTER TABLE objections ADD COLUMN proposed_outcome varchar(10);
ALTER TABLE objections ADD COLUMN proposed_points bigint;
ALTER TABLE objections ADD COLUMN proposed_by uuid;
ALTER TABLE objections ADD COLUMN proposed_at timestamptz;
ALTER TABLE objections ADD CONSTRAINT ck_objections_proposal CHECK (
    (proposed_outcome IS NULL) = (proposed_by IS NULL) AND (proposed_by IS NULL) = (proposed_at IS NULL)
    AND (proposed_outcome IS NULL OR proposed_outcome IN ('upheld', 'revised', 'revoked')));
"""
    )
    execute_script(BACKFILL)
    execute_script(grant_app_privileges_sql(APPEND_ONLY))
    # the service role writes links, never changes them (the grant above gave it what every table gets)
    execute_script(
        """
DO $revoke$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'jifen_app') THEN
    REVOKE ALL ON compensations FROM jifen_app;
    GRANT SELECT, INSERT ON compensations TO jifen_app;
  END IF;
END
$revoke$;
"""
    )


def downgrade() -> None:
    execute_script(
        """
ALTER TABLE objections DROP CONSTRAINT ck_objections_proposal, DROP COLUMN proposed_outcome,
    DROP COLUMN proposed_points, DROP COLUMN proposed_by, DROP COLUMN proposed_at;
ALTER TABLE awards DROP CONSTRAINT ck_awards_posted_has_transaction;
ALTER TABLE awards ADD CONSTRAINT ck_awards_posted_has_transaction
    CHECK ((status = 'posted') = (transaction_id IS NOT NULL));
DROP TABLE compensations;
DROP FUNCTION jifen_compensation_step();
"""
    )
