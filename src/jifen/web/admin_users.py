"""The village admin's users and their roles: create, disable, enable, reset a password, take a role away."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from jifen.auth.passwords import MIN_PASSWORD_LENGTH
from jifen.households import service as households
from jifen.kit.db import PageRoute
from jifen.kit.errors import JifenError
from jifen.models import User
from jifen.store import service as store
from jifen.users import service as users
from jifen.users.auth import require_user_admin, require_user_manager
from jifen.users.schemas import RoleRemoval, UserCreate, UserDisable, UserReason
from jifen.web.admin import admin_access, apply_form, checked, failed, form_values
from jifen.web.context import CurrentPage, PageContext, field_errors, go

router = APIRouter(include_in_schema=False, route_class=PageRoute)

ROLES = ("villager", "cadre", "reviewer", "clerk", "village_admin")
USERNAME = re.compile(r"^[A-Za-z0-9_.@\-]{3,64}$")
USER_FIELDS = ("username", "display_name", "password", "role", "household_code", "store_id", "grid")
GRANT_FIELDS = {
    "roles.0.grid": "grid",
    "roles.0.store_id": "store_id",
    "roles.0.household_id": "household_code",
}


async def _users(page: PageContext, cursor: str | None, *, status: int = 200, **extra: Any) -> Response:
    village = (await admin_access(page)).village
    listed = await users.village_users_page(page.session, village.id, role=None, cursor=cursor, limit=100)
    stores = await store.list_stores(page.session, village.id)
    extra.setdefault("values", {"role": "villager"})
    extra.setdefault("failed", None)
    extra.setdefault("reset", None)
    return page.render_form(
        "admin_users.html",
        status=status,
        title="用户与角色",
        users=listed.items,
        next=listed.next_cursor,
        stores=stores,
        store_names={s.id: s.name for s in stores},
        roles=ROLES,
        **extra,
    )


USER_DONE = {
    "disabled": "已停用：{}。TA 在所有设备上的登录都已退出",
    "enabled": "已恢复：{}，可以重新登录",
    "role_removed": "已取消 {} 的这个角色",
}


@router.get("/admin/users", response_class=HTMLResponse)
async def list_users(
    page: CurrentPage, cursor: str | None = None, done: str | None = None, did: str | None = None
) -> Response:
    flash: str | None = None
    if done:
        flash = USER_DONE[did].format(done) if did in USER_DONE else f"已创建用户：{done}"
    return await _users(page, cursor, flash=flash)


async def _beside_user(page: PageContext, user_id: uuid.UUID, status: int, message: str) -> Response:
    """The list again, with why the form about this user was refused next to them."""
    return await _users(page, None, status=status, errors={f"u-{user_id}": message}, failed=user_id)


async def _manage(
    page: PageContext,
    user_id: uuid.UUID,
    did: str,
    act: Callable[[], Awaitable[User]],
    missing: str = "请写明原因",
) -> Response:
    """One management form (disable, enable, remove a role): done → the list with a note; refused → the list
    with the reason next to that user."""
    await admin_access(page)
    try:
        require_user_manager(page.actor)
        user = await act()
    except ValidationError as invalid:
        return await _beside_user(page, user_id, 422, field_errors(invalid).get("reason") or missing)
    except JifenError as refused:
        await page.undo()
        return await _beside_user(page, user_id, failed(refused), refused.detail)
    return go(f"/admin/users?did={did}&done={user.username}#u-{user_id}")


@router.post("/admin/users/{user_id}/disable", response_class=HTMLResponse)
async def disable_user(page: CurrentPage, user_id: uuid.UUID) -> Response:
    reason = form_values(page, "reason")["reason"]
    if not reason:
        await admin_access(page)
        return await _beside_user(page, user_id, 422, "请写明停用的原因")

    async def act() -> User:
        body = UserDisable.model_validate({"reason": reason})
        return await users.disable_user(page.session, page.actor, user_id, reason=body.reason)

    return await _manage(page, user_id, "disabled", act)


@router.post("/admin/users/{user_id}/enable", response_class=HTMLResponse)
async def enable_user(page: CurrentPage, user_id: uuid.UUID) -> Response:
    reason = form_values(page, "reason")["reason"]

    async def act() -> User:
        body = UserReason.model_validate({"reason": reason or None})
        return await users.enable_user(page.session, page.actor, user_id, reason=body.reason)

    return await _manage(page, user_id, "enabled", act)


@router.post("/admin/users/{user_id}/roles/remove", response_class=HTMLResponse)
async def remove_role(page: CurrentPage, user_id: uuid.UUID) -> Response:
    values = form_values(page, "role", "store_id", "household_id", "grid", "reason")
    if not values["reason"]:
        await admin_access(page)
        return await _beside_user(page, user_id, 422, "请写明取消角色的原因")
    wanted = {
        "role": values["role"],
        "village_id": page.village_id,
        "store_id": values["store_id"] or None,
        "household_id": values["household_id"] or None,
        "grid": values["grid"] or None,
        "reason": values["reason"],
    }

    async def act() -> User:
        return await users.remove_role(page.session, page.actor, user_id, RoleRemoval.model_validate(wanted))

    return await _manage(page, user_id, "role_removed", act)


@router.post("/admin/users/{user_id}/reset-password", response_class=HTMLResponse)
async def reset_password(page: CurrentPage, user_id: uuid.UUID) -> Response:
    """The one-time password is shown on this answer only (never in a link or a redirect): the admin reads it
    out or writes it down for the user, who must replace it at the next sign-in."""
    await admin_access(page)
    reason = form_values(page, "reason")["reason"]
    try:
        require_user_manager(page.actor)
        body = UserReason.model_validate({"reason": reason or None})
        user, password = await users.reset_password(page.session, page.actor, user_id, reason=body.reason)
    except ValidationError as invalid:
        return await _beside_user(page, user_id, 422, field_errors(invalid).get("reason") or "请写明原因")
    except JifenError as refused:
        await page.undo()
        return await _beside_user(page, user_id, failed(refused), refused.detail)
    shown = users.user_out(user, users.visible_villages(page.actor))
    response = await _users(page, None, reset={"user": shown, "password": password})
    response.headers["Cache-Control"] = "no-store"  # the password must not stay in a cache or history
    return response


async def _household_by_code(page: PageContext, village_id: uuid.UUID, code: str) -> uuid.UUID | None:
    found = await households.find_households(
        page.session, village_id, q=code, grid=None, grids=None, after_code=None, limit=20
    )
    return next((h.id for h in found if h.code.lower() == code.lower()), None)


async def _grant(
    page: PageContext, village_id: uuid.UUID, values: dict[str, str], errors: dict[str, str]
) -> Any:
    """The role the form grants, in the village; what is missing for it goes into `errors`."""
    grant: dict[str, Any] = {"role": values["role"], "village_id": village_id}
    role = values["role"]
    if role not in ROLES:
        errors["role"] = "请选择一个角色"
    elif role == "villager" and not values["household_code"]:
        errors["household_code"] = "村民需要填写所属的户号"
    elif role == "villager":
        household_id = await _household_by_code(page, village_id, values["household_code"])
        if household_id is None:
            errors["household_code"] = f"本村没有户号 {values['household_code']}"
        grant["household_id"] = household_id
    elif role == "clerk":
        if not values["store_id"]:
            errors["store_id"] = "店员需要选择所在的积分超市"
        grant["store_id"] = values["store_id"]
    elif role == "cadre" and values["grid"]:
        grant["grid"] = values["grid"]
    return grant


def _user_errors(values: dict[str, str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not USERNAME.match(values["username"]):
        errors["username"] = "用户名 3 到 64 位，只能用字母、数字和 _ . @ -"
    if not values["display_name"]:
        errors["display_name"] = "请填写姓名"
    if len(values["password"]) < MIN_PASSWORD_LENGTH:
        errors["password"] = f"密码至少 {MIN_PASSWORD_LENGTH} 位"
    return errors


@router.post("/admin/users", response_class=HTMLResponse)
async def create_user(page: CurrentPage) -> Response:
    village_id = (await admin_access(page)).village.id
    values = form_values(page, *USER_FIELDS)
    errors = _user_errors(values)
    grant = await _grant(page, village_id, values, errors)
    wanted = {k: values[k] for k in ("username", "password", "display_name")} | {"roles": [grant]}
    return await apply_form(
        page,
        errors,
        lambda: checked(UserCreate, wanted, USER_FIELDS, GRANT_FIELDS),
        lambda body: _create_user(page, body),
        lambda _: f"/admin/users?done={values['username']}",
        partial(_users, page, None),
        values | {"password": ""},  # the password is never sent back to the browser
        {"duplicate_username": "username", "invalid_role": "role"},
    )


async def _create_user(page: PageContext, body: UserCreate) -> User:
    actor = require_user_admin(page.actor)
    return await users.add_user(page.session, actor, body)
