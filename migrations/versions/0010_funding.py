"""Funding and settlement of the points supermarket: the village's peg of a point to money (a history), the
funds it receives (and their voiding records), and what it paid each store per period.

Money is integer fen. Every table here is a record: nothing is updated or deleted. A peg applies from its
`effective_from` on and is never back-dated, so a sale keeps the value it had when it happened; a fund
recorded by mistake is voided by a row of `village_fund_voids` (once: its primary key); a store is paid
once for any stretch of time (an exact repeat is refused by a unique constraint, an overlap by a trigger
that queues settlements of one store behind its row).

Revision ID: 0010
Revises: 0008 (the lead re-chains this behind 0009 when merging)
Create Date: 2026-11-24
"""

from jifen.kit.migrate import execute_script, grant_app_privileges_sql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        r"""
CREATE TABLE village_pegs (
    village_id uuid NOT NULL,
    id bigint GENERATED ALWAYS AS IDENTITY,
    effective_from timestamptz NOT NULL,
    fen_per_point integer NOT NULL,
    reason varchar(500) NOT NULL,
    actor_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_village_pegs PRIMARY KEY (village_id, id),
    CONSTRAINT fk_village_pegs_village_id_villages FOREIGN KEY (village_id) REFERENCES villages (id),
    CONSTRAINT ck_village_pegs_fen_per_point CHECK (fen_per_point BETWEEN 1 AND 1000000),
    -- never back-dated (a few minutes of slack between the app's and the database's clocks): a sale that
    -- already happened keeps the peg it happened under
    CONSTRAINT ck_village_pegs_not_backdated CHECK (effective_from >= created_at - interval '5 minutes')
);
CREATE INDEX ix_village_pegs_effective ON village_pegs (village_id, effective_from DESC, id DESC);

-- the peg in force at a moment: the latest effective_from not after it (the later record on a tie);
-- 100 fen (1 point = ¥1) before the village set any
CREATE FUNCTION jifen_peg_at(p_village_id uuid, p_at timestamptz) RETURNS integer
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(
        (SELECT fen_per_point FROM village_pegs
          WHERE village_id = p_village_id AND effective_from <= p_at
          ORDER BY effective_from DESC, id DESC
          LIMIT 1),
        100)
$$;

CREATE TABLE village_funds (
    village_id uuid NOT NULL,
    id uuid NOT NULL,
    source varchar(12) NOT NULL,
    source_name varchar(64) NOT NULL,
    amount_fen bigint NOT NULL,
    received_on date NOT NULL,
    note varchar(500),
    actor_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_village_funds PRIMARY KEY (village_id, id),
    CONSTRAINT fk_village_funds_village_id_villages FOREIGN KEY (village_id) REFERENCES villages (id),
    CONSTRAINT ck_village_funds_source CHECK (source IN ('collective', 'donor', 'town', 'other')),
    CONSTRAINT ck_village_funds_amount_fen CHECK (amount_fen > 0 AND amount_fen <= 100000000000)
);
CREATE INDEX ix_village_funds_id ON village_funds (id);
CREATE INDEX ix_village_funds_received ON village_funds (village_id, received_on DESC, id DESC);

CREATE TABLE village_fund_voids (
    village_id uuid NOT NULL,
    fund_id uuid NOT NULL,
    reason varchar(500) NOT NULL,
    actor_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- a fund is voided at most once
    CONSTRAINT pk_village_fund_voids PRIMARY KEY (village_id, fund_id),
    CONSTRAINT fk_village_fund_voids_village_id_fund_id_village_funds
        FOREIGN KEY (village_id, fund_id) REFERENCES village_funds (village_id, id)
);

CREATE TABLE store_settlements (
    village_id uuid NOT NULL,
    id uuid NOT NULL,
    store_id uuid NOT NULL,
    period varchar(32) NOT NULL,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    report_points bigint NOT NULL,
    report_fen bigint NOT NULL,
    amount_fen bigint NOT NULL,
    note varchar(500) NOT NULL,
    actor_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_store_settlements PRIMARY KEY (village_id, id),
    CONSTRAINT fk_store_settlements_village_id_store_id_stores
        FOREIGN KEY (village_id, store_id) REFERENCES stores (village_id, id),
    CONSTRAINT uq_store_settlements_period UNIQUE (village_id, store_id, starts_at, ends_at),
    CONSTRAINT ck_store_settlements_range CHECK (starts_at < ends_at),
    CONSTRAINT ck_store_settlements_amount_fen CHECK (abs(amount_fen) <= 100000000000)
);
CREATE INDEX ix_store_settlements_id ON store_settlements (id);

-- A stretch of time is paid for once per store: inserts queue behind the store's row, then look for an
-- overlapping settlement (each statement of a volatile function sees what committed while it waited).
CREATE FUNCTION jifen_settlement_no_overlap() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM stores WHERE village_id = NEW.village_id AND id = NEW.store_id FOR NO KEY UPDATE;
    IF EXISTS (SELECT 1 FROM store_settlements s
                WHERE s.village_id = NEW.village_id AND s.store_id = NEW.store_id
                  AND s.starts_at < NEW.ends_at AND NEW.starts_at < s.ends_at) THEN
        RAISE EXCEPTION 'store % is already settled for part of %', NEW.store_id, NEW.period
            USING ERRCODE = 'exclusion_violation', CONSTRAINT = 'ex_store_settlements_overlap';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER store_settlements_no_overlap BEFORE INSERT ON store_settlements
    FOR EACH ROW EXECUTE FUNCTION jifen_settlement_no_overlap();

-- cancellations are counted in the period they happen
CREATE INDEX ix_redemptions_cancelled ON redemptions (village_id, store_id, cancelled_at)
    WHERE status = 'cancelled';

CREATE TRIGGER village_pegs_append_only BEFORE UPDATE OR DELETE ON village_pegs
    FOR EACH ROW EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER village_pegs_no_truncate BEFORE TRUNCATE ON village_pegs
    FOR EACH STATEMENT EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER village_funds_append_only BEFORE UPDATE OR DELETE ON village_funds
    FOR EACH ROW EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER village_funds_no_truncate BEFORE TRUNCATE ON village_funds
    FOR EACH STATEMENT EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER village_fund_voids_append_only BEFORE UPDATE OR DELETE ON village_fund_voids
    FOR EACH ROW EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER village_fund_voids_no_truncate BEFORE TRUNCATE ON village_fund_voids
    FOR EACH STATEMENT EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER store_settlements_append_only BEFORE UPDATE OR DELETE ON store_settlements
    FOR EACH ROW EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER store_settlements_no_truncate BEFORE TRUNCATE ON store_settlements
    FOR EACH STATEMENT EXECUTE FUNCTION jifen_refuse_change();
"""
    )
    execute_script(grant_app_privileges_sql())


def downgrade() -> None:
    execute_script(
        """
DROP INDEX ix_redemptions_cancelled;
DROP TABLE store_settlements, village_fund_voids, village_funds, village_pegs;
DROP FUNCTION jifen_settlement_no_overlap;
DROP FUNCTION jifen_peg_at;
"""
    )
