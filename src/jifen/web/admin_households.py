"""The village admin's roll of households (农户花名册): find, add, and add family members."""

from __future__ import annotations

import re
import uuid
from functools import partial
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from jifen.auth.households import household_admin, read_household
from jifen.auth.scope import HouseholdView
from jifen.households import service as households
from jifen.households.schemas import HouseholdCreate, MemberIn
from jifen.kit.db import PageRoute
from jifen.kit.pagination import BY_TEXT
from jifen.web.admin import admin_access, apply_form, checked, form_values
from jifen.web.context import CurrentPage, PageContext

router = APIRouter(include_in_schema=False, route_class=PageRoute)

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
PHONE = re.compile(r"^\+?[0-9][0-9 \-]{4,18}$")
CODE_HINT = "只能用字母、数字和 _ . -，以字母或数字开头"
HOUSEHOLD_FIELDS = ("code", "head_name", "grid", "address", "household_class", "members")
PAGE_SIZE = 50


def code_error(code: str, what: str) -> str | None:
    """The Chinese reason a typed code (户号, 编号, 村编号) cannot be used, or None."""
    if not code:
        return f"请填写{what}"
    if not CODE.match(code) or len(code) > 32:
        return f"{what}{CODE_HINT}，最多 32 位"
    return None


def _members(text: str) -> tuple[list[dict[str, str]], str | None]:
    """One member a line, "姓名 电话" (the phone may be left out)."""
    members: list[dict[str, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.replace("\u3000", " ").split()
        if not parts:
            continue
        phone = parts[-1] if len(parts) > 1 and any(c.isdigit() for c in parts[-1]) else None
        name = " ".join(parts[:-1] if phone else parts)
        if phone and not PHONE.match(phone):
            return members, f"第 {number} 行的电话号码格式不正确：{phone}"
        if len(name) > 64:
            return members, f"第 {number} 行的姓名太长了，最多 64 个字"
        members.append({"name": name, **({"phone": phone} if phone else {})})
    if len(members) > 30:
        return members, "一户最多登记 30 名家庭成员"
    return members, None


async def _households(
    page: PageContext, q: str | None, grid: str | None, cursor: str | None, *, status: int = 200, **extra: Any
) -> Response:
    village_id = (await admin_access(page)).village.id
    after = BY_TEXT.after(cursor)
    rows = await households.find_households(
        page.session,
        village_id,
        q=q.strip() if q else None,
        grid=grid,
        grids=None,  # the admin sees the whole village
        after_code=after[0] if after else None,
        limit=PAGE_SIZE + 1,
    )
    summaries = [households.household_summary(h, HouseholdView.admin) for h in rows]
    found = BY_TEXT.page(summaries, PAGE_SIZE, lambda h: (h.code,))
    return page.render_form(
        "admin_households.html",
        status=status,
        title="农户花名册",
        items=found.items,
        next=found.next_cursor,
        q=q or "",
        grid=grid or "",
        **extra,
    )


@router.get("/admin/households", response_class=HTMLResponse)
async def list_households(
    page: CurrentPage,
    q: str | None = None,
    grid: str | None = None,
    cursor: str | None = None,
    done: str | None = None,
) -> Response:
    flash = f"已建档：{done}" if done else None
    return await _households(page, q, grid, cursor, flash=flash)


def _household_errors(values: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The household the form describes, and what the admin must fix first."""
    errors: dict[str, str] = {}
    if problem := code_error(values["code"], "户号"):
        errors["code"] = problem
    if not values["head_name"]:
        errors["head_name"] = "请填写户主姓名"
    members, problem = _members(values["members"])
    if problem:
        errors["members"] = problem
    body: dict[str, Any] = {"code": values["code"], "head_name": values["head_name"], "members": members}
    body |= {name: values[name] for name in ("grid", "address", "household_class") if values[name]}
    return body, errors


@router.post("/admin/households", response_class=HTMLResponse)
async def create_household(page: CurrentPage) -> Response:
    access = await admin_access(page)
    values = form_values(page, *HOUSEHOLD_FIELDS)
    wanted, errors = _household_errors(values)
    return await apply_form(
        page,
        errors,
        lambda: checked(HouseholdCreate, wanted, HOUSEHOLD_FIELDS),
        lambda body: households.add_household(page.session, page.actor, access.village, body),
        lambda added: f"/admin/households/{added.id}?done=created",
        partial(_households, page, None, None, None),
        values,
        {"duplicate_code": "code"},
    )


async def _household(
    page: PageContext, household_id: uuid.UUID, *, status: int = 200, **extra: Any
) -> Response:
    await admin_access(page)
    access = await read_household(household_id, page.actor, page.session)
    household = await households.household_out(page.session, access)
    return page.render_form(
        "admin_household.html",
        status=status,
        title=f"{household.code} {household.head_name}",
        household=household,
        **extra,
    )


@router.get("/admin/households/{household_id}", response_class=HTMLResponse)
async def show_household(page: CurrentPage, household_id: uuid.UUID, done: str | None = None) -> Response:
    flash = {"created": "农户已建档", "member": "家庭成员已添加"}.get(done or "")
    return await _household(page, household_id, flash=flash)


@router.post("/admin/households/{household_id}/members", response_class=HTMLResponse)
async def add_member(page: CurrentPage, household_id: uuid.UUID) -> Response:
    await admin_access(page)
    values = form_values(page, "name", "phone")
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = "请填写姓名"
    if values["phone"] and not PHONE.match(values["phone"]):
        errors["phone"] = "电话号码格式不正确，例如 13800000000"
    wanted = {"name": values["name"], **({"phone": values["phone"]} if values["phone"] else {})}
    return await apply_form(
        page,
        errors,
        lambda: checked(MemberIn, wanted, ("name", "phone")),
        lambda body: _add_member(page, household_id, body),
        lambda _: f"/admin/households/{household_id}?done=member",
        partial(_household, page, household_id),
        values,
    )


async def _add_member(page: PageContext, household_id: uuid.UUID, body: MemberIn) -> None:
    access = await household_admin(household_id, page.actor, page.session)
    await households.add_member(page.session, page.actor, access.household, body)
