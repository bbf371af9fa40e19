"""The village admin's pages (households, users, rules, stores, settings, the printable notice board) and the
town admin's overview of every village."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from jifen.auth.passwords import MIN_PASSWORD_LENGTH
from jifen.kit.db import PageRoute
from jifen.kit.timeutil import this_month, to_local, utcnow
from jifen.web.api import ApiResult
from jifen.web.context import CurrentPage, Page, form_key, go

router = APIRouter(include_in_schema=False, route_class=PageRoute)

PERIODS = ("day", "week", "month", "quarter", "year")
REVIEWS = ("none", "single", "double")
ROLES = ("villager", "cadre", "reviewer", "clerk", "village_admin")
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
USERNAME = re.compile(r"^[A-Za-z0-9_.@\-]{3,64}$")
PHONE = re.compile(r"^\+?[0-9][0-9 \-]{4,18}$")
CODE_HINT = "只能用字母、数字和 _ . -，以字母或数字开头"


def _admin(page: Page) -> str:
    """The village the admin manages (the page refuses anyone else)."""
    page.need("village_admin")
    return page.village_id


def _values(form: FormData, *names: str) -> dict[str, str]:
    return {name: str(form.get(name) or "").strip() for name in names}


def _number(
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
        number = int(raw)
    except ValueError:
        errors[name] = message or "请填写整数"
        return None
    if not low <= number <= high:
        errors[name] = message or f"请填写 {low} 到 {high} 之间的整数"
        return None
    return number


def _day(values: dict[str, str], errors: dict[str, str], name: str) -> str | None:
    raw = values.get(name, "")
    if not raw:
        return None
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        errors[name] = "日期格式应为 2026-11-22"
        return None


def _api_errors(
    result: ApiResult, fields: tuple[str, ...], rename: dict[str, str] | None = None
) -> dict[str, str]:
    """The API's refusal as errors by form field; what belongs to no field goes to `_` (the banner)."""
    errors: dict[str, str] = {}
    for name, message in result.field_errors().items():
        for prefix, field_name in (rename or {}).items():
            if name.startswith(prefix):
                name = field_name
                break
        if name in fields:
            errors.setdefault(name, message)
        else:
            errors.setdefault("_", result.detail)
    if not errors:
        errors["_"] = result.detail
    return errors


def _failed(result: ApiResult) -> int:
    return result.status if result.status in (403, 404, 409) else 422


# the dashboard and the village's settings

SETTINGS = ("notice_days", "cancel_window_minutes", "reservation_days")


async def _home(page: Page, *, status: int = 200, **extra: Any) -> Response:
    village_id = _admin(page)
    village = page.village or {}
    checkpoints = await page.api.get(f"/villages/{village_id}/checkpoints")
    verdict = await page.api.get("/audit/verify", village_id=village_id)
    extra.setdefault("values", {name: str(village.get(name, "")) for name in SETTINGS})
    extra.setdefault("errors", {})
    return page.render(
        "admin_home.html",
        status=status,
        title="村务管理",
        village=village,
        checkpoint=(checkpoints.body.get("items") or [None])[0] if checkpoints.ok else None,
        verdict=verdict.body if verdict.ok else None,
        **extra,
    )


@router.get("/admin", response_class=HTMLResponse)
async def home(page: CurrentPage, done: str | None = None) -> Response:
    flash = {"settings": "设置已保存", "sealed": "已生成新的防篡改校验码"}.get(done or "")
    return await _home(page, flash=flash)


@router.post("/admin/settings", response_class=HTMLResponse)
async def change_settings(page: CurrentPage) -> Response:
    village_id = _admin(page)
    values = _values(await page.request.form(), *SETTINGS)
    errors: dict[str, str] = {}
    body = {
        "notice_days": _number(values, errors, "notice_days", low=0, high=30, required=True),
        "cancel_window_minutes": _number(
            values, errors, "cancel_window_minutes", low=0, high=43200, required=True
        ),
        "reservation_days": _number(values, errors, "reservation_days", low=1, high=90, required=True),
    }
    if not errors:
        result = await page.api.call("PATCH", f"/villages/{village_id}", json=body)
        if result.ok:
            return go("/admin?done=settings")
        errors = _api_errors(result, SETTINGS)
    return await _home(page, status=422, values=values, errors=errors, problem=errors.get("_"))


