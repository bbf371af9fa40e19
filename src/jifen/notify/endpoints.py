from __future__ import annotations

import uuid

from fastapi import APIRouter

from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.error_sets import READ_ERRORS, read_route
from jifen.kit.errors import create_route, error_responses
from jifen.kit.pagination import Cursor, Limit, Page, list_route
from jifen.notify import service
from jifen.notify.auth import NotifyAdmin
from jifen.notify.schemas import (
    DeadLetterOut,
    RetryOut,
    SmsChannelIn,
    SmsChannelOut,
    WebhookChange,
    WebhookIn,
    WebhookOut,
)

router = APIRouter(tags=["notify"], route_class=AutoCommitRoute)


@create_route(router, "/villages/{village_id}/webhooks", WebhookOut, *READ_ERRORS)
async def create_webhook(body: WebhookIn, access: NotifyAdmin, session: Session) -> WebhookOut:
    """A webhook every event of the village is POSTed to, signed with HMAC-SHA256 (`X-Jifen-Signature:
    sha256=<hex>` over `<X-Jifen-Timestamp>.<raw body>`), deduplicated by `X-Jifen-Event-Id`. The answer
    carries the secret once."""
    return await service.add_webhook(session, access.actor, access.village.id, body)


@create_route(router, "/villages/{village_id}/sms-channels", SmsChannelOut, *READ_ERRORS)
async def create_sms_channel(body: SmsChannelIn, access: NotifyAdmin, session: Session) -> SmsChannelOut:
    """The village's SMS account (Alibaba Cloud SMS: sign name, template code, key). Each household event
    is sent to the phones of the members who allowed it (the villager's 短信通知 page), never to others."""
    return await service.add_sms_channel(session, access.actor, access.village.id, body)


@read_route(router, "/villages/{village_id}/webhooks", Page[WebhookOut])
async def list_webhooks(access: NotifyAdmin, session: Session) -> Page[WebhookOut]:
    """The village's webhooks (without their secrets)."""
    return Page(items=await service.webhooks(session, access.village.id))


@router.patch(
    "/villages/{village_id}/webhooks/{webhook_id}",
    response_model=WebhookOut,
    responses=error_responses(*READ_ERRORS),
)
async def change_webhook(
    webhook_id: uuid.UUID, body: WebhookChange, access: NotifyAdmin, session: Session
) -> WebhookOut:
    """Turn a webhook off (its waiting deliveries wait) or on again."""
    return await service.change_webhook(
        session, access.actor, access.village.id, webhook_id, enabled=body.enabled
    )


@list_route(router, "/villages/{village_id}/dead-letters", Page[DeadLetterOut])
async def list_dead_letters(
    access: NotifyAdmin, session: Session, cursor: Cursor = None, limit: Limit = 50
) -> Page[DeadLetterOut]:
    """Notices given up after the last retry, newest first."""
    return await service.dead_letters(session, access.village.id, cursor, limit)


@router.post(
    "/villages/{village_id}/dead-letters/{event_id}/{channel_id}/retry",
    response_model=RetryOut,
    responses=error_responses(*READ_ERRORS),
)
async def retry_dead_letter(
    event_id: uuid.UUID, channel_id: uuid.UUID, access: NotifyAdmin, session: Session
) -> RetryOut:
    """立即重试: the dead letter is due again now, with a fresh count of attempts."""
    return await service.retry(session, access.actor, access.village.id, event_id, channel_id)
