"""Signing in and out, the home page, and the pages every village user shares: the public notice board and
the rankings."""

from __future__ import annotations

import uuid
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from jifen.auth import browser as websession
from jifen.auth.passwords import MIN_PASSWORD_LENGTH
from jifen.awards import notice
from jifen.awards.auth import award_objector
from jifen.awards.board import board
from jifen.awards.schemas import BoardAward, ObjectionIn
from jifen.kit.db import PageRoute, Session
from jifen.kit.errors import JifenError
from jifen.kit.logging import REQUEST
from jifen.kit.periods import this_month
from jifen.models import AwardStatus
from jifen.rankings import service as ranking
from jifen.rankings.schemas import RankingEntry, RedBlackOut
from jifen.rules.auth import village_user
from jifen.users import sessions as auth
from jifen.web.context import (
    CurrentPage,
    PageContext,
    PageRefused,
    SignedInPage,
    go,
    parse,
    templates,
)

router = APIRouter(include_in_schema=False, route_class=PageRoute)


def nav(page: PageContext) -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []

    def add(href: str, label: str) -> None:
        if all(h != href for h, _ in items):
            items.append((href, label))

    if page.has("town_admin"):
        add("/town", "全镇概况")
    if page.has("villager"):
        add("/me", "我的积分")
        add("/me/history", "积分明细")
        add("/me/store", "积分超市")
        add("/me/report", "申报加分")
        add("/me/card", "户卡")
    if page.has("clerk"):
        add("/counter", "收银台")
        add("/counter/pickup", "预约核销")
        add("/counter/sales", "今日兑换")
    if page.has("cadre", "village_admin"):
        add("/staff/households", "找农户")
        add("/staff/inspections", "网格评分")
    if page.has("reviewer", "village_admin"):
        add("/staff/reviews", "审核")
    if page.has("village_admin"):
        add("/admin", "村务管理")
    if page.villages and not page.has("town_admin"):
        add("/notices", "公示栏")
        add("/rankings", "排行榜")
    return items


def current_tab(tabs: list[tuple[str, str]], path: str) -> str | None:
    """The tab a page belongs to: the longest tab path that is the page's path or a folder of it, so every
    /admin/* page highlights 村务管理 and /me/history 积分明细 rather than 我的积分."""
    owners = [href for href, _ in tabs if path == href or path.startswith(href.rstrip("/") + "/")]
    return max(owners, key=len, default=None)


templates.env.globals["nav"] = nav
templates.env.globals["current_tab"] = current_tab


def _safe_next(value: str | None) -> str:
    """Only a path on this site (never another host) may follow a login."""
    if not value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return "/"
    return value


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str | None = None) -> Response:
    settings = request.app.state.settings
    token = websession.login_csrf(request)
    response = templates.TemplateResponse(
        request,
        "login.html",
        {"page": None, "login_csrf": token, "next": _safe_next(next), "errors": {}, "values": {}},
    )
    websession.set_login_csrf(settings, request, response, token)
    return response


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, session: Session) -> Response:
    settings = request.app.state.settings
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if k in ("username", "next")}
    expected = request.cookies.get(websession.LOGIN_CSRF_COOKIE)
    token = websession.login_csrf(request)
    errors: dict[str, str] = {}
    problem = None
    if not websession.same(expected, str(form.get("csrf_token") or "")):
        problem = "登录页面已过期，请再输入一次"
    else:
        username = str(form.get("username") or "").strip()
        password = str(form.get("password") or "")
        if not username:
            errors["username"] = "请填写用户名"
        if not password:
            errors["password"] = "请填写密码"
        if not errors:
            try:
                user = await auth.sign_in(
                    request.app.state.sessionmaker, session, username, password, REQUEST.get().client_addr
                )
            except JifenError as refused:
                problem = refused.detail
            else:
                target = _safe_next(values.get("next"))
                if user.must_change_password:
                    target = f"/password?next={quote(target, safe='')}"
                done = RedirectResponse(target, status_code=303)
                cookie = websession.issue(settings, user.id, user.credential_version)
                websession.set_cookie(settings, request, done, cookie)
                done.delete_cookie(websession.LOGIN_CSRF_COOKIE, path="/login")
                return done
    response = templates.TemplateResponse(
        request,
        "login.html",
        {
            "page": None,
            "login_csrf": token,
            "next": _safe_next(values.get("next")),
            "errors": errors,
            "values": values,
            "problem": problem,
        },
        status_code=401 if problem else 422,
    )
    websession.set_login_csrf(settings, request, response, token)
    return response


