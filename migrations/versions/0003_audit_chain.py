"""Audit trail and tamper evidence: audit events, and one SHA-256 hash chain per village over its ledger
transactions, postings and audit events, with sealed checkpoints.

Records are linked into the chain after they commit, by one chainer at a time per village (the server
does it every few seconds; `jifen audit seal` on demand), so no write ever waits for another to take its
place in a chain. Every record draws a `chain_id` from one sequence; the chainer links records in
chain_id order, but only up to a horizon below which no transaction can still be running (see
jifen_chain_writer), so a record that commits late can never appear to have been slipped into the past. Verification recomputes every
linked record's hash and every link, and refuses any record below the horizon that is not linked.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from jifen.kit.migrate import execute_script, grant_app_privileges_sql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

APPEND_ONLY = (
    "ledger_transactions",
    "postings",
    "rule_versions",
    "audit_events",
    "chain_links",
    "checkpoints",
)


def upgrade() -> None:
    execute_script(
        r"""
CREATE SEQUENCE jifen_chain_seq AS bigint;

ALTER TABLE ledger_transactions ADD COLUMN chain_id bigint NOT NULL DEFAULT nextval('jifen_chain_seq');
ALTER TABLE postings ADD COLUMN chain_id bigint NOT NULL DEFAULT nextval('jifen_chain_seq');
-- by chain_id alone: an index led by village_id would tempt the planner away from the primary keys when
-- it believes a table is empty (a cached plan in a trigger once scanned a whole village per lookup)
CREATE INDEX ix_ledger_transactions_chain_id ON ledger_transactions (chain_id);
CREATE INDEX ix_postings_chain_id ON postings (chain_id);

-- Who did what, to which record, on behalf of which village, why, from where, when. The scope is the
-- village, or the zero uuid for what belongs to no village (town administrators, logins).
CREATE TABLE audit_events (
    scope uuid NOT NULL,
    id bigint GENERATED ALWAYS AS IDENTITY,
    chain_id bigint NOT NULL DEFAULT nextval('jifen_chain_seq'),
    occurred_at timestamptz NOT NULL DEFAULT now(),
    actor_id uuid,
    actor_name varchar(64),
    actor_roles varchar(200),
    action varchar(48) NOT NULL,
    record_type varchar(32) NOT NULL,
    record_id varchar(100),
    before jsonb,
    after jsonb,
    reason varchar(500),
    request_id varchar(128),
    client_addr varchar(64),
    CONSTRAINT pk_audit_events PRIMARY KEY (scope, id)
);
CREATE INDEX ix_audit_events_scope_chain_id ON audit_events (scope, chain_id);
CREATE INDEX ix_audit_events_scope_record ON audit_events (scope, record_type, record_id, id);
CREATE INDEX ix_audit_events_actor_id ON audit_events (actor_id, id);
CREATE INDEX ix_audit_events_scope_action ON audit_events (scope, action, id);
-- the login throttle counts recent failures by name and by address
CREATE INDEX ix_audit_events_failed_login_name ON audit_events (record_id, occurred_at)
    WHERE action = 'auth.login_failed';
CREATE INDEX ix_audit_events_failed_login_addr ON audit_events (client_addr, occurred_at)
    WHERE action = 'auth.login_failed';
CREATE INDEX ix_audit_events_login_name ON audit_events (record_id, occurred_at) WHERE action = 'auth.login';

-- The chain: link n of a scope commits to link n-1 and to the hash of one record's content.
CREATE TABLE chain_links (
    scope uuid NOT NULL,
    seq bigint NOT NULL,
    chain_id bigint NOT NULL,
    record_kind varchar(8) NOT NULL,
    record_key varchar(100) NOT NULL,
    record_hash bytea NOT NULL,
    link_hash bytea NOT NULL,
    linked_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_chain_links PRIMARY KEY (scope, seq),
    CONSTRAINT uq_chain_links_scope_chain_id UNIQUE (scope, chain_id),
    CONSTRAINT ck_chain_links_kind CHECK (record_kind IN ('tx', 'posting', 'audit'))
);

-- Checkpoints: the head of a village's chain at a moment, sealed for the notice board (公示栏).
CREATE TABLE checkpoints (
    scope uuid NOT NULL,
    id bigint GENERATED ALWAYS AS IDENTITY,
    seq bigint NOT NULL,
    chain_id bigint NOT NULL,
    digest bytea NOT NULL,
    records bigint NOT NULL,
    sealed_at timestamptz NOT NULL DEFAULT now(),
    sealed_by uuid,
    CONSTRAINT pk_checkpoints PRIMARY KEY (scope, id)
);
CREATE INDEX ix_checkpoints_scope_seq ON checkpoints (scope, seq);

