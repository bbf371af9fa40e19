"""Abuse limits: idempotent answers keyed on the caller, and an atomic login throttle.

`idempotency_keys` gains `caller_id`, and its primary key becomes (village_id, caller_id, key): an answer is
only ever replayed to the user who got it, so another user sending the same key and body runs their own
request instead of reading the first caller's answer (a pickup code). Answers stored before this revision
get the nil caller, which no user has: a retry of one of them runs as a new request.

`login_throttle` keeps one row per (user name, client address) and one per client address (across names).
Every login attempt claims its row with one INSERT … ON CONFLICT DO UPDATE … RETURNING that both counts the
attempt and decides whether it may proceed, so parallel guesses cannot all pass a check made before any of
them was recorded. Rows are scratch state, not history: a successful login deletes its name's row, and rows
quiet for a day are deleted.

Revision ID: 0015
Revises: 0011
Create Date: 2026-12-01
"""

from jifen.kit.migrate import APP_ROLE, execute_script

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        f"""
ALTER TABLE idempotency_keys
    ADD COLUMN caller_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000';
ALTER TABLE idempotency_keys ALTER COLUMN caller_id DROP DEFAULT;
ALTER TABLE idempotency_keys DROP CONSTRAINT pk_idempotency_keys;
ALTER TABLE idempotency_keys ADD CONSTRAINT pk_idempotency_keys PRIMARY KEY (village_id, caller_id, key);

CREATE TABLE login_throttle (
    -- 'n': one user name from one address; 'a': one address across every name (name_key is '')
    kind char(1) NOT NULL,
    name_key varchar(64) NOT NULL,
    client_addr varchar(64) NOT NULL,  -- '' when the address is unknown
    failures integer NOT NULL DEFAULT 0,
    blocked_until timestamptz,
    refused boolean NOT NULL DEFAULT false,  -- what the last claim decided
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_login_throttle PRIMARY KEY (kind, name_key, client_addr),
    CONSTRAINT ck_login_throttle_kind CHECK (kind IN ('n', 'a')),
    CONSTRAINT ck_login_throttle_failures CHECK (failures >= 0)
);
CREATE INDEX ix_login_throttle_updated_at ON login_throttle (updated_at);

-- only this table: re-running the general grant here could hand back privileges a later revision revoked
DO $grant$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
    GRANT SELECT, INSERT, UPDATE, DELETE ON login_throttle TO {APP_ROLE};
  END IF;
END
$grant$;
"""
    )


def downgrade() -> None:
    execute_script(
        """
DROP TABLE login_throttle;
DELETE FROM idempotency_keys
 WHERE (village_id, key) IN (SELECT village_id, key FROM idempotency_keys GROUP BY 1, 2 HAVING count(*) > 1);
ALTER TABLE idempotency_keys DROP CONSTRAINT pk_idempotency_keys;
ALTER TABLE idempotency_keys DROP COLUMN caller_id;
ALTER TABLE idempotency_keys ADD CONSTRAINT pk_idempotency_keys PRIMARY KEY (village_id, key);
"""
    )
