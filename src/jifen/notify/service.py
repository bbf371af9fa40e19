"""Webhooks and dead letters (village admin), reminders (the due job), the printed weekly notice, and a
household's SMS preferences."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.audit import service as audit
from jifen.auth.actor import Actor
from jifen.expiry import service as expiry
from jifen.kit.errors import NotFound
from jifen.kit.pagination import BY_TIME_ID, Page
from jifen.kit.periods import period_start
from jifen.kit.timeutil import to_local, utcnow
from jifen.notify import messages, repository
from jifen.notify.schemas import DeadLetterOut, RetryOut, SmsChannelIn, SmsChannelOut, WebhookIn, WebhookOut

WEBHOOK = "webhook"
SMS = "sms"
PICKUP_REMINDER = timedelta(hours=24)
EXPIRY_REMINDER_DAYS = 7


def _out(row: repository.ChannelRow, secret: str | None = None) -> WebhookOut:
    return WebhookOut.model_validate(row, from_attributes=True).model_copy(update={"secret": secret})


async def _audit(
    session: AsyncSession, actor: Actor, village_id: uuid.UUID, action: str, record_id: uuid.UUID, after: Any
) -> None:
    """The audit event of a change to the village's channels, or of a dead letter retried."""
    await audit.record(
        session,
        actor,
        village_id=village_id,
        action=action,
        record_type="outbox_event" if action == "notify.retry" else "notify_channel",
        record_id=record_id,
        after=after,
    )


async def _add_channel(
    session: AsyncSession, actor: Actor, village_id: uuid.UUID, channel: repository.NewChannel
) -> repository.ChannelRow:
    row = await repository.insert_channel(session, village_id, channel, actor_id=actor.user_id)
    after = {"kind": row.kind, "name": row.name, "url": row.url, "enabled": row.enabled}
    await _audit(session, actor, village_id, "notify.channel_create", row.id, after)
    return row


async def add_webhook(
    session: AsyncSession, actor: Actor, village_id: uuid.UUID, body: WebhookIn
) -> WebhookOut:
    secret = body.secret or secrets.token_urlsafe(32)
    channel = repository.NewChannel(WEBHOOK, body.name, str(body.url), secret, {}, body.enabled)
    return _out(await _add_channel(session, actor, village_id, channel), secret)


async def add_sms_channel(
    session: AsyncSession, actor: Actor, village_id: uuid.UUID, body: SmsChannelIn
) -> SmsChannelOut:
    """The village's SMS account: every household event goes to the phones its members allowed."""
    config = {
        "provider": "aliyun",
        "access_key_id": body.access_key_id,
        "sign_name": body.sign_name,
        "template_code": body.template_code,
        "templates": body.templates,
    }
    channel = repository.NewChannel(SMS, body.name, str(body.endpoint), body.access_key_secret, config)
    row = await _add_channel(session, actor, village_id, channel)
    return SmsChannelOut.model_validate(row, from_attributes=True)


async def webhooks(session: AsyncSession, village_id: uuid.UUID) -> list[WebhookOut]:
    return [_out(row) for row in await repository.channels(session, village_id, WEBHOOK)]


async def _set_enabled(
    session: AsyncSession, village_id: uuid.UUID, webhook_id: uuid.UUID, enabled: bool
) -> repository.ChannelRow:
    row = await repository.set_enabled(session, village_id, webhook_id, WEBHOOK, enabled)
    if row is None:
        raise NotFound("找不到该推送地址")
    return row


async def change_webhook(
    session: AsyncSession, actor: Actor, village_id: uuid.UUID, webhook_id: uuid.UUID, *, enabled: bool
) -> WebhookOut:
    row = await _set_enabled(session, village_id, webhook_id, enabled)
    await _audit(session, actor, village_id, "webhook.change", webhook_id, {"enabled": enabled})
    return _out(row)


async def dead_letters(
    session: AsyncSession, village_id: uuid.UUID, cursor: str | None, limit: int
) -> Page[DeadLetterOut]:
    rows = await repository.dead_letters(session, village_id, BY_TIME_ID.after(cursor), limit + 1)
    page = BY_TIME_ID.page(rows, limit, lambda r: (r.dead_at, r.event_id))
    return page


async def retry(
    session: AsyncSession, actor: Actor, village_id: uuid.UUID, event_id: uuid.UUID, channel_id: uuid.UUID
) -> RetryOut:
    """立即重试: a dead letter due again now."""
    if not await repository.retry(session, village_id, event_id, channel_id):
        raise NotFound("找不到该条发送失败的通知（可能已在重试或已送达）")
    await _audit(session, actor, village_id, "notify.retry", event_id, {"channel_id": channel_id})
    return RetryOut(event_id=event_id, channel_id=channel_id, status="waiting")


async def remind(sessionmaker: async_sessionmaker[AsyncSession], *, now: datetime | None = None) -> int:
    """Reminders, each once: pickup codes expiring within a day, points to be cleared within a week; how
    many were new."""
    moment = now or utcnow()
    async with sessionmaker() as session, session.begin():
        written = await repository.remind_pickups(session, moment, moment + PICKUP_REMINDER)
        until = to_local(moment).date() + timedelta(days=EXPIRY_REMINDER_DAYS)
        for village_id in await expiry.villages_expiring(session):
            found = await expiry.expiring(session, village_id, until=until, now=moment)
            if found:
                written += await repository.remind_expiring(
                    session,
                    village_id,
                    [e.household_id for e in found],
                    [e.amount for e in found],
                    [e.expires_at for e in found],
                )
    return written


@dataclass(frozen=True)
class WeekNotice:
    since: datetime
    until: datetime
    grid: str | None
    lines: list[repository.WeekLine]

    @staticmethod
    def masked(name: str) -> str:
        return messages.mask_name(name)


async def week_notice(
    session: AsyncSession, village_id: uuid.UUID, grid: str | None, *, now: datetime | None = None
) -> WeekNotice:
    """本周积分变动: this local week (Monday 00:00 to now), per household of the grid that moved."""
    moment = now or utcnow()
    since = period_start("week", moment)
    lines = await repository.week_lines(session, village_id, grid, since, moment)
    return WeekNotice(since=since, until=moment, grid=grid, lines=lines)


@dataclass(frozen=True)
class SmsPreferences:
    enabled: bool
    members: list[repository.MemberPhone]


async def sms_preferences(
    session: AsyncSession, village_id: uuid.UUID, household_id: uuid.UUID
) -> SmsPreferences:
    return SmsPreferences(
        enabled=await repository.sms_enabled(session, village_id, household_id),
        members=await repository.member_phones(session, village_id, household_id),
    )


async def set_sms_preferences(
    session: AsyncSession,
    actor: Actor,
    village_id: uuid.UUID,
    household_id: uuid.UUID,
    *,
    enabled: bool,
    consenting: list[uuid.UUID],
) -> None:
    """The household turns SMS on or off; a member's phone is used only when ticked (they allowed it)."""
    before = await sms_preferences(session, village_id, household_id)
    known = {m.id for m in before.members if m.phone}
    chosen = [m for m in consenting if m in known]
    await repository.set_sms(session, village_id, household_id, enabled, chosen)
    await audit.record(
        session,
        actor,
        village_id,
        "household.sms_preferences",
        household_id,
        before={"sms_enabled": before.enabled, "consenting": [m.id for m in before.members if m.sms_consent]},
        after={"sms_enabled": enabled, "consenting": chosen},
    )
