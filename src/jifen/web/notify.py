"""Notices: the village admin's webhooks and dead letters (立即重试), the printable 本周积分变动 per grid, and
the villager's SMS preferences. Ordinary routes on the notify package's access check and services."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from jifen.auth.dependencies import VillageAccess
from jifen.auth.households import read_household
from jifen.kit.db import PageRoute
from jifen.kit.errors import NotFound
from jifen.kit.timeutil import to_local
from jifen.notify import repository, service
from jifen.notify.auth import notice_reader, notify_admin
from jifen.notify.schemas import WebhookIn
from jifen.web.admin import Refused, checked, form_values, press, submit
from jifen.web.context import CurrentPage, PageContext, PageRefused, go

router = APIRouter(include_in_schema=False, route_class=PageRoute)


async def _admin(page: PageContext) -> VillageAccess:
    page.need("village_admin")
    return await notify_admin(page.village_id, page.actor, page.session)


async def _notify_page(page: PageContext, *, status: int = 200, **extra: Any) -> Response:
    access = await _admin(page)
    village_id = access.village.id
    return page.render_form(
        "admin_notify.html",
        status,
        **{
            "title": "消息推送",
            "webhooks": await service.webhooks(page.session, village_id),
            "counts": await repository.counts(page.session, village_id),
            "dead": (await service.dead_letters(page.session, village_id, None, 100)).items,
            "grids": access.village.grids,
        }
        | extra,
    )


_DONE = {"retried": "已安排立即重试", "enabled": "已重新启用推送地址", "disabled": "已停用推送地址"}


@router.get("/admin/notify", response_class=HTMLResponse)
async def notify_page(page: CurrentPage, done: str | None = None) -> Response:
    return await _notify_page(page, flash=_DONE.get(done or ""))


@router.post("/admin/notify/webhooks", response_class=HTMLResponse)
async def add_webhook(page: CurrentPage) -> Response:
    access = await _admin(page)
    values = form_values(page, "name", "url")
    made = await submit(
        page,
        checked(WebhookIn, values, ("name", "url")),
        lambda body: service.add_webhook(page.session, page.actor, access.village.id, body),
    )
    if isinstance(made, Refused):
        return await _notify_page(page, status=made.status, values=values, errors=made.errors)
    # the secret is shown this once, on this answer (no redirect carries it)
    return await _notify_page(page, created=made)


@router.post("/admin/notify/webhooks/{webhook_id}/switch", response_class=HTMLResponse)
async def switch_webhook(page: CurrentPage, webhook_id: uuid.UUID) -> Response:
    """停用 / 重新启用 a webhook: nothing is sent over it while it is off; what waits goes once it is on."""
    village_id = (await _admin(page)).village.id
    enabled = page.field("enabled") == "true"
    return await press(
        page,
        lambda: service.change_webhook(page.session, page.actor, village_id, webhook_id, enabled=enabled),
        lambda **extra: _notify_page(page, **extra),
        lambda _: f"/admin/notify?done={'enabled' if enabled else 'disabled'}",
    )


@router.post("/admin/notify/retry", response_class=HTMLResponse)
async def retry(page: CurrentPage) -> Response:
    village_id = (await _admin(page)).village.id
    try:
        event_id, channel_id = uuid.UUID(page.field("event_id")), uuid.UUID(page.field("channel_id"))
    except ValueError as exc:
        raise PageRefused(404, "找不到该条通知") from exc
    return await press(
        page,
        lambda: service.retry(page.session, page.actor, village_id, event_id, channel_id),
        lambda **extra: _notify_page(page, **extra),
        lambda _: "/admin/notify?done=retried",
    )


@router.get("/staff/weekly-notice", response_class=HTMLResponse)
async def weekly_notice(page: CurrentPage, grid: str | None = None) -> Response:
    """本周积分变动: printed and posted per grid, names masked."""
    page.need("village_admin", "cadre")
    access = await notice_reader(page.village_id, page.actor, page.session)
    notice = await service.week_notice(page.session, access.village.id, grid or None)
    return page.render(
        "weekly_notice.html",
        title="本周积分变动",
        village=access.village,
        notice=notice,
        grids=access.village.grids,
        since=to_local(notice.since),
        until=to_local(notice.until),
    )


async def _household_id(page: PageContext) -> tuple[uuid.UUID, uuid.UUID]:
    page.need("villager")
    household_id = page.household_id
    if household_id is None:
        raise PageRefused(404, "您的账号还没有绑定农户，请联系村管理员")
    access = await read_household(household_id, page.actor, page.session)
    return access.household.village_id, household_id


@router.get("/me/notify", response_class=HTMLResponse)
async def my_notify(page: CurrentPage, done: str | None = None) -> Response:
    village_id, household_id = await _household_id(page)
    preferences = await service.sms_preferences(page.session, village_id, household_id)
    return page.render(
        "me_notify.html",
        title="短信通知",
        preferences=preferences,
        flash="已保存" if done == "saved" else None,
    )


@router.post("/me/notify", response_class=HTMLResponse)
async def save_my_notify(page: CurrentPage) -> Response:
    village_id, household_id = await _household_id(page)
    consenting: list[uuid.UUID] = []
    for raw in page.form.getlist("consent") if page.form is not None else []:
        try:
            consenting.append(uuid.UUID(str(raw)))
        except ValueError as exc:
            raise NotFound("找不到该家庭成员") from exc
    await service.set_sms_preferences(
        page.session,
        page.actor,
        village_id,
        household_id,
        enabled=page.field("sms_enabled") == "on",
        consenting=consenting,
    )
    return go("/me/notify?done=saved")