@router.post("/admin/checkpoints", response_class=HTMLResponse)
async def seal(page: CurrentPage) -> Response:
    village_id = _admin(page)
    form = await page.request.form()
    result = await page.api.post(f"/villages/{village_id}/checkpoints")
    back = "/admin/notice-board" if form.get("back") == "board" else "/admin"
    if result.ok:
        return go(f"{back}?done=sealed")
    return await _home(page, status=_failed(result), problem=result.detail)


# households


HOUSEHOLD_FIELDS = ("code", "head_name", "grid", "address", "household_class", "members")


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
    page: Page, q: str | None, grid: str | None, cursor: str | None, *, status: int = 200, **extra: Any
) -> Response:
    village_id = _admin(page)
    found = await page.must(
        await page.api.get(f"/villages/{village_id}/households", q=q, grid=grid, cursor=cursor, limit=50)
    )
    extra.setdefault("values", {})
    extra.setdefault("errors", {})
    return page.render(
        "admin_households.html",
        status=status,
        title="农户花名册",
        items=found["items"],
        next=found["next_cursor"],
        q=q or "",
        grid=grid or "",
        **extra,
    )


@router.get("/admin/households", response_class=HTMLResponse)
async def households(
    page: CurrentPage,
    q: str | None = None,
    grid: str | None = None,
    cursor: str | None = None,
    done: str | None = None,
) -> Response:
    flash = f"已建档：{done}" if done else None
    return await _households(page, q, grid, cursor, flash=flash)


@router.post("/admin/households", response_class=HTMLResponse)
async def create_household(page: CurrentPage) -> Response:
    village_id = _admin(page)
    values = _values(await page.request.form(), *HOUSEHOLD_FIELDS)
    errors: dict[str, str] = {}
    if not values["code"]:
        errors["code"] = "请填写户号"
    elif not CODE.match(values["code"]) or len(values["code"]) > 32:
        errors["code"] = f"户号{CODE_HINT}，最多 32 位"
    if not values["head_name"]:
        errors["head_name"] = "请填写户主姓名"
    members, problem = _members(values["members"])
    if problem:
        errors["members"] = problem
    status = 422
    if not errors:
        body: dict[str, Any] = {"code": values["code"], "head_name": values["head_name"], "members": members}
        for name in ("grid", "address", "household_class"):
            if values[name]:
                body[name] = values[name]
        result = await page.api.post(f"/villages/{village_id}/households", body)
        if result.ok:
            return go(f"/admin/households/{result.body['id']}?done=created")
        errors = _api_errors(result, HOUSEHOLD_FIELDS, {"members": "members"})
        if result.error == "duplicate_code":
            errors, status = {"code": result.detail}, 409
    return await _households(
        page, None, None, None, status=status, values=values, errors=errors, problem=errors.get("_")
    )


async def _household(page: Page, household_id: str, *, status: int = 200, **extra: Any) -> Response:
    _admin(page)
    household = await page.must(await page.api.get(f"/households/{household_id}"))
    extra.setdefault("values", {})
    extra.setdefault("errors", {})
    return page.render(
        "admin_household.html",
        status=status,
        title=f"{household['code']} {household['head_name']}",
        household=household,
        **extra,
    )


@router.get("/admin/households/{household_id}", response_class=HTMLResponse)
async def household(page: CurrentPage, household_id: str, done: str | None = None) -> Response:
    flash = {"created": "农户已建档", "member": "家庭成员已添加"}.get(done or "")
    return await _household(page, household_id, flash=flash)


