"""Foundation: villages, users and scoped roles, stores, households and members.

Every tenant table carries village_id, and every unique key and foreign key between tenant tables
includes it, so the schema can later be distributed by village.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from alembic import op

from jifen.kit.migrate import execute_script, grant_app_privileges_sql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
CREATE TABLE villages (
    id uuid NOT NULL,
    code varchar(32) NOT NULL,
    name varchar(64) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_villages PRIMARY KEY (id),
    CONSTRAINT uq_villages_code UNIQUE (code)
);

CREATE TABLE users (
    id uuid NOT NULL,
    username varchar(64) NOT NULL,
    password_hash varchar(255) NOT NULL,
    display_name varchar(64) NOT NULL,
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_users PRIMARY KEY (id)
);
-- user names are unique whatever their case
CREATE UNIQUE INDEX uq_users_username_lower ON users (lower(username));

CREATE TABLE stores (
    village_id uuid NOT NULL,
    id uuid NOT NULL,
    name varchar(64) NOT NULL,
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_stores PRIMARY KEY (village_id, id),
    CONSTRAINT fk_stores_village_id_villages FOREIGN KEY (village_id) REFERENCES villages (id)
);
CREATE INDEX ix_stores_id ON stores (id);

CREATE TABLE households (
    village_id uuid NOT NULL,
    id uuid NOT NULL,
    code varchar(32) NOT NULL,
    head_name varchar(64) NOT NULL,
    grid varchar(32),
    address varchar(200),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_households PRIMARY KEY (village_id, id),
    CONSTRAINT uq_households_village_id_code UNIQUE (village_id, code),
    CONSTRAINT fk_households_village_id_villages FOREIGN KEY (village_id) REFERENCES villages (id)
);
CREATE INDEX ix_households_id ON households (id);
CREATE INDEX ix_households_village_id_grid ON households (village_id, grid);
CREATE INDEX ix_households_village_id_head_name ON households (village_id, head_name);

CREATE TABLE members (
    village_id uuid NOT NULL,
    id uuid NOT NULL,
    household_id uuid NOT NULL,
    name varchar(64) NOT NULL,
    phone varchar(20),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_members PRIMARY KEY (village_id, id),
    CONSTRAINT fk_members_village_id_household_id_households
        FOREIGN KEY (village_id, household_id) REFERENCES households (village_id, id)
);
CREATE INDEX ix_members_village_id_household_id ON members (village_id, household_id);

CREATE TABLE user_roles (
    id uuid NOT NULL,
    user_id uuid NOT NULL,
    role varchar(16) NOT NULL,
    village_id uuid,
    store_id uuid,
    household_id uuid,
    grid varchar(32),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_user_roles PRIMARY KEY (id),
    CONSTRAINT fk_user_roles_user_id_users FOREIGN KEY (user_id) REFERENCES users (id),
    CONSTRAINT fk_user_roles_village_id_villages FOREIGN KEY (village_id) REFERENCES villages (id),
    CONSTRAINT fk_user_roles_village_id_store_id_stores
        FOREIGN KEY (village_id, store_id) REFERENCES stores (village_id, id),
    CONSTRAINT fk_user_roles_village_id_household_id_households
        FOREIGN KEY (village_id, household_id) REFERENCES households (village_id, id),
    CONSTRAINT ck_user_roles_role CHECK (
        role IN ('town_admin', 'village_admin', 'cadre', 'reviewer', 'clerk', 'villager')),
    -- the scope each role needs, and nothing it must not have
    CONSTRAINT ck_user_roles_scope CHECK (
        CASE role
          WHEN 'town_admin' THEN village_id IS NULL AND store_id IS NULL AND household_id IS NULL
                                 AND grid IS NULL
          WHEN 'clerk' THEN village_id IS NOT NULL AND store_id IS NOT NULL AND household_id IS NULL
          WHEN 'villager' THEN village_id IS NOT NULL AND household_id IS NOT NULL AND store_id IS NULL
          WHEN 'cadre' THEN village_id IS NOT NULL AND store_id IS NULL AND household_id IS NULL
          ELSE village_id IS NOT NULL AND store_id IS NULL AND household_id IS NULL AND grid IS NULL
        END),
    CONSTRAINT uq_user_roles_grant UNIQUE NULLS NOT DISTINCT
        (user_id, role, village_id, store_id, household_id, grid)
);
CREATE INDEX ix_user_roles_user_id ON user_roles (user_id);
CREATE INDEX ix_user_roles_village_id ON user_roles (village_id);
"""
    )
    execute_script(grant_app_privileges_sql())


def downgrade() -> None:
    op.execute("DROP TABLE user_roles, members, households, stores, users, villages")
