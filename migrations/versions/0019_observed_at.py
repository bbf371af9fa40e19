"""Offline field scoring: an award may carry the moment the deed was seen (`observed_at`), when a cadre
scored it on a phone without signal and the phone sent it later. `created_at` stays the moment the server
received it; caps and escalation count by the observed moment.

The check keeps an observed moment from lying in the future of its receipt (a phone's clock a little fast is
allowed for, no more), so a cap's count can look for the awards of a period from the period's start less
that skew by `created_at` (the cap index) and still find every award observed in it.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01
"""

from jifen.kit.migrate import execute_script

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        r"""
ALTER TABLE awards
    ADD COLUMN observed_at timestamptz,
    ADD CONSTRAINT ck_awards_observed_before_received
        CHECK (observed_at <= created_at + interval '10 minutes');
"""
    )


def downgrade() -> None:
    execute_script(
        "ALTER TABLE awards DROP CONSTRAINT ck_awards_observed_before_received, DROP COLUMN observed_at;"
    )