@router.post("/admin/households/{household_id}/members", response_class=HTMLResponse)
async def add_member(page: CurrentPage, household_id: str) -> Response:
    _admin(page)
    values = _values(await page.request.form(), "name", "phone")
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = "请填写姓名"
    if values["phone"] and not PHONE.match(values["phone"]):
        errors["phone"] = "电话号码格式不正确，例如 13800000000"
    if not errors:
        body = {"name": values["name"], **({"phone": values["phone"]} if values["phone"] else {})}
        result = await page.api.post(f"/households/{household_id}/members", body)
        if result.ok:
            return go(f"/admin/households/{household_id}?done=member")
        errors = _api_errors(result, ("name", "phone"))
    return await _household(
        page, household_id, status=422, values=values, errors=errors, problem=errors.get("_")
    )


# users


USER_FIELDS = ("username", "display_name", "password", "role", "household_code", "store_id", "grid")


async def _users(page: Page, cursor: str | None, *, status: int = 200, **extra: Any) -> Response:
    village_id = _admin(page)
    users = await page.must(await page.api.get(f"/villages/{village_id}/users", cursor=cursor, limit=100))
    stores = await page.must(await page.api.get(f"/villages/{village_id}/stores"))
    extra.setdefault("values", {"role": "villager"})
    extra.setdefault("errors", {})
    extra.setdefault("failed", None)
    extra.setdefault("reset", None)
    return page.render(
        "admin_users.html",
        status=status,
        title="用户与角色",
        users=users["items"],
        next=users["next_cursor"],
        stores=stores["items"],
        store_names={s["id"]: s["name"] for s in stores["items"]},
        roles=ROLES,
        **extra,
    )


USER_DONE = {
    "disabled": "已停用：{}。TA 在所有设备上的登录都已退出",
    "enabled": "已恢复：{}，可以重新登录",
    "role_removed": "已取消 {} 的这个角色",
}


@router.get("/admin/users", response_class=HTMLResponse)
async def users(
    page: CurrentPage, cursor: str | None = None, done: str | None = None, did: str | None = None
) -> Response:
    flash: str | None = None
    if done:
        flash = USER_DONE[did].format(done) if did in USER_DONE else f"已创建用户：{done}"
    return await _users(page, cursor, flash=flash)


async def _manage(page: Page, user_id: str, action: str, body: dict[str, Any], did: str) -> Response:
    """One management form (disable, enable, remove a role): done → the list with a note; refused → the list
    with the reason next to that user."""
    _admin(page)
    result = await page.api.post(f"/users/{user_id}/{action}", body)
    if result.ok:
        return go(f"/admin/users?did={did}&done={result.body['username']}#u-{user_id}")
    if result.status == 422:
        message = result.field_errors().get("reason") or "请写明原因"
    else:
        message = result.detail
    return await _users(page, None, status=_failed(result), errors={f"u-{user_id}": message}, failed=user_id)


@router.post("/admin/users/{user_id}/disable", response_class=HTMLResponse)
async def disable_user(page: CurrentPage, user_id: str) -> Response:
    reason = _values(await page.request.form(), "reason")["reason"]
    if not reason:
        _admin(page)
        return await _users(
            page, None, status=422, errors={f"u-{user_id}": "请写明停用的原因"}, failed=user_id
        )
    return await _manage(page, user_id, "disable", {"reason": reason}, "disabled")


@router.post("/admin/users/{user_id}/enable", response_class=HTMLResponse)
async def enable_user(page: CurrentPage, user_id: str) -> Response:
    reason = _values(await page.request.form(), "reason")["reason"]
    return await _manage(page, user_id, "enable", {"reason": reason or None}, "enabled")


@router.post("/admin/users/{user_id}/roles/remove", response_class=HTMLResponse)
async def remove_role(page: CurrentPage, user_id: str) -> Response:
    values = _values(await page.request.form(), "role", "store_id", "household_id", "grid", "reason")
    if not values["reason"]:
        _admin(page)
        return await _users(
            page, None, status=422, errors={f"u-{user_id}": "请写明取消角色的原因"}, failed=user_id
        )
    body = {
        "role": values["role"],
        "village_id": page.village_id,
        "store_id": values["store_id"] or None,
        "household_id": values["household_id"] or None,
        "grid": values["grid"] or None,
        "reason": values["reason"],
    }
    return await _manage(page, user_id, "roles/remove", body, "role_removed")


