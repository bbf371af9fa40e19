"""County scale: indexes that keep a village's reads flat with 500 villages beside it, a verified-up-to mark
per village, and a receipt number unique within its village (Citus-ready).

- `postings (village_id, chain_id)` and `ledger_transactions (village_id, chain_id)`: linking and verifying
  one village's chain reads only that village's records (the `chain_id` indexes alone walk every village's
  records in the range); `ledger_transactions (village_id, created_at) INCLUDE (id, kind, source_type)`:
  rankings for a month or a year read that period's transactions from the index alone.
- `audit_verifications`: one row per verification of a village's chain (full or incremental): up to which
  link (seq, chain_id, link hash) it was verified, the verdict, when. The admin page shows the newest verdict
  and verifies only what was linked since, so its cost follows what is new, not the village's history.
  Append-only like the rest of the record: the service role may read and add rows, never change one.
- `village_period_figures`, `village_period_participants`, `village_rollup_marks`: the town overview's
  figures per village and local month, year and all time ('*'), rolled up by the chainer's background pass
  from the postings it has linked (up to the same horizon), with the households that took part in each
  period; the overview reads them plus the few postings after each village's mark, so it stays exact and
  its cost follows the number of villages, not the county's history. Derived data, rebuilt by deleting it.
- `village_households`: each village's number of households, kept by a statement trigger on `households`
  (households are never deleted), so the overview does not count 250,000 rows on every load.
- `uq_redemptions_receipt_no` becomes `uq_redemptions_village_id_receipt_no`: the numbers still come from
  one sequence (so they stay unique in practice), but the constraint no longer spans villages, which a
  database distributed by village cannot enforce.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01
"""

from jifen.kit.migrate import APP_ROLE, execute_script

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        f"""
CREATE INDEX ix_postings_village_id_chain_id ON postings (village_id, chain_id);
CREATE INDEX ix_ledger_transactions_village_id_chain_id ON ledger_transactions (village_id, chain_id);
CREATE INDEX ix_ledger_transactions_village_id_created_at ON ledger_transactions (village_id, created_at)
    INCLUDE (id, kind, source_type);

ALTER TABLE redemptions DROP CONSTRAINT uq_redemptions_receipt_no;
ALTER TABLE redemptions
    ADD CONSTRAINT uq_redemptions_village_id_receipt_no UNIQUE (village_id, receipt_no);

CREATE TABLE audit_verifications (
    scope uuid NOT NULL,  -- the village (or the town scope), as in chain_links
    id bigint GENERATED ALWAYS AS IDENTITY,
    full_scan boolean NOT NULL,  -- the whole chain re-checked, or only what was linked after the last mark
    seq bigint NOT NULL,  -- verified up to this link (0: the chain was empty)
    chain_id bigint NOT NULL,
    link_hash bytea,  -- the link at seq, as verified; a later check starts from it
    ok boolean NOT NULL,
    checked bigint NOT NULL,  -- records this verification checked
    accounts_checked bigint NOT NULL,
    first_bad jsonb,
    first_bad_account jsonb,
    verified_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_audit_verifications PRIMARY KEY (scope, id),
    CONSTRAINT ck_audit_verifications_seq CHECK (seq >= 0 AND (seq = 0) = (link_hash IS NULL))
);
CREATE TRIGGER audit_verifications_append_only BEFORE UPDATE OR DELETE ON audit_verifications
    FOR EACH ROW EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER audit_verifications_no_truncate BEFORE TRUNCATE ON audit_verifications
    FOR EACH STATEMENT EXECUTE FUNCTION jifen_refuse_change();

CREATE TABLE village_period_figures (
    village_id uuid NOT NULL,
    period varchar(7) NOT NULL,  -- a local month 'YYYY-MM', a local year 'YYYY', or '*' for all time
    taking_part bigint NOT NULL DEFAULT 0,  -- households with an award or deduction in the period
    issued bigint NOT NULL DEFAULT 0,
    deducted bigint NOT NULL DEFAULT 0,
    redeemed bigint NOT NULL DEFAULT 0,
    posted bigint NOT NULL DEFAULT 0,  -- households' postings summed: for '*', the points outstanding
    CONSTRAINT pk_village_period_figures PRIMARY KEY (village_id, period),
    CONSTRAINT fk_village_period_figures_village_id_villages FOREIGN KEY (village_id) REFERENCES villages (id)
);
CREATE TABLE village_period_participants (
    village_id uuid NOT NULL,
    period varchar(7) NOT NULL,
    account_id uuid NOT NULL,
    CONSTRAINT pk_village_period_participants PRIMARY KEY (village_id, period, account_id)
);
CREATE TABLE village_rollup_marks (
    village_id uuid NOT NULL,
    chain_id bigint NOT NULL,  -- every household posting up to here is in the figures
    rolled_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_village_rollup_marks PRIMARY KEY (village_id),
    CONSTRAINT fk_village_rollup_marks_village_id_villages FOREIGN KEY (village_id) REFERENCES villages (id)
);

CREATE TABLE village_households (
    village_id uuid NOT NULL,
    households bigint NOT NULL,
    CONSTRAINT pk_village_households PRIMARY KEY (village_id),
    CONSTRAINT fk_village_households_village_id_villages FOREIGN KEY (village_id) REFERENCES villages (id)
);
INSERT INTO village_households (village_id, households)
SELECT village_id, count(*) FROM households GROUP BY village_id;
CREATE FUNCTION jifen_count_households() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO village_households AS c (village_id, households)
    SELECT village_id, count(*) FROM new_households GROUP BY village_id
    ON CONFLICT (village_id) DO UPDATE SET households = c.households + excluded.households;
    RETURN NULL;
END
$fn$;
CREATE TRIGGER households_counted AFTER INSERT ON households REFERENCING NEW TABLE AS new_households
    FOR EACH STATEMENT EXECUTE FUNCTION jifen_count_households();

DO $grant$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
    GRANT SELECT, INSERT, UPDATE ON village_period_figures, village_period_participants,
                                    village_rollup_marks, village_households TO {APP_ROLE};
    GRANT SELECT, INSERT ON audit_verifications TO {APP_ROLE};
  END IF;
END
$grant$;
"""
    )


def downgrade() -> None:
    execute_script(
        """
DROP TRIGGER households_counted ON households;
DROP FUNCTION jifen_count_households();
DROP TABLE village_households;
DROP TABLE village_rollup_marks;
DROP TABLE village_period_participants;
DROP TABLE village_period_figures;
DROP TABLE audit_verifications;
ALTER TABLE redemptions DROP CONSTRAINT uq_redemptions_village_id_receipt_no;
ALTER TABLE redemptions ADD CONSTRAINT uq_redemptions_receipt_no UNIQUE (receipt_no);
DROP INDEX ix_ledger_transactions_village_id_created_at;
DROP INDEX ix_ledger_transactions_village_id_chain_id;
DROP INDEX ix_postings_village_id_chain_id;
"""
    )
