"""What every page needs: who is signed in, in which village, the CSRF check, and the templates."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from jifen.kit.timeutil import to_local
from jifen.web import session as websession
from jifen.web.api import Api, ApiResult

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
PERIOD_WORDS = {"day": "每天", "week": "每周", "month": "每月", "quarter": "每季度", "year": "每年"}
REVIEW_NAMES = {"none": "无需审核", "single": "一人审核", "double": "两人审核"}


def signed(value: Any) -> str:
    number = int(value or 0)
    return f"+{number}" if number > 0 else (f"−{-number}" if number < 0 else "0")


def local_time(value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if not value:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return to_local(moment).strftime(fmt)


templates.env.filters.update(
    signed=signed,
    local=local_time,
    kind=lambda v: KIND_NAMES.get(str(v), str(v)),
    compensated=lambda v: COMPENSATED_NAMES.get(str(v), str(v)),
    status=lambda v: STATUS_NAMES.get(str(v), str(v)),
    role=lambda v: ROLE_NAMES.get(str(v), str(v)),
    per=lambda v: PERIOD_WORDS.get(str(v), str(v)),
    review=lambda v: REVIEW_NAMES.get(str(v), str(v)),
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
class Page:
    request: Request
    api: Api
    session: websession.WebSession
    me: dict[str, Any]
    villages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def roles(self) -> set[str]:
        return {r["role"] for r in self.me.get("roles", [])}

    def has(self, *roles: str) -> bool:
        return bool(self.roles & set(roles))

    def grants(self, role: str) -> list[dict[str, Any]]:
        return [r for r in self.me.get("roles", []) if r["role"] == role]

    @property
    def village(self) -> dict[str, Any] | None:
        wanted = self.request.query_params.get("v")
        for v in self.villages:
            if wanted and v["id"] == wanted:
                return v
        return self.villages[0] if self.villages else None

    @property
    def village_id(self) -> str:
        village = self.village
        if village is None:
            raise PageRefused(404, "您还没有加入任何村")
        return str(village["id"])

    @property
    def household_id(self) -> str | None:
        for grant in self.grants("villager"):
            if grant.get("household_id"):
                return str(grant["household_id"])
        return None

    def need(self, *roles: str) -> None:
        if not self.has(*roles):
            raise PageRefused(403, "您的账号没有使用这个页面的权限")

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        return templates.TemplateResponse(
            self.request,
            template,
            {"page": self, "csrf": self.session.csrf, "new_key": new_key, **values},
            status_code=status,
        )

    async def must(self, result: ApiResult) -> Any:
        """The body of a successful read; a refused read becomes the refusal page."""
        if result.ok:
            return result.body
        if result.status == 401:
            raise LoginRequired(self.request.url.path)
        raise PageRefused(result.status if result.status in (403, 404) else 400, result.detail)


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


async def _page(request: Request, *, password_change_allowed: bool) -> Page:
    settings = request.app.state.settings
    web = websession.read(settings, request)
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if web is None:
        raise LoginRequired(path)
    api = Api(request, web.user_id, web.credential_version)
    me = await api.get("/auth/me")
    if me.status == 401:  # signed out elsewhere, password changed, or disabled: this cookie is dead
        raise LoginRequired(path)
    if me.ok and me.body.get("must_change_password") and not password_change_allowed:
        raise PasswordChangeNeeded(path)
    villages = await api.get("/villages", limit=200)
    page = Page(
        request=request,
        api=api,
        session=web,
        me=me.body,
        villages=villages.body.get("items", []) if villages.ok else [],
    )
    if request.method == "POST":
        form = await request.form()
        if not websession.same(web.csrf, str(form.get("csrf_token") or "")):
            raise PageRefused(403, "页面已过期或来源不明，请返回刷新后再提交")
    return page


async def current_page(request: Request) -> Page:
    return await _page(request, password_change_allowed=False)


async def signed_in_page(request: Request) -> Page:
    """The page of a signed-in user even while a reset password waits to be changed (that page, sign-out)."""
    return await _page(request, password_change_allowed=True)


CurrentPage = Annotated[Page, Depends(current_page)]
SignedInPage = Annotated[Page, Depends(signed_in_page)]


def login_redirect(next_path: str) -> RedirectResponse:
    response = RedirectResponse(f"/login?next={quote(next_path, safe='')}", status_code=303)
    websession.clear_cookie(response)  # a dead or missing session: the browser forgets it
    return response


def go(path: str) -> Response:
    """After a form that changed something, its result on a page of its own: a reload re-posts nothing."""
    return RedirectResponse(path, status_code=303)