@router.post("/admin/users/{user_id}/reset-password", response_class=HTMLResponse)
async def reset_password(page: CurrentPage, user_id: str) -> Response:
    """The one-time password is shown on this answer only (never in a link or a redirect): the admin reads it
    out or writes it down for the user, who must replace it at the next sign-in."""
    _admin(page)
    reason = _values(await page.request.form(), "reason")["reason"]
    result = await page.api.post(f"/users/{user_id}/reset-password", {"reason": reason or None})
    if not result.ok:
        return await _users(
            page, None, status=_failed(result), errors={f"u-{user_id}": result.detail}, failed=user_id
        )
    response = await _users(
        page, None, reset={"user": result.body["user"], "password": result.body["one_time_password"]}
    )
    response.headers["Cache-Control"] = "no-store"  # the password must not stay in a cache or history
    return response


async def _household_by_code(page: Page, village_id: str, code: str) -> str | None:
    found = await page.api.get(f"/villages/{village_id}/households", q=code, limit=20)
    for household in found.body.get("items", []) if found.ok else []:
        if household["code"].lower() == code.lower():
            return str(household["id"])
    return None


@router.post("/admin/users", response_class=HTMLResponse)
async def create_user(page: CurrentPage) -> Response:
    village_id = _admin(page)
    values = _values(await page.request.form(), *USER_FIELDS)
    errors: dict[str, str] = {}
    if not USERNAME.match(values["username"]):
        errors["username"] = "用户名 3 到 64 位，只能用字母、数字和 _ . @ -"
    if not values["display_name"]:
        errors["display_name"] = "请填写姓名"
    if len(values["password"]) < MIN_PASSWORD_LENGTH:
        errors["password"] = f"密码至少 {MIN_PASSWORD_LENGTH} 位"
    grant: dict[str, Any] = {"role": values["role"], "village_id": village_id}
    if values["role"] not in ROLES:
        errors["role"] = "请选择一个角色"
    elif values["role"] == "villager":
        if not values["household_code"]:
            errors["household_code"] = "村民需要填写所属的户号"
        else:
            household_id = await _household_by_code(page, village_id, values["household_code"])
            if household_id is None:
                errors["household_code"] = f"本村没有户号 {values['household_code']}"
            grant["household_id"] = household_id
    elif values["role"] == "clerk":
        if not values["store_id"]:
            errors["store_id"] = "店员需要选择所在的积分超市"
        grant["store_id"] = values["store_id"]
    elif values["role"] == "cadre" and values["grid"]:
        grant["grid"] = values["grid"]
    status = 422
    if not errors:
        body = {
            "username": values["username"],
            "password": values["password"],
            "display_name": values["display_name"],
            "roles": [grant],
        }
        result = await page.api.post("/users", body)
        if result.ok:
            return go(f"/admin/users?done={values['username']}")
        errors = _api_errors(
            result,
            USER_FIELDS,
            {
                "roles.0.grid": "grid",
                "roles.0.store_id": "store_id",
                "roles.0.household_id": "household_code",
            },
        )
        if result.error == "duplicate_username":
            errors, status = {"username": result.detail}, 409
        elif result.error == "invalid_role":
            errors = {"role": result.detail}
    values["password"] = ""  # never sent back to the browser
    return await _users(
        page,
        None,
        status=status,
        values=values,
        errors=errors,
        problem=errors.get("_"),
    )


# rules


RULE_FIELDS = (
    "code",
    "name",
    "category",
    "points",
    "cap_count",
    "cap_period",
    "review",
    "evidence_required",
    "rectification_share",
    "active_from",
    "active_until",
)
RULE_RENAMES = {"cap.count": "cap_count", "cap.period": "cap_period", "cap": "cap_count"}


