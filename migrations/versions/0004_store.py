"""The points supermarket: items with their stock, stock movements (append-only), counter redemptions and
their lines, and how long after a sale a clerk may cancel it.

Stock is kept twice, and both move in one transaction: `items.on_hand` (CHECK on_hand >= 0: overselling is
impossible whatever the concurrency) and the append-only `stock_movements`, each with the stock after it, so
the shelf's history can always be read back and checked against the row.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from jifen.kit.migrate import execute_script, grant_app_privileges_sql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

APPEND_ONLY = (
    "ledger_transactions",
    "postings",
    "rule_versions",
    "audit_events",
    "chain_links",
    "checkpoints",
    "stock_movements",
    "redemption_lines",
)


def upgrade() -> None:
    execute_script(
        r"""
-- how long after a sale the store's clerk may still cancel it (a village admin may later)
ALTER TABLE villages ADD COLUMN cancel_window_minutes integer NOT NULL DEFAULT 1440
    CONSTRAINT ck_villages_cancel_window_minutes CHECK (cancel_window_minutes BETWEEN 0 AND 525600);

CREATE TABLE items (
    village_id uuid NOT NULL,
    id uuid NOT NULL,
    store_id uuid NOT NULL,
    name varchar(64) NOT NULL,
    unit varchar(16),
    category varchar(32),
    price_points integer NOT NULL,
    on_hand integer NOT NULL DEFAULT 0,
    limit_count integer,
    limit_period varchar(8),
    active boolean NOT NULL DEFAULT true,
    picture_url varchar(500),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_items PRIMARY KEY (village_id, id),
    CONSTRAINT fk_items_village_id_store_id_stores
        FOREIGN KEY (village_id, store_id) REFERENCES stores (village_id, id),
    CONSTRAINT ck_items_price_points CHECK (price_points > 0 AND price_points <= 1000000),
    -- the shelf is never below empty: the last line against overselling
    CONSTRAINT ck_items_on_hand CHECK (on_hand >= 0),
    CONSTRAINT ck_items_limit CHECK (
        (limit_count IS NULL) = (limit_period IS NULL) AND (limit_count IS NULL OR limit_count > 0)),
    CONSTRAINT ck_items_limit_period CHECK (limit_period IN ('day', 'week', 'month', 'quarter', 'year'))
) WITH (fillfactor = 80);
CREATE INDEX ix_items_id ON items (id);
CREATE INDEX ix_items_village_id_store_id ON items (village_id, store_id, name, id);

CREATE SEQUENCE redemption_receipt_seq AS bigint;

CREATE TABLE redemptions (
    village_id uuid NOT NULL,
    id uuid NOT NULL,
    receipt_no bigint NOT NULL DEFAULT nextval('redemption_receipt_seq'),
    store_id uuid NOT NULL,
    household_id uuid NOT NULL,
    status varchar(10) NOT NULL DEFAULT 'completed',
    total_points bigint NOT NULL,
    transaction_id uuid NOT NULL,
    clerk_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    cancel_transaction_id uuid,
    cancelled_at timestamptz,
    cancelled_by uuid,
    cancel_reason varchar(500),
    CONSTRAINT pk_redemptions PRIMARY KEY (village_id, id),
    CONSTRAINT uq_redemptions_receipt_no UNIQUE (receipt_no),
    CONSTRAINT fk_redemptions_village_id_store_id_stores
        FOREIGN KEY (village_id, store_id) REFERENCES stores (village_id, id),
    CONSTRAINT fk_redemptions_village_id_household_id_households
        FOREIGN KEY (village_id, household_id) REFERENCES households (village_id, id),
    CONSTRAINT fk_redemptions_village_id_transaction_id_ledger_transactions
        FOREIGN KEY (village_id, transaction_id) REFERENCES ledger_transactions (village_id, id),
    CONSTRAINT fk_redemptions_village_id_cancel_transaction_id_ledger_transactions
        FOREIGN KEY (village_id, cancel_transaction_id) REFERENCES ledger_transactions (village_id, id),
    CONSTRAINT ck_redemptions_total_points CHECK (total_points > 0),
    CONSTRAINT ck_redemptions_status CHECK (status IN ('completed', 'cancelled')),
    CONSTRAINT ck_redemptions_cancelled CHECK (
        (status = 'cancelled') = (cancel_transaction_id IS NOT NULL)
        AND (status = 'cancelled') = (cancelled_at IS NOT NULL)
        AND (status = 'cancelled') = (cancel_reason IS NOT NULL))
);
CREATE INDEX ix_redemptions_id ON redemptions (id);
CREATE INDEX ix_redemptions_store ON redemptions (village_id, store_id, created_at, id);
CREATE INDEX ix_redemptions_household ON redemptions (village_id, household_id, created_at)
    WHERE status = 'completed';