@router.post("/logout")
async def logout(page: SignedInPage) -> Response:
    """Sign out everywhere: a copy of this cookie (another tab, another phone) stops working too."""
    await auth.sign_out(page.session, page.actor)
    response = RedirectResponse("/login", status_code=303)
    websession.clear_cookie(response)
    return response


def _password_page(page: PageContext, next_path: str, *, status: int = 200, **extra: object) -> Response:
    return page.render(
        "password.html",
        status=status,
        title="修改密码",
        next=next_path,
        forced=page.actor.must_change_password,
        min_length=MIN_PASSWORD_LENGTH,
        **{"errors": {}, **extra},
    )


@router.get("/password", response_class=HTMLResponse)
async def password_form(page: SignedInPage, next: str | None = None) -> Response:
    return _password_page(page, _safe_next(next))


@router.post("/password", response_class=HTMLResponse)
async def change_password(page: SignedInPage) -> Response:
    settings = page.request.app.state.settings
    old, new, again = (page.field(f) for f in ("old_password", "new_password", "new_password_again"))
    next_path = _safe_next(page.field("next"))
    errors: dict[str, str] = {}
    if not old:
        errors["old_password"] = "请填写原密码（管理员重置后，就是管理员给您的临时密码）"
    if len(new) < MIN_PASSWORD_LENGTH:
        errors["new_password"] = f"新密码至少 {MIN_PASSWORD_LENGTH} 位"
    elif new != again:
        errors["new_password_again"] = "两次输入的新密码不一样"
    if not errors:
        try:
            user = await auth.change_password(page.session, page.actor, old_password=old, new_password=new)
        except JifenError as refused:
            await page.undo()
            field_name = "old_password" if refused.code == "wrong_password" else "new_password"
            errors[field_name] = refused.detail
        else:
            # the other sessions ended with the change; this browser carries on under the new version
            done = RedirectResponse(next_path, status_code=303)
            cookie = websession.issue(settings, user.id, user.credential_version)
            websession.set_cookie(settings, page.request, done, cookie)
            return done
    status = 403 if errors.get("old_password") and old else 422
    return _password_page(page, next_path, status=status, errors=errors)


@router.get("/", response_class=HTMLResponse)
async def home(page: CurrentPage) -> Response:
    items = nav(page)
    if not items:
        raise PageRefused(403, "您的账号还没有分配角色，请联系村管理员")
    if page.has("village_admin") and not page.has("villager"):
        return go("/admin")  # the admin starts from the village's dashboard
    return go(items[0][0])


@router.get("/notices", response_class=HTMLResponse)
async def notices(page: CurrentPage, grid: str | None = None, done: str | None = None) -> Response:
    return page.render(
        "notices.html",
        title="公示栏",
        items=await _board(page, grid),
        grid=grid,
        flash="异议已提交，审核员会尽快处理" if done else None,
        errors={},
        values={},
    )


async def _board(page: PageContext, grid: str | None = None) -> list[BoardAward]:
    """公示栏: what is on public notice in the page's village, through the API's check."""
    access = await village_user(page.village_id, page.actor, page.session)
    return await board(page.session, access.village.id, AwardStatus.public_notice, grid, 500)


@router.post("/notices/{award_id}/object", response_class=HTMLResponse)
async def object_to(page: CurrentPage, award_id: uuid.UUID) -> Response:
    reason = page.field("reason").strip()
    problem, errors = None, {"reason": "请写明异议的理由"}
    if reason:
        try:
            body, errors = parse(ObjectionIn, {"reason": reason})
            if body is not None:
                access = await award_objector(award_id, page.actor, page.session)
                await notice.object_to(page.session, access.actor, access.award_id, reason=body.reason)
                return go("/notices?done=1")
        except JifenError as refused:
            await page.undo()
            problem, errors = refused.detail, {}
    return page.render(
        "notices.html",
        status=422,
        title="公示栏",
        items=await _board(page),
        grid=None,
        problem=problem,
        errors={award_id: errors.get("reason") or problem or ""},
        values={award_id: reason},
    )


@router.get("/rankings", response_class=HTMLResponse)
async def rankings(page: CurrentPage, period: str | None = None, grid: str | None = None) -> Response:
    period = period or this_month()
    access = await village_user(page.village_id, page.actor, page.session)
    items: list[RankingEntry] = []
    lists: RedBlackOut | None = None
    status, problem = 200, None
    try:
        ranked, lists = await ranking.ranking_and_lists(page.session, access.village.id, period, grid)
        items = ranked.items
    except JifenError as refused:  # a period the ranking does not read: the page empty, the refusal above it
        status, problem = 422, refused.detail
    return page.render(
        "rankings.html",
        status,
        title="排行榜",
        items=items,
        lists=lists,
        period=period,
        grid=grid,
        problem=problem,
    )