def _rule_body(values: dict[str, str], errors: dict[str, str], *, creating: bool) -> dict[str, Any]:
    """The rule the form describes, every field given (a change sends only what differs)."""
    if creating:
        if not values["code"]:
            errors["code"] = "请填写编号"
        elif not CODE.match(values["code"]) or len(values["code"]) > 32:
            errors["code"] = f"编号{CODE_HINT}，最多 32 位"
    if not values["name"]:
        errors["name"] = "请填写细则名称"
    elif len(values["name"]) > 64:
        errors["name"] = "名称太长了，最多 64 个字"
    if not values["category"]:
        errors["category"] = "请填写分类，例如 人居环境"
    points = _number(
        values,
        errors,
        "points",
        low=-100000,
        high=100000,
        required=True,
        message="分值请填写不为 0 的整数（-100000 到 100000），扣分填负数，例如 -5",
    )
    if points == 0:
        errors["points"] = "分值不能为 0：加分填正数，扣分填负数，例如 -5"
    cap_count = _number(values, errors, "cap_count", low=1, high=10_000_000)
    if cap_count is not None and values["cap_period"] not in PERIODS:
        errors["cap_period"] = "填写了上限，请选择上限的周期"
    if values["review"] not in REVIEWS:
        errors["review"] = "请选择审核方式"
    share = _number(values, errors, "rectification_share", low=1, high=100)
    if share is not None and points is not None and points > 0:
        errors["rectification_share"] = "整改返还只适用于扣分细则（分值为负数）"
    active_from = _day(values, errors, "active_from")
    active_until = _day(values, errors, "active_until")
    if active_from and active_until and active_from > active_until:
        errors["active_until"] = "结束日期不能早于开始日期"
    body: dict[str, Any] = {
        "name": values["name"],
        "category": values["category"],
        "points": points,
        "cap": {"count": cap_count, "period": values["cap_period"]} if cap_count is not None else None,
        "evidence_required": values["evidence_required"] == "on",
        "review": values["review"],
        "rectification_share": share,
        "active_from": active_from,
        "active_until": active_until,
    }
    if creating:
        body["code"] = values["code"]
    return body


def _rule_values(rule: dict[str, Any]) -> dict[str, str]:
    cap = rule.get("cap") or {}
    return {
        "code": rule["code"],
        "name": rule["name"],
        "category": rule["category"],
        "points": str(rule["points"]),
        "cap_count": str(cap.get("count") or ""),
        "cap_period": cap.get("period") or "",
        "review": rule["review"],
        "evidence_required": "on" if rule["evidence_required"] else "",
        "rectification_share": str(rule.get("rectification_share") or ""),
        "active_from": rule.get("active_from") or "",
        "active_until": rule.get("active_until") or "",
    }


