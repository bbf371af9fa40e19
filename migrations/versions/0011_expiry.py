"""Expiry (清零): a village's expiry policy as an append-only history, and the expiries the due job posted.

A policy is `none`, `yearly` (a clearing at the end of a local month/day, with an optional cap on the points
carried over) or `rolling` (each earned point is valid N months, spent oldest first). A new row replaces the
previous policy from its `effective_at` on; only cutoffs after it count, so nothing that was past due under
a policy that did not exist yet ever expires.

`expiries` records every expiry transaction: one row per household, cutoff and part. The part is 1 for the
clearing at the cutoff; a later part exists only when points held at the cutoff (a pending reservation, a
deduction on notice) were released afterwards and became due. The primary key makes a second posting of the
same part impossible, whichever process tries.

Revision ID: 0011
Revises: 0008
Create Date: 2026-11-22
"""

from jifen.kit.migrate import execute_script, grant_app_privileges_sql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

APPEND_ONLY = ("expiry_policies", "expiries", "expiry_runs")


def upgrade() -> None:
    execute_script(
        r"""
CREATE TABLE expiry_policies (
    village_id uuid NOT NULL,
    id uuid NOT NULL,
    seq integer NOT NULL,
    mode varchar(8) NOT NULL,
    clearing_month smallint,
    clearing_day smallint,
    carry_over_cap bigint,
    months smallint,
    effective_at timestamptz NOT NULL,
    reason varchar(500) NOT NULL,
    actor_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_expiry_policies PRIMARY KEY (village_id, id),
    -- the history is a sequence per village: two admins saving at once cannot both be number n
    CONSTRAINT uq_expiry_policies_village_id_seq UNIQUE (village_id, seq),
    CONSTRAINT fk_expiry_policies_village_id_villages FOREIGN KEY (village_id) REFERENCES villages (id),
    CONSTRAINT ck_expiry_policies_mode CHECK (mode IN ('none', 'yearly', 'rolling')),
    CONSTRAINT ck_expiry_policies_yearly CHECK (
        (mode = 'yearly') = (clearing_month IS NOT NULL AND clearing_day IS NOT NULL)
        AND (clearing_month IS NULL) = (clearing_day IS NULL)
        AND (clearing_month IS NULL OR (clearing_month BETWEEN 1 AND 12 AND clearing_day BETWEEN 1 AND 31))),
    CONSTRAINT ck_expiry_policies_cap CHECK (
        carry_over_cap IS NULL OR (mode = 'yearly' AND carry_over_cap >= 0)),
    CONSTRAINT ck_expiry_policies_rolling CHECK (
        (mode = 'rolling') = (months IS NOT NULL) AND (months IS NULL OR months BETWEEN 1 AND 120)),
    CONSTRAINT ck_expiry_policies_seq CHECK (seq > 0)
);
CREATE INDEX ix_expiry_policies_id ON expiry_policies (id);

CREATE TABLE expiries (
    village_id uuid NOT NULL,
    household_id uuid NOT NULL,
    cutoff timestamptz NOT NULL,
    part smallint NOT NULL,
    policy_id uuid NOT NULL,
    amount bigint NOT NULL,
    transaction_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- exactly once per household, cutoff and part, whatever number of processes race the due job
    CONSTRAINT pk_expiries PRIMARY KEY (village_id, household_id, cutoff, part),
    CONSTRAINT fk_expiries_village_id_household_id_households
        FOREIGN KEY (village_id, household_id) REFERENCES households (village_id, id),
    CONSTRAINT fk_expiries_village_id_policy_id_expiry_policies
        FOREIGN KEY (village_id, policy_id) REFERENCES expiry_policies (village_id, id),
    CONSTRAINT fk_expiries_village_id_transaction_id_ledger_transactions
        FOREIGN KEY (village_id, transaction_id) REFERENCES ledger_transactions (village_id, id),
    CONSTRAINT uq_expiries_village_id_transaction_id UNIQUE (village_id, transaction_id),
    CONSTRAINT ck_expiries_amount CHECK (amount > 0),
    CONSTRAINT ck_expiries_part CHECK (part > 0)
);
CREATE INDEX ix_expiries_village_id_cutoff ON expiries (village_id, cutoff);

-- The due job's passes: pass 1 clears every household at a cutoff (once: the primary key); later passes
-- look only at households whose held points were released since the previous pass.
CREATE TABLE expiry_runs (
    village_id uuid NOT NULL,
    cutoff timestamptz NOT NULL,
    pass integer NOT NULL,
    policy_id uuid NOT NULL,
    households integer NOT NULL,
    points bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_expiry_runs PRIMARY KEY (village_id, cutoff, pass),
    CONSTRAINT fk_expiry_runs_village_id_policy_id_expiry_policies
        FOREIGN KEY (village_id, policy_id) REFERENCES expiry_policies (village_id, id),
    CONSTRAINT ck_expiry_runs_pass CHECK (pass > 0)
);

-- Credits since a boundary, per village: postings are appended in time order, so a BRIN index on their
-- time is a few pages and costs the hot path next to nothing.
CREATE INDEX ix_postings_created_at_brin ON postings USING brin (created_at);
-- Holds released since the due job's previous pass (their points may have become due).
CREATE INDEX ix_holds_village_id_released ON holds (village_id, ended_at) WHERE status = 'released';

CREATE TRIGGER expiry_policies_append_only BEFORE UPDATE OR DELETE ON expiry_policies
    FOR EACH ROW EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER expiry_policies_no_truncate BEFORE TRUNCATE ON expiry_policies
    FOR EACH STATEMENT EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER expiries_append_only BEFORE UPDATE OR DELETE ON expiries
    FOR EACH ROW EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER expiries_no_truncate BEFORE TRUNCATE ON expiries
    FOR EACH STATEMENT EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER expiry_runs_append_only BEFORE UPDATE OR DELETE ON expiry_runs
    FOR EACH ROW EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER expiry_runs_no_truncate BEFORE TRUNCATE ON expiry_runs
    FOR EACH STATEMENT EXECUTE FUNCTION jifen_refuse_change();
"""
    )
    execute_script(grant_app_privileges_sql(APPEND_ONLY))


def downgrade() -> None:
    execute_script(
        "DROP INDEX ix_postings_created_at_brin, ix_holds_village_id_released;\nDROP TABLE expiry_runs, expiries, expiry_policies;"
    )
