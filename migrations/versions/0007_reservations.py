"""Pickup codes (预约兑换): a villager reserves goods on the phone; the points are held (a ledger hold) and the
goods set aside (`items.reserved`) until the store's clerk redeems the code (核销), somebody cancels it, or it
expires and the due job releases both.

`items.reserved` never exceeds `items.on_hand` (CHECK): what is reserved is on the shelf, so a counter sale
can only take `on_hand - reserved`, and nothing can oversell under any concurrency. A reservation's lines are
append-only; the reservation itself changes once, from active to redeemed, cancelled or expired.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from jifen.kit.migrate import execute_script, grant_app_privileges_sql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

APPEND_ONLY = ("reservation_lines",)


def upgrade() -> None:
    execute_script(
        r"""
ALTER TABLE villages ADD COLUMN reservation_days integer NOT NULL DEFAULT 7
    CONSTRAINT ck_villages_reservation_days CHECK (reservation_days BETWEEN 1 AND 90);

ALTER TABLE items ADD COLUMN reserved integer NOT NULL DEFAULT 0;
-- reserved goods are on the shelf: the available stock (on_hand - reserved) is never below zero
ALTER TABLE items ADD CONSTRAINT ck_items_reserved CHECK (reserved >= 0 AND reserved <= on_hand);

CREATE TABLE reservations (
    village_id uuid NOT NULL,
    id uuid NOT NULL,
    code varchar(6) NOT NULL,
    store_id uuid NOT NULL,
    household_id uuid NOT NULL,
    status varchar(10) NOT NULL DEFAULT 'active',
    total_points bigint NOT NULL,
    hold_id uuid NOT NULL,
    expires_at timestamptz NOT NULL,
    created_by uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    ended_at timestamptz,
    ended_by uuid,
    end_reason varchar(500),
    redemption_id uuid,
    CONSTRAINT pk_reservations PRIMARY KEY (village_id, id),
    CONSTRAINT fk_reservations_village_id_store_id_stores
        FOREIGN KEY (village_id, store_id) REFERENCES stores (village_id, id),
    CONSTRAINT fk_reservations_village_id_household_id_households
        FOREIGN KEY (village_id, household_id) REFERENCES households (village_id, id),
    CONSTRAINT fk_reservations_village_id_hold_id_holds
        FOREIGN KEY (village_id, hold_id) REFERENCES holds (village_id, id),
    CONSTRAINT fk_reservations_village_id_redemption_id_redemptions
        FOREIGN KEY (village_id, redemption_id) REFERENCES redemptions (village_id, id),
    CONSTRAINT ck_reservations_code CHECK (code ~ '^[0-9]{6}$'),
    CONSTRAINT ck_reservations_total_points CHECK (total_points > 0),
    CONSTRAINT ck_reservations_status CHECK (status IN ('active', 'redeemed', 'cancelled', 'expired')),
    CONSTRAINT ck_reservations_ended CHECK (
        (status = 'active') = (ended_at IS NULL)
        AND (status = 'redeemed') = (redemption_id IS NOT NULL)),
    CONSTRAINT ck_reservations_expires CHECK (expires_at > created_at)
);
CREATE INDEX ix_reservations_id ON reservations (id);
-- a code names one active reservation in its village
CREATE UNIQUE INDEX uq_reservations_active_code ON reservations (village_id, code) WHERE status = 'active';
CREATE INDEX ix_reservations_code ON reservations (village_id, code, created_at);
CREATE INDEX ix_reservations_due ON reservations (expires_at) WHERE status = 'active';
CREATE INDEX ix_reservations_household ON reservations (village_id, household_id, created_at);

CREATE TABLE reservation_lines (
    village_id uuid NOT NULL,
    reservation_id uuid NOT NULL,
    item_id uuid NOT NULL,
    quantity integer NOT NULL,
    price_points integer NOT NULL,
    line_points bigint NOT NULL,
    CONSTRAINT pk_reservation_lines PRIMARY KEY (village_id, reservation_id, item_id),
    CONSTRAINT fk_reservation_lines_village_id_reservation_id_reservations
        FOREIGN KEY (village_id, reservation_id) REFERENCES reservations (village_id, id),
    CONSTRAINT fk_reservation_lines_village_id_item_id_items
        FOREIGN KEY (village_id, item_id) REFERENCES items (village_id, id),
    CONSTRAINT ck_reservation_lines_quantity CHECK (quantity > 0),
    CONSTRAINT ck_reservation_lines_line_points CHECK (line_points = quantity * price_points)
);

-- A reservation changes once: active -> redeemed | cancelled | expired, filling in only how it ended.
CREATE FUNCTION jifen_reservation_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'reservations are never deleted' USING ERRCODE = 'JF002';
    END IF;
    IF OLD.status <> 'active' OR NEW.status = 'active'
       OR (NEW.village_id, NEW.id, NEW.code, NEW.store_id, NEW.household_id, NEW.total_points, NEW.hold_id,
           NEW.expires_at, NEW.created_by, NEW.created_at)
          IS DISTINCT FROM
          (OLD.village_id, OLD.id, OLD.code, OLD.store_id, OLD.household_id, OLD.total_points, OLD.hold_id,
           OLD.expires_at, OLD.created_by, OLD.created_at) THEN
        RAISE EXCEPTION 'a reservation may only end, once' USING ERRCODE = 'JF002';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER reservations_transition BEFORE UPDATE OR DELETE ON reservations
    FOR EACH ROW EXECUTE FUNCTION jifen_reservation_transition();
CREATE TRIGGER reservations_no_truncate BEFORE TRUNCATE ON reservations
    FOR EACH STATEMENT EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER reservation_lines_append_only BEFORE UPDATE OR DELETE ON reservation_lines
    FOR EACH ROW EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER reservation_lines_no_truncate BEFORE TRUNCATE ON reservation_lines
    FOR EACH STATEMENT EXECUTE FUNCTION jifen_refuse_change();
"""
    )
    execute_script(grant_app_privileges_sql(APPEND_ONLY))


def downgrade() -> None:
    execute_script(
        """
DROP TABLE reservation_lines, reservations;
DROP FUNCTION jifen_reservation_transition;
ALTER TABLE items DROP COLUMN reserved;
ALTER TABLE villages DROP COLUMN reservation_days;
"""
    )
