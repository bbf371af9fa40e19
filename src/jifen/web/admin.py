"""The village admin's dashboard (settings, the tamper-evident checkpoint) and the printable notice board,
and what every admin page shares: who may open it, the form's values as typed, and the errors beside them.

The admin's other pages: admin_households.py, admin_users.py, admin_rules.py, admin_stores.py, money.py
(funding, settlement, expiry) and town.py."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ValidationError

from jifen.audit import repository as audit_repository
from jifen.audit import service as audit
from jifen.audit.auth import village_auditor
from jifen.auth.dependencies import VillageAccess
from jifen.auth.households import village_admin
from jifen.awards.board import board
from jifen.kit import validation
from jifen.kit.db import PageRoute
from jifen.kit.errors import JifenError
from jifen.kit.periods import this_month
from jifen.kit.timeutil import to_local, utcnow
from jifen.models import AwardStatus
from jifen.rankings import service as rankings
from jifen.rules.auth import village_user
from jifen.town.charts import village_charts
from jifen.villages import service as villages
from jifen.villages.schemas import VillageSettings
from jifen.web import setup
from jifen.web.context import CurrentPage, PageContext, field_errors, go

router = APIRouter(include_in_schema=False, route_class=PageRoute)

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
PERIODS = ("day", "week", "month", "quarter", "year")


async def admin_access(page: PageContext) -> VillageAccess:
    """The village the admin manages, as the API's village-admin check sees it (the page refuses anyone
    else in words first)."""
    page.need("village_admin")
    return await village_admin(page.village_id, page.actor, page.session)


async def attempt(page: PageContext, act: Callable[[], Awaitable[T]]) -> T | JifenError:
    """The form's change, or its refusal: then nothing of the attempt stays (`PageContext.undo`)."""
    try:
        return await act()
    except JifenError as refused:
        await page.undo()
        return refused


@dataclass(frozen=True)
class Refused:
    """Why a form's change was not made: messages by field (`_`: the banner) and the status to answer."""

    errors: dict[str, str]
    status: int = 422


async def submit(
    page: PageContext,
    checked_body: tuple[M | None, dict[str, str]],
    act: Callable[[M], Awaitable[T]],
    fields: Mapping[str, str] | None = None,
) -> T | Refused:
    """The checked form's change made (its result), or why not: the form's errors, or the refusal beside
    the field its code is about (`fields`, as `beside`); nothing of a refused attempt stays."""
    body, errors = checked_body
    if body is None:
        return Refused(errors)
    valid = body
    done = await attempt(page, lambda: act(valid))
    if isinstance(done, JifenError):
        return Refused(*beside(done, fields or {}))
    return done


async def apply_form(
    page: PageContext,
    invalid: dict[str, str],
    check: Callable[[], tuple[M | None, dict[str, str]]],
    act: Callable[[M], Awaitable[T]],
    done: Callable[[T], str],
    show: Callable[..., Awaitable[Response]],
    values: Mapping[str, str],
    fields: Mapping[str, str] | None = None,
) -> Response:
    """A form's change once the page's own checks (`invalid`: errors by field) and the input model
    (`check`) pass: made, on to `done`'s page; invalid or refused, `show` again with the `values` as typed,
    each error beside its field (a refusal's code → field in `fields`) and what belongs to none in the
    banner."""
    made = await submit(page, (None, invalid) if invalid else check(), act, fields)
    if isinstance(made, Refused):
        return await show(status=made.status, values=values, errors=made.errors, problem=made.errors.get("_"))
    return go(done(made))


async def press(
    page: PageContext,
    act: Callable[[], Awaitable[T]],
    show: Callable[..., Awaitable[Response]],
    done: Callable[[T], str],
) -> Response:
    """A one-button form (seal, pause, take off sale): made, on to `done`'s page; refused, `show` again with
    the refusal in the banner and its status."""
    result = await attempt(page, act)
    if isinstance(result, JifenError):
        return await show(status=failed(result), problem=result.detail)
    return go(done(result))


def beside(refused: JifenError, fields: Mapping[str, str]) -> tuple[dict[str, str], int]:
    """A refusal next to the field its code is about (`fields`: code → field; a conflict answers 409), or in
    the banner (`_`, 422)."""
    field = fields.get(refused.code)
    if field is None:
        return {"_": refused.detail}, 422
    return {field: refused.detail}, 409 if refused.status == 409 else 422


def form_values(page: PageContext, *names: str) -> dict[str, str]:
    return {name: page.field(name).strip() for name in names}


def number(
    values: dict[str, str],
    errors: dict[str, str],
    name: str,
    *,
    low: int,
    high: int,
    required: bool = False,
    message: str | None = None,
) -> int | None:
    """The field as an integer in [low, high]; a Chinese error next to it when it is not."""
    raw = values.get(name, "").replace("＋", "+").replace("－", "-").replace("−", "-")
    if not raw:
        if required:
            errors[name] = message or "必须填写"
        return None
    try:
        value = int(raw)
    except ValueError:
        errors[name] = message or "请填写整数"
        return None
    if not low <= value <= high:
        errors[name] = message or f"请填写 {low} 到 {high} 之间的整数"
        return None
    return value