def _groups(rules: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rule in sorted(rules, key=lambda r: (r["category"], not r["active"], r["code"])):
        groups[rule["category"]].append(rule)
    return dict(groups)


async def _rules(page: Page, *, status: int = 200, **extra: Any) -> Response:
    village_id = _admin(page)
    rules = await page.must(await page.api.get(f"/villages/{village_id}/rules", limit=200))
    extra.setdefault("values", {"review": "none"})
    extra.setdefault("errors", {})
    return page.render(
        "admin_rules.html",
        status=status,
        title="积分细则",
        groups=_groups(rules["items"]),
        categories=sorted({r["category"] for r in rules["items"]}),
        periods=PERIODS,
        reviews=REVIEWS,
        **extra,
    )


@router.get("/admin/rules", response_class=HTMLResponse)
async def rules(page: CurrentPage, done: str | None = None) -> Response:
    return await _rules(page, flash=f"已添加细则：{done}" if done else None)


@router.post("/admin/rules", response_class=HTMLResponse)
async def create_rule(page: CurrentPage) -> Response:
    village_id = _admin(page)
    values = _values(await page.request.form(), *RULE_FIELDS)
    errors: dict[str, str] = {}
    body = _rule_body(values, errors, creating=True)
    status = 422
    if not errors:
        result = await page.api.post(
            f"/villages/{village_id}/rules", {k: v for k, v in body.items() if v is not None}
        )
        if result.ok:
            return go(f"/admin/rules?done={result.body['code']}")
        errors = _api_errors(result, RULE_FIELDS, RULE_RENAMES)
        if result.error == "duplicate_code":
            errors, status = {"code": result.detail}, 409
    return await _rules(
        page,
        status=status,
        values=values,
        errors=errors,
        problem=errors.get("_"),
    )


async def _rule(page: Page, rule_id: str, *, status: int = 200, **extra: Any) -> Response:
    _admin(page)
    versions = await page.must(await page.api.get(f"/rules/{rule_id}/versions"))
    current = versions["items"][0]
    extra.setdefault("values", _rule_values(current))
    extra.setdefault("errors", {})
    return page.render(
        "admin_rule.html",
        status=status,
        title=current["name"],
        rule=current,
        versions=versions["items"],
        periods=PERIODS,
        reviews=REVIEWS,
        **extra,
    )


@router.get("/admin/rules/{rule_id}", response_class=HTMLResponse)
async def rule(page: CurrentPage, rule_id: str, done: str | None = None) -> Response:
    flash = {"changed": "已保存为新版本", "retired": "细则已停用", "restored": "细则已重新启用"}.get(
        done or ""
    )
    return await _rule(page, rule_id, flash=flash)


@router.post("/admin/rules/{rule_id}", response_class=HTMLResponse)
async def change_rule(page: CurrentPage, rule_id: str) -> Response:
    _admin(page)
    values = _values(await page.request.form(), *RULE_FIELDS)
    versions = await page.must(await page.api.get(f"/rules/{rule_id}/versions"))
    current = versions["items"][0]
    values["code"] = current["code"]
    errors: dict[str, str] = {}
    wanted = _rule_body(values, errors, creating=False)
    if not errors:
        before = _rule_body(_rule_values(current), {}, creating=False)
        changes = {k: v for k, v in wanted.items() if before.get(k) != v}
        if not changes:
            return await _rule(page, rule_id, values=values, flash="没有修改任何内容")
        result = await page.api.call("PATCH", f"/rules/{rule_id}", json=changes)
        if result.ok:
            return go(f"/admin/rules/{rule_id}?done=changed")
        errors = _api_errors(result, RULE_FIELDS, RULE_RENAMES)
    return await _rule(page, rule_id, status=422, values=values, errors=errors, problem=errors.get("_"))


@router.post("/admin/rules/{rule_id}/active", response_class=HTMLResponse)
async def retire_rule(page: CurrentPage, rule_id: str) -> Response:
    _admin(page)
    active = (await page.request.form()).get("active") == "true"
    result = await page.api.call("PATCH", f"/rules/{rule_id}", json={"active": active})
    if result.ok:
        return go(f"/admin/rules/{rule_id}?done={'restored' if active else 'retired'}")
    return await _rule(page, rule_id, status=_failed(result), problem=result.detail)


# stores and their items


async def _stores(page: Page, *, status: int = 200, **extra: Any) -> Response:
    village_id = _admin(page)
    stores = await page.must(await page.api.get(f"/villages/{village_id}/stores"))
    extra.setdefault("values", {})
    extra.setdefault("errors", {})
    return page.render("admin_stores.html", status=status, title="积分超市", stores=stores["items"], **extra)


@router.get("/admin/stores", response_class=HTMLResponse)
async def stores(page: CurrentPage, done: str | None = None) -> Response:
    flash = {"created": "积分超市已开设", "paused": "已暂停营业", "resumed": "已恢复营业"}.get(done or "")
    return await _stores(page, flash=flash)


@router.post("/admin/stores", response_class=HTMLResponse)
async def create_store(page: CurrentPage) -> Response:
    village_id = _admin(page)
    values = _values(await page.request.form(), "name")
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = "请填写超市名称"
    if not errors:
        result = await page.api.post(f"/villages/{village_id}/stores", {"name": values["name"]})
        if result.ok:
            return go("/admin/stores?done=created")
        errors = _api_errors(result, ("name",))
    return await _stores(page, status=422, values=values, errors=errors, problem=errors.get("_"))


@router.post("/admin/stores/{store_id}/active", response_class=HTMLResponse)
async def pause_store(page: CurrentPage, store_id: str) -> Response:
    _admin(page)
    active = (await page.request.form()).get("active") == "true"
    back = (await page.request.form()).get("back")
    result = await page.api.call("PATCH", f"/stores/{store_id}", json={"active": active})
    if result.ok:
        done = "resumed" if active else "paused"
        return go(
            f"/admin/stores/{store_id}?done={done}" if back == "store" else f"/admin/stores?done={done}"
        )
    return await _stores(page, status=_failed(result), problem=result.detail)


ITEM_FIELDS = ("name", "unit", "category", "price_points", "stock", "limit_count", "limit_period")


async def _store(page: Page, store_id: str, *, status: int = 200, **extra: Any) -> Response:
    village_id = _admin(page)
    stores = await page.must(await page.api.get(f"/villages/{village_id}/stores"))
    store = next((s for s in stores["items"] if s["id"] == store_id), None)
    if store is None:
        await page.must(ApiResult(404, {"detail": "找不到这个积分超市"}))
    items = await page.must(await page.api.get(f"/stores/{store_id}/items", limit=200))
    extra.setdefault("values", {})
    extra.setdefault("errors", {})
    extra.setdefault("failed", None)
    return page.render(
        "admin_store.html",
        status=status,
        title=store["name"] if store else "积分超市",
        store=store,
        items=items["items"],
        periods=PERIODS,
        **extra,
    )


@router.get("/admin/stores/{store_id}", response_class=HTMLResponse)
async def store(page: CurrentPage, store_id: str, done: str | None = None) -> Response:
    flash = {
        "item": "商品已上架",
        "restocked": "已入库，库存已增加",
        "on": "商品已上架销售",
        "off": "商品已下架",
        "paused": "已暂停营业",
        "resumed": "已恢复营业",
    }.get(done or "")
    return await _store(page, store_id, flash=flash)


@router.post("/admin/stores/{store_id}/items", response_class=HTMLResponse)
async def create_item(page: CurrentPage, store_id: str) -> Response:
    _admin(page)
    values = _values(await page.request.form(), *ITEM_FIELDS)
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = "请填写商品名称"
    price = _number(values, errors, "price_points", low=1, high=1_000_000, required=True)
    stock = _number(values, errors, "stock", low=0, high=1_000_000) or 0
    limit = _number(values, errors, "limit_count", low=1, high=100_000)
    if limit is not None and values["limit_period"] not in PERIODS:
        errors["limit_period"] = "填写了限购数量，请选择限购周期"
    if not errors:
        body: dict[str, Any] = {"name": values["name"], "price_points": price, "stock": stock}
        for name in ("unit", "category"):
            if values[name]:
                body[name] = values[name]
        if limit is not None:
            body["limit"] = {"count": limit, "period": values["limit_period"]}
        result = await page.api.post(f"/stores/{store_id}/items", body)
        if result.ok:
            return go(f"/admin/stores/{store_id}?done=item")
        errors = _api_errors(
            result, ITEM_FIELDS, {"limit.count": "limit_count", "limit.period": "limit_period"}
        )
    return await _store(
        page, store_id, status=422, values=values, errors=errors, failed="new", problem=errors.get("_")
    )


@router.post("/admin/items/{item_id}/active", response_class=HTMLResponse)
async def item_on_sale(page: CurrentPage, item_id: str) -> Response:
    _admin(page)
    form = await page.request.form()
    store_id = str(form.get("store_id") or "")
    active = form.get("active") == "true"
    result = await page.api.call("PATCH", f"/items/{item_id}", json={"active": active})
    if result.ok:
        return go(f"/admin/stores/{result.body['store_id']}?done={'on' if active else 'off'}")
    return await _store(page, store_id, status=_failed(result), problem=result.detail)


@router.post("/admin/items/{item_id}/restock", response_class=HTMLResponse)
async def restock(page: CurrentPage, item_id: str) -> Response:
    _admin(page)
    form = await page.request.form()
    store_id = str(form.get("store_id") or "")
    values = _values(form, "quantity", "note")
    errors: dict[str, str] = {}
    quantity = _number(
        values,
        errors,
        "quantity",
        low=1,
        high=1_000_000,
        required=True,
        message="入库数量请填 1 到 1000000 的整数",
    )
    if not errors:
        body: dict[str, Any] = {"quantity": quantity, **({"note": values["note"]} if values["note"] else {})}
        result = await page.api.post(f"/items/{item_id}/restock", body, key=form_key(form))
        if result.ok:
            return go(f"/admin/stores/{result.body['store_id']}?done=restocked")
        errors = _api_errors(result, ("quantity", "note"))
    return await _store(
        page, store_id, status=422, values=values, errors=errors, failed=item_id, problem=errors.get("_")
    )


# the printable notice board (公示栏) and the rankings


@router.get("/admin/notice-board", response_class=HTMLResponse)
async def notice_board(page: CurrentPage, done: str | None = None) -> Response:
    village_id = _admin(page)
    month = this_month()
    board = await page.must(await page.api.get(f"/villages/{village_id}/notices"))
    lists = await page.api.get(f"/villages/{village_id}/rankings/lists", period=month)
    checkpoints = await page.api.get(f"/villages/{village_id}/checkpoints")
    return page.render(
        "admin_notice_board.html",
        title="公示栏（打印）",
        village=page.village,
        items=board["items"],
        lists=lists.body if lists.ok else None,
        month=month,
        checkpoint=(checkpoints.body.get("items") or [None])[0] if checkpoints.ok else None,
        printed_on=to_local(utcnow()).strftime("%Y年%m月%d日"),
        flash="已生成新的防篡改校验码" if done == "sealed" else None,
    )


@router.get("/admin/rankings")
async def admin_rankings(page: CurrentPage) -> Response:
    _admin(page)
    return go("/rankings")


# the town


VILLAGE_FIELDS = ("code", "name")


async def _town(page: Page, period: str | None, *, status: int = 200, **extra: Any) -> Response:
    page.need("town_admin")
    period = (period or "").strip() or this_month()
    overview = await page.api.get("/town/overview", period=period)
    if not overview.ok:
        extra.setdefault("problem", overview.detail)
        status = 422
        overview = await page.api.get("/town/overview", period=this_month())
    body = await page.must(overview)
    villages = body["villages"]
    totals = {
        key: sum(v[key] for v in villages)
        for key in ("households", "taking_part", "issued", "deducted", "redeemed", "outstanding")
    }
    extra.setdefault("values", {})
    extra.setdefault("errors", {})
    return page.render(
        "town.html",
        status=status,
        title="全镇概况",
        period=period,
        shown=body["period"],
        villages=villages,
        totals=totals,
        **extra,
    )


@router.get("/town", response_class=HTMLResponse)
async def town(page: CurrentPage, period: str | None = None, done: str | None = None) -> Response:
    return await _town(page, period, flash=f"已新建村：{done}" if done else None)


@router.post("/town/villages", response_class=HTMLResponse)
async def create_village(page: CurrentPage) -> Response:
    page.need("town_admin")
    values = _values(await page.request.form(), *VILLAGE_FIELDS)
    errors: dict[str, str] = {}
    if not values["code"]:
        errors["code"] = "请填写村编号"
    elif not CODE.match(values["code"]) or len(values["code"]) > 32:
        errors["code"] = f"村编号{CODE_HINT}，最多 32 位"
    if not values["name"]:
        errors["name"] = "请填写村名"
    status = 422
    if not errors:
        result = await page.api.post("/villages", {"code": values["code"], "name": values["name"]})
        if result.ok:
            return go(f"/town?done={values['name']}")
        errors = _api_errors(result, VILLAGE_FIELDS)
        if result.error == "duplicate_code":
            errors, status = {"code": result.detail}, 409
    return await _town(page, None, status=status, values=values, errors=errors, problem=errors.get("_"))