CREATE TABLE redemption_lines (
    village_id uuid NOT NULL,
    redemption_id uuid NOT NULL,
    item_id uuid NOT NULL,
    quantity integer NOT NULL,
    price_points integer NOT NULL,
    line_points bigint NOT NULL,
    CONSTRAINT pk_redemption_lines PRIMARY KEY (village_id, redemption_id, item_id),
    CONSTRAINT fk_redemption_lines_village_id_redemption_id_redemptions
        FOREIGN KEY (village_id, redemption_id) REFERENCES redemptions (village_id, id),
    CONSTRAINT fk_redemption_lines_village_id_item_id_items
        FOREIGN KEY (village_id, item_id) REFERENCES items (village_id, id),
    CONSTRAINT ck_redemption_lines_quantity CHECK (quantity > 0),
    CONSTRAINT ck_redemption_lines_line_points CHECK (line_points = quantity * price_points)
);
CREATE INDEX ix_redemption_lines_item ON redemption_lines (village_id, item_id);

CREATE TABLE stock_movements (
    village_id uuid NOT NULL,
    id bigint GENERATED ALWAYS AS IDENTITY,
    item_id uuid NOT NULL,
    kind varchar(12) NOT NULL,
    quantity integer NOT NULL,
    on_hand_after integer NOT NULL,
    reason varchar(500),
    actor_id uuid NOT NULL,
    redemption_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_stock_movements PRIMARY KEY (village_id, id),
    CONSTRAINT fk_stock_movements_village_id_item_id_items
        FOREIGN KEY (village_id, item_id) REFERENCES items (village_id, id),
    CONSTRAINT fk_stock_movements_village_id_redemption_id_redemptions
        FOREIGN KEY (village_id, redemption_id) REFERENCES redemptions (village_id, id),
    CONSTRAINT ck_stock_movements_kind CHECK (kind IN ('restock', 'sale', 'cancel', 'correction')),
    CONSTRAINT ck_stock_movements_quantity CHECK (
        quantity <> 0
        AND (kind <> 'restock' OR quantity > 0)
        AND (kind <> 'sale' OR quantity < 0)
        AND (kind <> 'cancel' OR quantity > 0)),
    CONSTRAINT ck_stock_movements_on_hand_after CHECK (on_hand_after >= 0),
    CONSTRAINT ck_stock_movements_redemption CHECK ((kind IN ('sale', 'cancel')) = (redemption_id IS NOT NULL)),
    CONSTRAINT ck_stock_movements_correction_reason CHECK (kind <> 'correction' OR reason IS NOT NULL)
);
CREATE INDEX ix_stock_movements_item ON stock_movements (village_id, item_id, id);
-- a sale's stock comes back at most once per item
CREATE UNIQUE INDEX uq_stock_movements_cancel ON stock_movements (village_id, redemption_id, item_id)
    WHERE kind = 'cancel';

-- A redemption changes once: completed -> cancelled, filling in only the cancellation's columns.
CREATE FUNCTION jifen_redemption_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'redemptions are never deleted' USING ERRCODE = 'JF002';
    END IF;
    IF OLD.status <> 'completed' OR NEW.status <> 'cancelled'
       OR (NEW.village_id, NEW.id, NEW.receipt_no, NEW.store_id, NEW.household_id, NEW.total_points,
           NEW.transaction_id, NEW.clerk_id, NEW.created_at)
          IS DISTINCT FROM
          (OLD.village_id, OLD.id, OLD.receipt_no, OLD.store_id, OLD.household_id, OLD.total_points,
           OLD.transaction_id, OLD.clerk_id, OLD.created_at) THEN
        RAISE EXCEPTION 'a redemption may only be cancelled, once' USING ERRCODE = 'JF002';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER redemptions_transition BEFORE UPDATE OR DELETE ON redemptions
    FOR EACH ROW EXECUTE FUNCTION jifen_redemption_transition();
CREATE TRIGGER redemptions_no_truncate BEFORE TRUNCATE ON redemptions
    FOR EACH STATEMENT EXECUTE FUNCTION jifen_refuse_change();

CREATE TRIGGER stock_movements_append_only BEFORE UPDATE OR DELETE ON stock_movements
    FOR EACH ROW EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER stock_movements_no_truncate BEFORE TRUNCATE ON stock_movements
    FOR EACH STATEMENT EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER redemption_lines_append_only BEFORE UPDATE OR DELETE ON redemption_lines
    FOR EACH ROW EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER redemption_lines_no_truncate BEFORE TRUNCATE ON redemption_lines
    FOR EACH STATEMENT EXECUTE FUNCTION jifen_refuse_change();
-- an item is retired (active = false), never deleted: sales and movements name it
CREATE TRIGGER items_never_deleted BEFORE DELETE ON items
    FOR EACH ROW EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER items_no_truncate BEFORE TRUNCATE ON items
    FOR EACH STATEMENT EXECUTE FUNCTION jifen_refuse_change();
"""
    )
    execute_script(grant_app_privileges_sql(APPEND_ONLY))


def downgrade() -> None:
    execute_script(
        """
DROP TABLE stock_movements, redemption_lines, redemptions, items;
DROP FUNCTION jifen_redemption_transition;
DROP SEQUENCE redemption_receipt_seq;
ALTER TABLE villages DROP COLUMN cancel_window_minutes;
"""
    )
