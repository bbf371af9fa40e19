"""Grid inspections: a sheet of rules for one grid on one day, judged by named people, submitted once.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

from jifen.kit.migrate import execute_script, grant_app_privileges_sql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        r"""
CREATE TABLE inspections (
    village_id uuid NOT NULL,
    id uuid NOT NULL,
    grid varchar(32) NOT NULL,
    inspected_on date NOT NULL,
    rule_ids uuid[] NOT NULL,
    judges varchar(64)[] NOT NULL,
    status varchar(10) NOT NULL DEFAULT 'open',
    created_by uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    submitted_by uuid,
    submitted_at timestamptz,
    awards integer,
    CONSTRAINT pk_inspections PRIMARY KEY (village_id, id),
    CONSTRAINT fk_inspections_village_id_villages FOREIGN KEY (village_id) REFERENCES villages (id),
    -- one sheet per grid and day: a second tap opens nothing new
    CONSTRAINT uq_inspections_grid_day UNIQUE (village_id, grid, inspected_on),
    CONSTRAINT ck_inspections_status CHECK (status IN ('open', 'submitted')),
    CONSTRAINT ck_inspections_submitted CHECK ((status = 'submitted') = (submitted_at IS NOT NULL)),
    CONSTRAINT ck_inspections_sheet CHECK (
        cardinality(rule_ids) BETWEEN 1 AND 50 AND cardinality(judges) BETWEEN 1 AND 9)
);
CREATE INDEX ix_inspections_id ON inspections (id);

-- a rule may apply only from / until a local date (a campaign, a season)
ALTER TABLE rule_versions ADD COLUMN active_from date;
ALTER TABLE rule_versions ADD COLUMN active_until date;
ALTER TABLE rule_versions ADD CONSTRAINT ck_rule_versions_active_range
    CHECK (active_from IS NULL OR active_until IS NULL OR active_from <= active_until);

-- households may belong to a class a village ranks apart (e.g. 党员户)
ALTER TABLE households ADD COLUMN class varchar(32);
"""
    )
    execute_script(grant_app_privileges_sql())


def downgrade() -> None:
    execute_script(
        "DROP TABLE inspections; ALTER TABLE households DROP COLUMN class;"
        " ALTER TABLE rule_versions DROP COLUMN active_from, DROP COLUMN active_until;"
    )
