"""The delivery worker: in the server's background loop and in `jifen jobs run`.

It claims due deliveries under row locks (`FOR UPDATE SKIP LOCKED`, so several processes share the work),
sends each, and records the outcome in the claiming transaction: delivered, failed until a later attempt
(the retry schedule, the last step repeating), or dead after `max_attempts` failures (an admin retries it
from the dead-letter view). A worker killed mid-send commits nothing: the delivery stays due and is sent
again — at least once; the receiver drops a repeat by its event id."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.kit.jsonutil import compact_json
from jifen.kit.timeutil import utcnow
from jifen.notify import channels, messages, repository
from jifen.notify.repository import DueDelivery
from jifen.settings import Settings

CLAIM_BATCH = 20


@dataclass
class Policy:
    retry_seconds: Sequence[float] = (10, 60, 300, 1800, 7200, 21600)
    max_attempts: int = 12
    timeout_seconds: float = 5.0
    # SMS providers by the channel's config "provider"; None: an Aliyun client made from the channel
    sms: dict[str, channels.SmsSender] = field(default_factory=lambda: {"fake": channels.DEMO_SMS})

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        return cls(
            settings.notify_retry_seconds, settings.notify_max_attempts, settings.notify_timeout_seconds
        )

    def retry_at(self, attempts: int, now: datetime) -> datetime | None:
        """When the next attempt is due after `attempts` failed ones; None: give up (a dead letter)."""
        if attempts >= self.max_attempts:
            return None
        step = self.retry_seconds[min(attempts - 1, len(self.retry_seconds) - 1)]
        return now + timedelta(seconds=step)


def body_of(row: DueDelivery) -> bytes:
    """The webhook's JSON: the event, its household (masked name) and the Chinese text."""
    payload: dict[str, Any] = json.loads(row.payload)
    values = messages.params(row.kind, payload, row.head_name)
    document = {
        "id": row.event_id,
        "kind": row.kind,
        "village_id": row.village_id,
        "created_at": row.created_at.isoformat(),
        "household": None
        if row.household_id is None
        else {"id": row.household_id, "code": row.household_code, "name": values["name"]},
        "data": payload,
        "text": messages.text(row.kind, values),
    }
    return (compact_json(document) or "").encode()


async def _send(
    client: httpx.AsyncClient, policy: Policy, row: DueDelivery, phones: list[str] | None
) -> str | None:
    """Send one delivery (no database work: the batch's sends run at once); a note when there was nothing
    to send (no SMS recipient)."""
    if phones is None:
        await channels.post_webhook(client, row.url, row.secret, row.event_id, body_of(row))
        return None
    if not phones:
        return "未发送：该户关闭了短信或成员未同意接收"
    config: dict[str, Any] = json.loads(row.config)
    provider = str(config.get("provider", "aliyun"))
    sender = policy.sms.get(provider) or channels.AliyunSms(
        client, str(config.get("access_key_id", "")), row.secret, str(config.get("sign_name", "")), row.url
    )
    templates: dict[str, str] = config.get("templates") or {}
    code = templates.get(row.kind) or str(config.get("template_code", ""))
    values = messages.params(row.kind, json.loads(row.payload), row.head_name)
    await sender.send(phones, code, {**values, "content": messages.text(row.kind, values)})
    return None


async def _attempt(
    client: httpx.AsyncClient, policy: Policy, row: DueDelivery, phones: list[str] | None
) -> tuple[bool, str | None]:
    """(delivered, the note or the error)."""
    try:
        return True, await _send(client, policy, row, phones)
    except channels.SendFailed as exc:
        return False, str(exc)[:500]


async def deliver_due(
    sessionmaker: async_sessionmaker[AsyncSession], policy: Policy, *, client: httpx.AsyncClient | None = None
) -> int:
    """Send what is due now, a claimed batch at a time (its sends at once, so one slow receiver costs a
    batch one timeout, not one each); the number of deliveries that succeeded."""
    http = client
    delivered = 0
    try:
        while True:
            async with sessionmaker() as session, session.begin():
                due = await repository.claim_due(session, utcnow(), CLAIM_BATCH)
                if not due:
                    return delivered
                # made only when something is due: a client builds its TLS context (tens of ms), and most
                # passes of the background loop find nothing to send
                http = http or httpx.AsyncClient(timeout=policy.timeout_seconds)
                phones = [
                    None
                    if row.channel_kind == "webhook" or row.household_id is None
                    else await repository.phones(session, row.village_id, row.household_id)
                    for row in due
                ]
                sends = (_attempt(http, policy, r, p) for r, p in zip(due, phones, strict=True))
                outcomes = await asyncio.gather(*sends)
                for row, (ok, note) in zip(due, outcomes, strict=True):
                    retry_at = None if ok else policy.retry_at(row.attempts + 1, utcnow())
                    await repository.mark(session, row, delivered=ok, error=note, retry_at=retry_at)
                    delivered += ok
    finally:
        if http is not None and client is None:
            await http.aclose()
