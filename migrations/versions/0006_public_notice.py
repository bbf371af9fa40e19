"""Public notice (公示): a village's notice period, awards waiting out their notice, objections (异议).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from jifen.kit.migrate import execute_script, grant_app_privileges_sql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        r"""
ALTER TABLE villages ADD COLUMN notice_days integer NOT NULL DEFAULT 0;
ALTER TABLE villages ADD CONSTRAINT ck_villages_notice_days CHECK (notice_days BETWEEN 0 AND 30);

-- an award on public notice: until when, and (for a deduction) the hold that keeps its points aside
ALTER TABLE awards ADD COLUMN notice_until timestamptz;
ALTER TABLE awards ADD COLUMN hold_id uuid;
ALTER TABLE awards ADD CONSTRAINT ck_awards_notice CHECK ((status = 'public_notice') <= (notice_until IS NOT NULL));
CREATE INDEX ix_awards_due ON awards (notice_until) WHERE status = 'public_notice';

CREATE TABLE objections (
    village_id uuid NOT NULL,
    id uuid NOT NULL,
    award_id uuid NOT NULL,
    raised_by uuid NOT NULL,
    reason varchar(500) NOT NULL,
    status varchar(10) NOT NULL DEFAULT 'open',
    outcome varchar(10),
    resolved_by uuid,
    resolution varchar(500),
    resolved_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_objections PRIMARY KEY (village_id, id),
    CONSTRAINT fk_objections_award FOREIGN KEY (village_id, award_id) REFERENCES awards (village_id, id),
    CONSTRAINT ck_objections_status CHECK (status IN ('open', 'resolved')),
    CONSTRAINT ck_objections_outcome CHECK (
        (status = 'open' AND outcome IS NULL AND resolved_at IS NULL)
        OR (status = 'resolved' AND outcome IN ('upheld', 'revised', 'revoked') AND resolved_at IS NOT NULL))
);
CREATE INDEX ix_objections_award ON objections (village_id, award_id) WHERE status = 'open';
CREATE INDEX ix_objections_id ON objections (id);
"""
    )
    execute_script(grant_app_privileges_sql())


def downgrade() -> None:
    execute_script(
        """
DROP TABLE objections;
ALTER TABLE awards DROP COLUMN hold_id, DROP COLUMN notice_until;
ALTER TABLE villages DROP COLUMN notice_days;
"""
    )
