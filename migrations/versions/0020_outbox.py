"""The outbox (issue 16): every event people should hear about, written in the same transaction as the
change, and its delivery state per channel.

`outbox_events` is append-only (triggers and no UPDATE/DELETE grant): an event is never changed once
written. `outbox_deliveries` holds what changes: one row per (event, channel) with its attempts, when the
next is due, when it was delivered or given up (dead letter) and the last error. `notify_channels` are a
village's webhooks and its SMS channel. A household may turn SMS off (`households.sms_enabled`), and a
member's phone is used only when that member allowed it (`members.sms_consent`, off until they do).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01
"""

from jifen.kit.migrate import execute_script, grant_app_privileges_sql

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

APPEND_ONLY = ("outbox_events",)


def upgrade() -> None:
    execute_script(
        r"""
CREATE TABLE outbox_events (
    village_id uuid NOT NULL CONSTRAINT fk_outbox_events_village_id_villages REFERENCES villages (id),
    id uuid NOT NULL,
    kind varchar(40) NOT NULL,
    household_id uuid,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_outbox_events PRIMARY KEY (village_id, id),
    CONSTRAINT fk_outbox_events_village_id_household_id_households
        FOREIGN KEY (village_id, household_id) REFERENCES households (village_id, id)
);

CREATE TABLE notify_channels (
    village_id uuid NOT NULL CONSTRAINT fk_notify_channels_village_id_villages REFERENCES villages (id),
    id uuid NOT NULL,
    kind varchar(8) NOT NULL,
    name varchar(64) NOT NULL,
    url varchar(500) NOT NULL,
    secret varchar(200) NOT NULL,
    config jsonb NOT NULL DEFAULT '{}'::jsonb,
    enabled boolean NOT NULL DEFAULT true,
    created_by uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_notify_channels PRIMARY KEY (village_id, id),
    CONSTRAINT ck_notify_channels_kind CHECK (kind IN ('webhook', 'sms'))
);

CREATE TABLE outbox_deliveries (
    village_id uuid NOT NULL,
    event_id uuid NOT NULL,
    channel_id uuid NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz,
    dead_at timestamptz,
    last_error varchar(500),
    CONSTRAINT pk_outbox_deliveries PRIMARY KEY (village_id, event_id, channel_id),
    CONSTRAINT fk_outbox_deliveries_village_id_event_id_outbox_events
        FOREIGN KEY (village_id, event_id) REFERENCES outbox_events (village_id, id),
    CONSTRAINT fk_outbox_deliveries_village_id_channel_id_notify_channels
        FOREIGN KEY (village_id, channel_id) REFERENCES notify_channels (village_id, id),
    CONSTRAINT ck_outbox_deliveries_attempts CHECK (attempts >= 0)
);
-- what the worker claims: only the rows still waiting, in due order
CREATE INDEX ix_outbox_deliveries_due ON outbox_deliveries (next_attempt_at)
    WHERE delivered_at IS NULL AND dead_at IS NULL;
CREATE INDEX ix_outbox_deliveries_dead ON outbox_deliveries (village_id, dead_at) WHERE dead_at IS NOT NULL;

ALTER TABLE households ADD COLUMN sms_enabled boolean NOT NULL DEFAULT true;
ALTER TABLE members ADD COLUMN sms_consent boolean NOT NULL DEFAULT false;

CREATE TRIGGER outbox_events_append_only BEFORE UPDATE OR DELETE ON outbox_events
    FOR EACH ROW EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER outbox_events_no_truncate BEFORE TRUNCATE ON outbox_events
    FOR EACH STATEMENT EXECUTE FUNCTION jifen_refuse_change();
"""
    )
    execute_script(grant_app_privileges_sql(APPEND_ONLY))


def downgrade() -> None:
    execute_script(
        """
DROP TABLE outbox_deliveries, notify_channels, outbox_events;
ALTER TABLE members DROP COLUMN sms_consent;
ALTER TABLE households DROP COLUMN sms_enabled;
"""
    )