-- The chainer's horizon. Every statement that writes chained records first takes a shared advisory lock,
-- held to the end of its transaction; the chainer takes the same lock exclusively for a moment, so the
-- sequence value it reads then is final: every record at or below it has committed or rolled back.
-- Writers never wait for one another, only, for the few milliseconds it takes, for the chainer.
CREATE FUNCTION jifen_chain_writer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(7595439545093744238);
    RETURN NULL;
END
$$;
CREATE TRIGGER ledger_transactions_chain_writer BEFORE INSERT ON ledger_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION jifen_chain_writer();
-- (postings need none: they are written after their transaction, in the same database transaction)
CREATE TRIGGER audit_events_chain_writer BEFORE INSERT ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION jifen_chain_writer();

-- What a record says, as one canonical text (UTC times, JSON-escaped strings, fixed order); its SHA-256
-- is the record hash. The chainer and the verifier both use these, so they can never disagree.
CREATE FUNCTION jifen_utc(t timestamptz) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;
CREATE FUNCTION jifen_tx_hash(t ledger_transactions) RETURNS bytea LANGUAGE sql STABLE AS $$
    SELECT sha256(convert_to(jsonb_build_array(
        'tx', t.village_id, t.id, t.kind, t.memo, t.actor_id, t.rule_id, t.rule_version, t.source_type,
        t.source_id, t.reverses_id, t.reason, jifen_utc(t.created_at), t.chain_id)::text, 'UTF8'))
$$;
CREATE FUNCTION jifen_posting_hash(p postings) RETURNS bytea LANGUAGE sql STABLE AS $$
    SELECT sha256(convert_to(jsonb_build_array(
        'posting', p.village_id, p.id, p.transaction_id, p.account_id, p.amount, p.balance_after,
        p.account_version, jifen_utc(p.created_at), p.chain_id)::text, 'UTF8'))
$$;
CREATE FUNCTION jifen_audit_hash(a audit_events) RETURNS bytea LANGUAGE sql STABLE AS $$
    SELECT sha256(convert_to(jsonb_build_array(
        'audit', a.scope, a.id, jifen_utc(a.occurred_at), a.actor_id, a.actor_name, a.actor_roles, a.action,
        a.record_type, a.record_id, a.before, a.after, a.reason, a.request_id, a.client_addr,
        a.chain_id)::text, 'UTF8'))
$$;

-- Every record of a scope, by chain_id, with its hash now: what the chainer links and the verifier checks.
CREATE FUNCTION jifen_chain_records(p_scope uuid, p_after bigint, p_upto bigint)
RETURNS TABLE (chain_id bigint, record_kind text, record_key text, record_hash bytea)
LANGUAGE sql STABLE AS $$
    SELECT t.chain_id, 'tx', t.id::text, jifen_tx_hash(t)
      FROM ledger_transactions t
     WHERE t.village_id = p_scope AND t.chain_id > p_after AND t.chain_id <= p_upto
    UNION ALL
    SELECT p.chain_id, 'posting', p.id::text, jifen_posting_hash(p)
      FROM postings p
     WHERE p.village_id = p_scope AND p.chain_id > p_after AND p.chain_id <= p_upto
    UNION ALL
    SELECT a.chain_id, 'audit', a.id::text, jifen_audit_hash(a)
      FROM audit_events a
     WHERE a.scope = p_scope AND a.chain_id > p_after AND a.chain_id <= p_upto
     ORDER BY 1
$$;

CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER chain_links_append_only BEFORE UPDATE OR DELETE ON chain_links
    FOR EACH ROW EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER chain_links_no_truncate BEFORE TRUNCATE ON chain_links
    FOR EACH STATEMENT EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION jifen_refuse_change();
"""
    )
    execute_script(grant_app_privileges_sql(APPEND_ONLY))


def downgrade() -> None:
    execute_script(
        """
DROP TABLE checkpoints, chain_links, audit_events;
DROP FUNCTION jifen_chain_writer;
DROP FUNCTION jifen_chain_records, jifen_audit_hash, jifen_posting_hash, jifen_tx_hash, jifen_utc;
ALTER TABLE postings DROP COLUMN chain_id;
ALTER TABLE ledger_transactions DROP COLUMN chain_id;
DROP SEQUENCE jifen_chain_seq;
"""
    )
