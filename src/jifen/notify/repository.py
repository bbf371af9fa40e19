"""Every statement of the notices: channels, claiming and marking deliveries, dead letters, the recipients of
an SMS, reminders, and the week's movements per household for the printed notice."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.kit.pagination import key_args
from jifen.kit.sql import Sql, columns_of
from jifen.notify.schemas import DeadLetterOut
from jifen.outbox.repository import fan_out


@dataclass(frozen=True, slots=True)
class ChannelRow:
    village_id: uuid.UUID
    id: uuid.UUID
    kind: str
    name: str
    url: str
    enabled: bool
    created_at: datetime


_CHANNEL_COLUMNS = columns_of(ChannelRow)


@dataclass(frozen=True, slots=True)
class NewChannel:
    kind: str
    name: str
    url: str
    secret: str
    config: dict[str, Any]
    enabled: bool = True


async def insert_channel(
    session: AsyncSession, village_id: uuid.UUID, channel: NewChannel, *, actor_id: uuid.UUID
) -> ChannelRow:
    row = await Sql(session).row(
        ChannelRow,
        "INSERT INTO notify_channels (village_id, id, kind, name, url, secret, config, enabled, created_by)"
        f" VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb, $8, $9) RETURNING {_CHANNEL_COLUMNS}",
        village_id,
        uuid.uuid4(),
        channel.kind,
        channel.name,
        channel.url,
        channel.secret,
        json.dumps(channel.config, ensure_ascii=False),
        channel.enabled,
        actor_id,
    )
    assert row is not None
    return row


async def channels(session: AsyncSession, village_id: uuid.UUID, kind: str) -> list[ChannelRow]:
    return await Sql(session).rows(
        ChannelRow,
        f"SELECT {_CHANNEL_COLUMNS} FROM notify_channels WHERE village_id = $1 AND kind = $2"
        " ORDER BY created_at",
        village_id,
        kind,
    )


async def set_enabled(
    session: AsyncSession, village_id: uuid.UUID, channel_id: uuid.UUID, kind: str, enabled: bool
) -> ChannelRow | None:
    return await Sql(session).row(
        ChannelRow,
        f"UPDATE notify_channels SET enabled = $4 WHERE village_id = $1 AND id = $2 AND kind = $3"
        f" RETURNING {_CHANNEL_COLUMNS}",
        village_id,
        channel_id,
        kind,
        enabled,
    )


@dataclass(frozen=True, slots=True)
class DueDelivery:
    village_id: uuid.UUID
    event_id: uuid.UUID
    channel_id: uuid.UUID
    attempts: int
    kind: str
    household_id: uuid.UUID | None
    payload: str
    created_at: datetime
    channel_kind: str
    url: str
    secret: str
    config: str
    household_code: str | None
    head_name: str | None
    sms_enabled: bool | None


_DELIVERY = """
SELECT d.village_id, d.event_id, d.channel_id, d.attempts, e.kind, e.household_id, e.payload::text AS payload,
       e.created_at, c.kind AS channel_kind, c.url, c.secret, c.config::text AS config,
       h.code AS household_code, h.head_name, h.sms_enabled
  FROM outbox_deliveries d
  JOIN outbox_events e ON e.village_id = d.village_id AND e.id = d.event_id
  JOIN notify_channels c ON c.village_id = d.village_id AND c.id = d.channel_id
  LEFT JOIN households h ON h.village_id = e.village_id AND h.id = e.household_id
"""


async def claim_due(session: AsyncSession, now: datetime, limit: int) -> list[DueDelivery]:
    """Deliveries due now over enabled channels, locked for this transaction; others skip them."""
    return await Sql(session).rows(
        DueDelivery,
        _DELIVERY + " WHERE d.delivered_at IS NULL AND d.dead_at IS NULL AND d.next_attempt_at <= $1"
        " AND c.enabled ORDER BY d.next_attempt_at LIMIT $2 FOR UPDATE OF d SKIP LOCKED",
        now,
        limit,
    )


async def mark(
    session: AsyncSession,
    row: DueDelivery,
    *,
    delivered: bool,
    error: str | None,
    retry_at: datetime | None,
) -> None:
    """One attempt's outcome: delivered, failed until `retry_at`, or dead (failed, no `retry_at`)."""
    await Sql(session).execute(
        "UPDATE outbox_deliveries SET attempts = attempts + 1, last_error = $4,"
        " delivered_at = CASE WHEN $5 THEN now() END,"
        " dead_at = CASE WHEN NOT $5 AND $6::timestamptz IS NULL THEN now() END,"
        " next_attempt_at = coalesce($6, next_attempt_at)"
        " WHERE village_id = $1 AND event_id = $2 AND channel_id = $3",
        row.village_id,
        row.event_id,
        row.channel_id,
        error,
        delivered,
        retry_at,
    )


