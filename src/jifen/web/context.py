"""What every page needs: who is signed in (the API's own actor, from the session cookie), in which village,
the request's session (one transaction, committed before the answer like the API's), the CSRF check, form
errors next to their fields, and the templates."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, AsyncSessionTransaction
from starlette.datastructures import FormData

from jifen.auth import browser as websession
from jifen.auth.actor import Actor, Grant
from jifen.auth.dependencies import CurrentActor, SignedInActor, is_page
from jifen.kit import validation
from jifen.kit.db import Session
from jifen.kit.errors import JifenError
from jifen.kit.idempotency import CallerKey, request_fingerprint, run_once
from jifen.kit.logging import mask_phone
from jifen.kit.periods import PERIOD_NAMES
from jifen.kit.timeutil import to_local
from jifen.notify.messages import KIND_NAMES as NOTICE_KINDS
from jifen.villages import service as villages
from jifen.villages.repository import VillageName

M = TypeVar("M", bound=BaseModel)

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))

ROLE_NAMES = {
    "town_admin": "镇管理员",
    "village_admin": "村管理员",
    "cadre": "村干部/网格员",
    "reviewer": "审核员",
    "clerk": "超市店员",
    "villager": "村民",
}
KIND_NAMES = {
    "award": "加分",
    "deduction": "扣分",
    "reversal": "冲正",
    "redemption": "兑换",
    "redemption_cancel": "兑换撤销",
    "expiry": "积分清零",
    "rectification": "整改返还",
    "adjustment": "调整",
}
STATUS_NAMES = {
    "pending_review": "待审核",
    "approved": "已通过",
    "public_notice": "公示中",
    "posted": "已入账",
    "rejected": "未通过",
    "revoked": "已撤销",
    "completed": "已完成",
    "cancelled": "已撤销",
    "active": "待领取",
    "redeemed": "已领取",
    "expired": "已过期",
    "open": "进行中",
    "submitted": "已提交",
}
# how an entry was compensated, shown beside it (the ledger's COMPENSATED_AS)
COMPENSATED_NAMES = {
    "reversal": "已冲正",
    "cancellation": "已取消兑换",
    "rectification": "已整改返还",
    "revision": "已按异议修改",
    "revocation": "已撤销",
}
REVIEW_NAMES = {"none": "无需审核", "single": "一人审核", "double": "两人审核"}


def signed(value: Any) -> str:
    number = int(value or 0)
    return f"+{number}" if number > 0 else (f"−{-number}" if number < 0 else "0")


def local_time(value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if not value:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return to_local(moment).strftime(fmt)


def named(names: Mapping[str, str]) -> Any:
    """A filter that shows an enum member or its value by its Chinese name."""

    def name(value: Any) -> str:
        key = str(getattr(value, "value", value))
        return names.get(key, key)

    return name


templates.env.filters.update(
    signed=signed,
    local=local_time,
    kind=named(KIND_NAMES),
    compensated=named(COMPENSATED_NAMES),
    status=named(STATUS_NAMES),
    role=named(ROLE_NAMES),
    per=named({kind: name.every for kind, name in PERIOD_NAMES.items()}),
    review=named(REVIEW_NAMES),
    notice_kind=named({str(kind): name for kind, name in NOTICE_KINDS.items()}),
    mask_phone=mask_phone,
)


class LoginRequired(Exception):
    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class PasswordChangeNeeded(Exception):
    """The password was reset by an administrator: the user chooses their own before any other page."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class PageRefused(Exception):
    """A page the user may not open (wrong role, another village): a Chinese explanation, not a stack."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message


@dataclass
class PageContext:
    """One page request: the signed-in actor, the request's session and the villages the actor may see."""

    request: Request
    actor: Actor
    session: AsyncSession
    csrf: str
    villages: list[VillageName] = field(default_factory=list)
    form: FormData | None = None  # a POST's fields (the CSRF token already checked)
    savepoint: AsyncSessionTransaction | None = None  # a POST's: what `undo` goes back to

    async def undo(self) -> None:
        """Take back everything the form's attempt wrote (its transaction may be aborted), keeping what the
        page loaded before it, so the page can show the form again with the refusal. The ≥400 answer then
        rolls the whole request back as well."""
        if self.savepoint is not None and self.savepoint.is_active:
            await self.savepoint.rollback()
        self.savepoint = await self.session.begin_nested()

    @property
    def me(self) -> Actor:
        return self.actor

    @property
    def roles(self) -> set[str]:
        return {g.role.value for g in self.actor.grants}

    def has(self, *roles: str) -> bool:
        return bool(self.roles & set(roles))

    def grants(self, role: str) -> list[Grant]:
        return [g for g in self.actor.grants if g.role.value == role]

    @property
    def village(self) -> VillageName | None:
        wanted = self.request.query_params.get("v")
        for v in self.villages:
            if wanted and str(v.id) == wanted:
                return v
        return self.villages[0] if self.villages else None

    @property
    def village_id(self) -> uuid.UUID:
        village = self.village
        if village is None:
            raise PageRefused(404, "您还没有加入任何村")
        return village.id

    @property
    def household_id(self) -> uuid.UUID | None:
        for grant in self.grants("villager"):
            if grant.household_id is not None:
                return grant.household_id
        return None

    def need(self, *roles: str) -> None:
        if not self.has(*roles):
            raise PageRefused(403, "您的账号没有使用这个页面的权限")

    def field(self, name: str) -> str:
        """A posted text field, stripped of nothing ('' when absent)."""
        value = self.form.get(name) if self.form is not None else None
        return value if isinstance(value, str) else ""

    def caller_key(self) -> CallerKey:
        """The posted form's idempotency key, as this user's (see `form_key`)."""
        return CallerKey(self.actor.user_id, form_key(self.form or {}))

    async def once(
        self, village_id: uuid.UUID, body: BaseModel, model: type[M], produce: Callable[[], Awaitable[M]]
    ) -> M:
        """A money-moving form's change once per rendered form (a double tap, a reload): `run_once` under the
        form's key, fingerprinted by the page's path and the parsed body; the first answer either way."""
        return await run_once(
            self.session,
            village_id=village_id,
            key=self.caller_key(),
            fingerprint=request_fingerprint(self.request, body),
            model=model,
            produce=produce,
        )

    def render_form(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        """A page with forms: `values` (as typed) and `errors` (by field) are there, empty unless given."""
        return self.render(template, status, **({"values": {}, "errors": {}} | values))

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        return templates.TemplateResponse(
            self.request,
            template,
            {"page": self, "csrf": self.csrf, "new_key": new_key, **values},
            status_code=status,
        )


def field_errors(exc: ValidationError, prefix: str = "") -> dict[str, str]:
    """A model's validation errors by field name (the part after `prefix`), in Chinese, for showing next to
    the field: the same sentences the API's 422 carries."""
    out: dict[str, str] = {}
    for err in exc.errors():
        name = validation.field_of(err)
        if prefix and name.startswith(prefix):
            name = name[len(prefix) :]
        out.setdefault(name or "_", validation.message(err))
    return out


def parse(model: type[M], values: Mapping[str, Any]) -> tuple[M | None, dict[str, str]]:
    """A form as the API's input model: the model, or the errors to show next to each field."""
    try:
        return model.model_validate(values), {}
    except ValidationError as exc:
        return None, field_errors(exc)


def form_key(form: Any) -> str:
    """The Idempotency-Key for a posted form: the key rendered into it, so a double tap posts once. A form
    that arrives without one (a hand-made request) gets a key of its own instead of sharing a constant."""
    key = str(form.get("idempotency_key") or "")
    if not 1 <= len(key) <= 64 or not all(" " < ch <= "~" for ch in key):
        key = uuid.uuid4().hex
    return f"web-{key}"


def new_key() -> str:
    """A fresh idempotency key for one rendered form: a double tap sends the same key, and posts once."""
    return uuid.uuid4().hex


def _path(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


async def _page(request: Request, actor: Actor, session: AsyncSession) -> PageContext:
    web = websession.read(request.app.state.settings, request)
    if web is None:  # signed in with a bearer token on a page: pages go by the cookie alone
        raise LoginRequired(_path(request))
    page = PageContext(
        request=request,
        actor=actor,
        session=session,
        csrf=web.csrf,
        villages=await villages.visible_village_names(session, actor, limit=200),
    )
    if request.method == "POST":
        page.form = await request.form()
        if not websession.same(web.csrf, page.field("csrf_token")):
            raise PageRefused(403, "页面已过期或来源不明，请返回刷新后再提交")
        page.savepoint = await session.begin_nested()
    return page


async def current_page(request: Request, actor: CurrentActor, session: Session) -> PageContext:
    return await _page(request, actor, session)


async def signed_in_page(request: Request, actor: SignedInActor, session: Session) -> PageContext:
    """The page of a signed-in user even while a reset password waits to be changed (that page, sign-out)."""
    return await _page(request, actor, session)


CurrentPage = Annotated[PageContext, Depends(current_page)]
SignedInPage = Annotated[PageContext, Depends(signed_in_page)]


def login_redirect(next_path: str) -> RedirectResponse:
    response = RedirectResponse(f"/login?next={quote(next_path, safe='')}", status_code=303)
    websession.clear_cookie(response)  # a dead or missing session: the browser forgets it
    return response


def go(path: str) -> Response:
    """After a form that changed something, its result on a page of its own: a reload re-posts nothing."""
    return RedirectResponse(path, status_code=303)


REFUSAL_HEADINGS = {403: "没有权限", 404: "找不到这个页面"}


def refusal(
    request: Request, status: int, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    return templates.TemplateResponse(
        request,
        "refused.html",
        {"page": None, "heading": REFUSAL_HEADINGS.get(status, "操作没有完成"), "message": message},
        status_code=status,
        headers=dict(headers or {}),
    )


def page_error(request: Request, exc: JifenError) -> Response | None:
    """A refusal on a page, as a page: sign in again, change the password first, or a Chinese explanation
    with the API's status. None for the API, which answers in JSON."""
    if not is_page(request):
        return None
    if exc.status == 401:
        return login_redirect(_path(request))
    if exc.code == "password_change_required":
        return RedirectResponse(f"/password?next={quote(_path(request), safe='')}", status_code=303)
    return refusal(request, exc.status, exc.detail)