def checked(
    model: type[M], body: Mapping[str, Any], fields: tuple[str, ...], rename: Mapping[str, str] | None = None
) -> tuple[M | None, dict[str, str]]:
    """The form as the API's input model, or its validation errors by form field (renamed by prefix);
    what belongs to no field goes to `_`, the banner, as the API's 422 says it."""
    try:
        return model.model_validate(body), {}
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for name, message in field_errors(exc).items():
            field = next((f for prefix, f in (rename or {}).items() if name.startswith(prefix)), name)
            if field in fields:
                errors.setdefault(field, message)
            else:
                errors.setdefault("_", validation.summary(exc.errors()))
        return None, errors or {"_": validation.summary(exc.errors())}


def failed(exc: JifenError) -> int:
    """The status a refused form answers with: the refusal's own when it is about access or a conflict."""
    return exc.status if exc.status in (403, 404, 409) else 422


# the dashboard and the village's settings

SETTINGS = ("notice_days", "cancel_window_minutes", "reservation_days")


async def _home(page: PageContext, *, status: int = 200, **extra: Any) -> Response:
    village = (await admin_access(page)).village
    await village_auditor(page.actor, page.session, village.id)
    state = await audit_repository.verification_state(page.session, village.id)
    async with asyncio.TaskGroup() as group:
        # the kept verdict, or (when little is new) one verified on a connection of its own while the page's
        # session reads the rest (audit.page_verdict)
        verdict = group.create_task(audit.page_verdict(page.request.app.state.engine, village.id, state))
        charts = await village_charts(page.session, village)
        checklist = await setup.checklist(page)
    extra.setdefault("values", {name: str(getattr(village, name)) for name in SETTINGS})
    return page.render_form(
        "admin_home.html",
        status=status,
        title="村务管理",
        village=village,
        checkpoint=state.checkpoint(village.id),
        verdict=verdict.result(),
        pending_cap=audit_repository.PENDING_CAP,
        charts=charts,
        month=this_month(),
        checklist=checklist,
        **extra,
    )


@router.get("/admin", response_class=HTMLResponse)
async def home(page: CurrentPage, done: str | None = None) -> Response:
    flash = {"settings": "设置已保存", "sealed": "已生成新的防篡改校验码"}.get(done or "")
    return await _home(page, flash=flash)


@router.post("/admin/settings", response_class=HTMLResponse)
async def change_settings(page: CurrentPage) -> Response:
    access = await admin_access(page)
    values = form_values(page, *SETTINGS)
    errors: dict[str, str] = {}
    wanted = {
        "notice_days": number(values, errors, "notice_days", low=0, high=30, required=True),
        "cancel_window_minutes": number(
            values, errors, "cancel_window_minutes", low=0, high=43200, required=True
        ),
        "reservation_days": number(values, errors, "reservation_days", low=1, high=90, required=True),
    }
    body, errors = (None, errors) if errors else checked(VillageSettings, wanted, SETTINGS)
    if body is not None:
        changes = body.model_dump(exclude_unset=True, exclude_none=True)
        await villages.change_settings(page.session, page.actor, access.village, changes=changes)
        return go("/admin?done=settings")
    return await _home(page, status=422, values=values, errors=errors, problem=errors.get("_"))


@router.post("/admin/checkpoints", response_class=HTMLResponse)
async def seal(page: CurrentPage) -> Response:
    village_id = (await admin_access(page)).village.id
    back = "/admin/notice-board" if page.field("back") == "board" else "/admin"
    return await press(
        page, lambda: _seal(page, village_id), partial(_home, page), lambda _: f"{back}?done=sealed"
    )


async def _seal(page: PageContext, village_id: uuid.UUID) -> None:
    await village_auditor(page.actor, page.session, village_id)
    await audit.seal_checkpoint(page.request.app.state.engine, village_id, page.actor.user_id)


# the printable notice board (公示栏) and the rankings


@router.get("/admin/notice-board", response_class=HTMLResponse)
async def notice_board(page: CurrentPage, done: str | None = None) -> Response:
    village = (await admin_access(page)).village
    await village_user(village.id, page.actor, page.session)
    month = this_month()
    checkpoints = await audit_repository.checkpoints(page.session, village.id, limit=1)
    return page.render(
        "admin_notice_board.html",
        title="公示栏（打印）",
        village=village,
        items=await board(page.session, village.id, AwardStatus.public_notice, None, 500),
        lists=await rankings.red_black_lists(page.session, village.id, month),
        month=month,
        checkpoint=checkpoints[0] if checkpoints else None,
        printed_on=to_local(utcnow()).strftime("%Y年%m月%d日"),
        flash="已生成新的防篡改校验码" if done == "sealed" else None,
    )


@router.get("/admin/rankings")
async def admin_rankings(page: CurrentPage) -> Response:
    await admin_access(page)
    return go("/rankings")