async def phones(session: AsyncSession, village_id: uuid.UUID, household_id: uuid.UUID) -> list[str]:
    """The phones of the household's members who allowed SMS (none when the household turned SMS off)."""
    return await Sql(session).values(
        str,
        "SELECT m.phone FROM members m"
        " JOIN households h ON h.village_id = m.village_id AND h.id = m.household_id"
        " WHERE m.village_id = $1 AND m.household_id = $2 AND h.sms_enabled AND m.sms_consent"
        " AND m.phone IS NOT NULL ORDER BY m.created_at",
        village_id,
        household_id,
    )


async def dead_letters(
    session: AsyncSession, village_id: uuid.UUID, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[DeadLetterOut]:
    return await Sql(session).rows(
        DeadLetterOut,
        "SELECT d.event_id, d.channel_id, c.name AS channel_name, e.kind, h.code AS household_code,"
        " d.attempts, d.last_error, d.dead_at, e.created_at"
        " FROM outbox_deliveries d"
        " JOIN outbox_events e ON e.village_id = d.village_id AND e.id = d.event_id"
        " JOIN notify_channels c ON c.village_id = d.village_id AND c.id = d.channel_id"
        " LEFT JOIN households h ON h.village_id = e.village_id AND h.id = e.household_id"
        " WHERE d.village_id = $1 AND d.dead_at IS NOT NULL"
        " AND ($2::timestamptz IS NULL OR (d.dead_at, d.event_id) < ($2, $3))"
        " ORDER BY d.dead_at DESC, d.event_id DESC LIMIT $4",
        village_id,
        *key_args(after),
        limit,
    )


async def retry(
    session: AsyncSession, village_id: uuid.UUID, event_id: uuid.UUID, channel_id: uuid.UUID
) -> bool:
    """A dead letter due again now, with a fresh count of attempts."""
    touched = await Sql(session).execute(
        "UPDATE outbox_deliveries SET dead_at = NULL, attempts = 0, next_attempt_at = now()"
        " WHERE village_id = $1 AND event_id = $2 AND channel_id = $3 AND dead_at IS NOT NULL",
        village_id,
        event_id,
        channel_id,
    )
    return touched > 0


@dataclass(frozen=True, slots=True)
class DeliveryCounts:
    waiting: int  # due or to be retried, over a channel that is on
    paused: int  # not sent yet, over a channel that is switched off (sent once it is on again)
    delivered: int
    dead: int


async def counts(session: AsyncSession, village_id: uuid.UUID) -> DeliveryCounts:
    row = await Sql(session).row(
        DeliveryCounts,
        "SELECT count(*) FILTER (WHERE d.delivered_at IS NULL AND d.dead_at IS NULL AND c.enabled)"
        " AS waiting,"
        " count(*) FILTER (WHERE d.delivered_at IS NULL AND d.dead_at IS NULL AND NOT c.enabled) AS paused,"
        " count(*) FILTER (WHERE d.delivered_at IS NOT NULL) AS delivered,"
        " count(*) FILTER (WHERE d.dead_at IS NOT NULL) AS dead"
        " FROM outbox_deliveries d JOIN notify_channels c"
        " ON c.village_id = d.village_id AND c.id = d.channel_id"
        " WHERE d.village_id = $1",
        village_id,
    )
    assert row is not None
    return row


# a pickup code's reminder: once per reservation (its event id is derived from the reservation's)
_PICKUP_REMINDERS = fan_out(
    "SELECT r.village_id, md5('pickup.expiring:' || r.id::text)::uuid AS id, 'pickup.expiring' AS kind,"
    " r.household_id, jsonb_build_object('reservation_id', r.id, 'code', r.code, 'store', s.name,"
    " 'total_points', r.total_points, 'expires_at', r.expires_at) AS payload"
    " FROM reservations r JOIN stores s ON s.village_id = r.village_id AND s.id = r.store_id"
    " WHERE r.status = 'active' AND r.expires_at > $1 AND r.expires_at <= $2"
)


async def remind_pickups(session: AsyncSession, now: datetime, until: datetime) -> int:
    """Reminders of the active pickup codes expiring in (now, until]; how many were new."""
    return await Sql(session).value(int, _PICKUP_REMINDERS, now, until) or 0


_EXPIRY_REMINDERS = fan_out(
    "SELECT $1::uuid AS village_id,"
    " md5('points.expiring:' || t.household_id::text || ':' || t.at::text)::uuid AS id,"
    " 'points.expiring' AS kind, t.household_id,"
    " jsonb_build_object('total_points', t.amount, 'expires_at', t.at) AS payload"
    " FROM unnest($2::uuid[], $3::bigint[], $4::timestamptz[]) AS t(household_id, amount, at)"
)


async def remind_expiring(
    session: AsyncSession,
    village_id: uuid.UUID,
    households: list[uuid.UUID],
    amounts: list[int],
    at: list[datetime],
) -> int:
    """Reminders of points to be cleared; how many were new."""
    return await Sql(session).value(int, _EXPIRY_REMINDERS, village_id, households, amounts, at) or 0


@dataclass(frozen=True, slots=True)
class WeekLine:
    household_id: uuid.UUID
    code: str
    head_name: str
    grid: str | None
    gained: int
    lost: int
    spent: int
    balance: int


async def week_lines(
    session: AsyncSession, village_id: uuid.UUID, grid: str | None, since: datetime, until: datetime
) -> list[WeekLine]:
    """Per household of the grid (all when None) that moved: points gained, lost (deductions, clearings,
    corrections), spent at the store (net of cancellations), and its balance now."""
    return await Sql(session).rows(
        WeekLine,
        """
SELECT h.id AS household_id, h.code, h.head_name, h.grid,
       coalesce(sum(p.amount) FILTER (WHERE p.amount > 0 AND NOT t.sale), 0)::bigint AS gained,
       coalesce(-sum(p.amount) FILTER (WHERE p.amount < 0 AND NOT t.sale), 0)::bigint AS lost,
       coalesce(-sum(p.amount) FILTER (WHERE t.sale), 0)::bigint AS spent,
       a.posted AS balance
  FROM households h
  JOIN accounts a ON a.village_id = h.village_id AND a.household_id = h.id
  JOIN postings p ON p.village_id = h.village_id AND p.account_id = a.id
   AND p.created_at >= $3 AND p.created_at < $4
  CROSS JOIN LATERAL (SELECT x.kind IN ('redemption', 'redemption_cancel') AS sale FROM ledger_transactions x
                       WHERE x.village_id = p.village_id AND x.id = p.transaction_id) t
 WHERE h.village_id = $1 AND ($2::text IS NULL OR h.grid = $2)
 GROUP BY h.id, h.code, h.head_name, h.grid, a.posted
 ORDER BY h.grid NULLS LAST, h.code
""",
        village_id,
        grid,
        since,
        until,
    )


@dataclass(frozen=True, slots=True)
class MemberPhone:
    id: uuid.UUID
    name: str
    phone: str | None
    sms_consent: bool


async def sms_enabled(session: AsyncSession, village_id: uuid.UUID, household_id: uuid.UUID) -> bool:
    return bool(
        await Sql(session).value(
            bool,
            "SELECT sms_enabled FROM households WHERE village_id = $1 AND id = $2",
            village_id,
            household_id,
        )
    )


async def member_phones(
    session: AsyncSession, village_id: uuid.UUID, household_id: uuid.UUID
) -> list[MemberPhone]:
    return await Sql(session).rows(
        MemberPhone,
        "SELECT id, name, phone, sms_consent FROM members WHERE village_id = $1 AND household_id = $2"
        " ORDER BY created_at, id",
        village_id,
        household_id,
    )


async def set_sms(
    session: AsyncSession,
    village_id: uuid.UUID,
    household_id: uuid.UUID,
    enabled: bool,
    consenting: list[uuid.UUID],
) -> None:
    """The household's SMS switch, and exactly `consenting` of its members allowing their phone."""
    sql = Sql(session)
    await sql.execute(
        "UPDATE households SET sms_enabled = $3 WHERE village_id = $1 AND id = $2",
        village_id,
        household_id,
        enabled,
    )
    await sql.execute(
        "UPDATE members SET sms_consent = (id = ANY($3::uuid[])) WHERE village_id = $1 AND household_id = $2",
        village_id,
        household_id,
        consenting,
    )


async def give_up(
    session: AsyncSession, village_id: uuid.UUID, channel_id: uuid.UUID, limit: int, error: str
) -> int:
    """The demo village's dead letters: the channel's `limit` oldest waiting deliveries, given up after
    their attempts (as the worker would have after `notify_max_attempts` failures)."""
    return await Sql(session).execute(
        "UPDATE outbox_deliveries d SET attempts = 12, last_error = $4, dead_at = now() FROM ("
        " SELECT event_id FROM outbox_deliveries WHERE village_id = $1 AND channel_id = $2"
        " AND delivered_at IS NULL AND dead_at IS NULL ORDER BY next_attempt_at, event_id LIMIT $3) x"
        " WHERE d.village_id = $1 AND d.channel_id = $2 AND d.event_id = x.event_id",
        village_id,
        channel_id,
        limit,
        error,
    )
