"""Rankings read rolled-up points: each household's points per local month, year and all time.

- `household_period_points`: what counts in a ranking (awards and deductions, their reversals,
  rectifications, and adjustments of posted awards: rankings/repository.py) summed per household account and
  local month ('YYYY-MM'), year ('YYYY') and all time ('*'), rolled up by the chainer's background pass in
  the same transaction that rolls up the town figures and moves the village's mark (`village_rollup_marks`,
  migration 0017). A ranking reads these rows plus only the household postings after the mark, so it stays
  exact whenever it is asked and its cost follows the village's households, not its history. Beside the
  points, what the household earned (the lifetime-earned rule, audit/balances.py): the incremental audit
  verification checks a touched account's lifetime_earned against the all-time row plus what came after
  the mark, not against all its postings. Derived data: filled here from the postings up to each village's
  existing mark.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-02
"""

from jifen.kit.migrate import APP_ROLE, execute_script

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        f"""
CREATE TABLE household_period_points (
    village_id uuid NOT NULL,
    period varchar(7) NOT NULL,  -- a local month 'YYYY-MM', a local year 'YYYY', or '*' for all time
    account_id uuid NOT NULL,  -- the household's account
    points bigint NOT NULL DEFAULT 0,  -- what counts in a ranking
    earned bigint NOT NULL DEFAULT 0,  -- what it earned (audit/balances.py EARNED_BY): lifetime_earned, for '*'
    CONSTRAINT pk_household_period_points PRIMARY KEY (village_id, period, account_id),
    CONSTRAINT fk_household_period_points_village_id_villages FOREIGN KEY (village_id)
        REFERENCES villages (id)
);

INSERT INTO household_period_points (village_id, period, account_id, points, earned)
SELECT p.village_id, k.period, p.account_id,
       coalesce(sum(p.amount) FILTER (WHERE t.kind <> 'adjustment' OR t.source_type = 'award'), 0),
       sum(CASE
             WHEN t.kind IN ('award', 'rectification') THEN greatest(p.amount, 0)
             WHEN t.kind = 'reversal' AND r.kind IN ('award', 'rectification') THEN least(p.amount, 0)
             WHEN t.kind = 'adjustment' THEN least(p.amount, 0)
             ELSE 0
           END)
  FROM village_rollup_marks m
  JOIN postings p ON p.village_id = m.village_id AND p.chain_id <= m.chain_id
  JOIN ledger_transactions t ON t.village_id = p.village_id AND t.id = p.transaction_id
  LEFT JOIN ledger_transactions r ON r.village_id = t.village_id AND r.id = t.reverses_id
 CROSS JOIN LATERAL (
       SELECT to_char(t.created_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') AS month) l
 CROSS JOIN LATERAL (VALUES (l.month), (left(l.month, 4)), ('*')) k(period)
 WHERE p.account_version IS NOT NULL
   AND t.kind IN ('award', 'deduction', 'rectification', 'reversal', 'adjustment')
 GROUP BY 1, 2, 3;

DO $grant$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
    GRANT SELECT, INSERT, UPDATE ON household_period_points TO {APP_ROLE};
  END IF;
END
$grant$;
"""
    )


def downgrade() -> None:
    execute_script("DROP TABLE household_period_points;")
