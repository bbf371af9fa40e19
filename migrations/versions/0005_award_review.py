"""The award workflow, first part: review decisions (single and double review), caps counted per local
period.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from jifen.kit.migrate import execute_script, grant_app_privileges_sql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        r"""
-- Every decision on an award, by whom and why; never changed. One approval per person per award: a double
-- review needs two different approvers, and the database says so too.
CREATE TABLE award_decisions (
    village_id uuid NOT NULL,
    id uuid NOT NULL,
    award_id uuid NOT NULL,
    decision varchar(8) NOT NULL,
    actor_id uuid NOT NULL,
    reason varchar(500),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_award_decisions PRIMARY KEY (village_id, id),
    CONSTRAINT fk_award_decisions_award FOREIGN KEY (village_id, award_id) REFERENCES awards (village_id, id),
    CONSTRAINT ck_award_decisions_decision CHECK (decision IN ('approve', 'reject')),
    CONSTRAINT ck_award_decisions_reject_reason CHECK (decision <> 'reject' OR reason IS NOT NULL)
);
CREATE UNIQUE INDEX uq_award_decisions_one_approval_each ON award_decisions (village_id, award_id, actor_id)
    WHERE decision = 'approve';
CREATE TRIGGER award_decisions_append_only BEFORE UPDATE OR DELETE ON award_decisions
    FOR EACH ROW EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER award_decisions_no_truncate BEFORE TRUNCATE ON award_decisions
    FOR EACH STATEMENT EXECUTE FUNCTION jifen_refuse_change();

-- rectification (整改): the share (percent) of a deduction that comes back once the problem is fixed
ALTER TABLE rule_versions ADD COLUMN rectification_share integer;
ALTER TABLE rule_versions ADD CONSTRAINT ck_rule_versions_rectification_share
    CHECK (rectification_share IS NULL OR (points < 0 AND rectification_share BETWEEN 1 AND 100));
-- escalation for repeat deductions in a period: the n-th deduction takes escalation[n] points (the last
-- one for every later repeat), e.g. {8,15,20}; counted per household over the rule's cap period (or month)
ALTER TABLE rule_versions ADD COLUMN escalation integer[];
ALTER TABLE rule_versions ADD CONSTRAINT ck_rule_versions_escalation CHECK (
    escalation IS NULL OR (points < 0 AND cardinality(escalation) BETWEEN 1 AND 10
                           AND 0 < ALL (escalation) AND 100000 >= ALL (escalation)));

-- one rectification per deduction
CREATE UNIQUE INDEX uq_ledger_transactions_rectification ON ledger_transactions (village_id, source_id)
    WHERE kind = 'rectification';

-- caps: what a household has under a rule since the start of a period
CREATE INDEX ix_awards_cap ON awards (village_id, household_id, rule_id, created_at);
-- the review queue
CREATE INDEX ix_awards_village_id_status ON awards (village_id, status, created_at);
"""
    )
    execute_script(grant_app_privileges_sql())


def downgrade() -> None:
    execute_script(
        "DROP TABLE award_decisions; DROP INDEX ix_awards_cap; DROP INDEX ix_awards_village_id_status;"
    )
