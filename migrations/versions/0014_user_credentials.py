"""User credentials: a version every token and session cookie carries, a forced password change, and why a
user was disabled.

`credential_version` goes up when a user signs out, changes or is given a new password, or is disabled; a
token or cookie naming an older version is refused, so one change ends every session the user has anywhere.
`must_change_password` is set by an administrator's reset: until the user picks their own password, the API
answers only their own account's calls. Only columns are added, so the service role's existing privileges on
`users` cover them.

Revision ID: 0014
Revises: 0011
Create Date: 2026-12-01
"""

from jifen.kit.migrate import execute_script

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        r"""
ALTER TABLE users
    ADD COLUMN credential_version integer NOT NULL DEFAULT 1,
    ADD COLUMN must_change_password boolean NOT NULL DEFAULT false,
    ADD COLUMN disabled_at timestamptz,
    ADD COLUMN disabled_reason varchar(500),
    ADD CONSTRAINT ck_users_credential_version CHECK (credential_version >= 1);
"""
    )


def downgrade() -> None:
    execute_script(
        """
ALTER TABLE users
    DROP CONSTRAINT ck_users_credential_version,
    DROP COLUMN disabled_reason,
    DROP COLUMN disabled_at,
    DROP COLUMN must_change_password,
    DROP COLUMN credential_version;
"""
    )
