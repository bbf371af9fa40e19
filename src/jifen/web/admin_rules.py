"""The village admin's rules (积分细则): list by category, add, change (a new version), retire, restore."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date
from functools import partial
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from jifen.kit.db import PageRoute
from jifen.rules import repository as rule_versions
from jifen.rules import service as rules
from jifen.rules.auth import rule_admin, rule_reader
from jifen.rules.schemas import RuleCreate, RuleOut, RulePatch
from jifen.web.admin import PERIODS, admin_access, apply_form, checked, form_values, number, press
from jifen.web.admin_households import code_error
from jifen.web.context import CurrentPage, PageContext

router = APIRouter(include_in_schema=False, route_class=PageRoute)

REVIEWS = ("none", "single", "double")
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


def _day(values: dict[str, str], errors: dict[str, str], name: str) -> str | None:
    raw = values.get(name, "")
    if not raw:
        return None
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        errors[name] = "日期格式应为 2026-11-22"
        return None


def _terms(values: dict[str, str], errors: dict[str, str]) -> dict[str, Any]:
    """Points, cap, review and rectification as the form gives them; what is wrong goes into `errors`."""
    points = number(
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
    cap_count = number(values, errors, "cap_count", low=1, high=10_000_000)
    if cap_count is not None and values["cap_period"] not in PERIODS:
        errors["cap_period"] = "填写了上限，请选择上限的周期"
    if values["review"] not in REVIEWS:
        errors["review"] = "请选择审核方式"
    share = number(values, errors, "rectification_share", low=1, high=100)
    if share is not None and points is not None and points > 0:
        errors["rectification_share"] = "整改返还只适用于扣分细则（分值为负数）"
    return {
        "points": points,
        "cap": {"count": cap_count, "period": values["cap_period"]} if cap_count is not None else None,
        "evidence_required": values["evidence_required"] == "on",
        "review": values["review"],
        "rectification_share": share,
    }


def _rule_body(values: dict[str, str], errors: dict[str, str], *, creating: bool) -> dict[str, Any]:
    """The rule the form describes, every field given (a change sends only what differs)."""
    if creating and (problem := code_error(values["code"], "编号")):
        errors["code"] = problem
    if not values["name"]:
        errors["name"] = "请填写细则名称"
    elif len(values["name"]) > 64:
        errors["name"] = "名称太长了，最多 64 个字"
    if not values["category"]:
        errors["category"] = "请填写分类，例如 人居环境"
    terms = _terms(values, errors)
    active_from = _day(values, errors, "active_from")
    active_until = _day(values, errors, "active_until")
    if active_from and active_until and active_from > active_until:
        errors["active_until"] = "结束日期不能早于开始日期"
    body: dict[str, Any] = {"name": values["name"], "category": values["category"], **terms}
    body |= {"active_from": active_from, "active_until": active_until}
    if creating:
        body["code"] = values["code"]
    return body


def _rule_values(rule: RuleOut) -> dict[str, str]:
    return {
        "code": rule.code,
        "name": rule.name,
        "category": rule.category,
        "points": str(rule.points),
        "cap_count": str(rule.cap.count) if rule.cap else "",
        "cap_period": str(rule.cap.period) if rule.cap else "",
        "review": str(rule.review),
        "evidence_required": "on" if rule.evidence_required else "",
        "rectification_share": str(rule.rectification_share or ""),
        "active_from": rule.active_from.isoformat() if rule.active_from else "",
        "active_until": rule.active_until.isoformat() if rule.active_until else "",
    }


def _groups(items: list[RuleOut]) -> dict[str, list[RuleOut]]:
    groups: dict[str, list[RuleOut]] = defaultdict(list)
    for rule in sorted(items, key=lambda r: (r.category, not r.active, r.code)):
        groups[rule.category].append(rule)
    return dict(groups)


async def _rules(page: PageContext, *, status: int = 200, **extra: Any) -> Response:
    village = (await admin_access(page)).village
    items = await rules.rules_out(page.session, village)
    extra.setdefault("values", {"review": "none"})
    return page.render_form(
        "admin_rules.html",
        status=status,
        title="积分细则",
        groups=_groups(items),
        categories=sorted({r.category for r in items}),
        periods=PERIODS,
        reviews=REVIEWS,
        **extra,
    )


@router.get("/admin/rules", response_class=HTMLResponse)
async def list_rules(page: CurrentPage, done: str | None = None) -> Response:
    return await _rules(page, flash=f"已添加细则：{done}" if done else None)


@router.post("/admin/rules", response_class=HTMLResponse)
async def create_rule(page: CurrentPage) -> Response:
    access = await admin_access(page)
    values = form_values(page, *RULE_FIELDS)
    errors: dict[str, str] = {}
    wanted = {k: v for k, v in _rule_body(values, errors, creating=True).items() if v is not None}
    return await apply_form(
        page,
        errors,
        lambda: checked(RuleCreate, wanted, RULE_FIELDS, RULE_RENAMES),
        lambda body: rules.add_rule(page.session, page.actor, access.village, body),
        lambda added: f"/admin/rules?done={added.rule.code}",
        partial(_rules, page),
        values,
        {"duplicate_code": "code"},
    )


async def _versions(page: PageContext, rule_id: uuid.UUID) -> list[RuleOut]:
    """Every version of the rule, newest first."""
    access = await rule_reader(rule_id, page.actor, page.session)
    versions = await rule_versions.versions(page.session, access.rule)
    return [rules.rule_out(access.rule.code, v) for v in versions]


async def _rule(page: PageContext, rule_id: uuid.UUID, *, status: int = 200, **extra: Any) -> Response:
    await admin_access(page)
    versions = await _versions(page, rule_id)
    current = versions[0]
    extra.setdefault("values", _rule_values(current))
    return page.render_form(
        "admin_rule.html",
        status=status,
        title=current.name,
        rule=current,
        versions=versions,
        periods=PERIODS,
        reviews=REVIEWS,
        **extra,
    )


@router.get("/admin/rules/{rule_id}", response_class=HTMLResponse)
async def show_rule(page: CurrentPage, rule_id: uuid.UUID, done: str | None = None) -> Response:
    flash = {"changed": "已保存为新版本", "retired": "细则已停用", "restored": "细则已重新启用"}.get(
        done or ""
    )
    return await _rule(page, rule_id, flash=flash)


async def _change(page: PageContext, rule_id: uuid.UUID, patch: RulePatch) -> None:
    """A new version of the rule (or the same rule retired or restored)."""
    access = await rule_admin(rule_id, page.actor, page.session)
    await rules.change_rule(page.session, page.actor, access.rule, patch)


@router.post("/admin/rules/{rule_id}", response_class=HTMLResponse)
async def change_rule(page: CurrentPage, rule_id: uuid.UUID) -> Response:
    await admin_access(page)
    values = form_values(page, *RULE_FIELDS)
    current = (await _versions(page, rule_id))[0]
    values["code"] = current.code
    errors: dict[str, str] = {}
    wanted = _rule_body(values, errors, creating=False)
    before = _rule_body(_rule_values(current), {}, creating=False)
    changes = {k: v for k, v in wanted.items() if before.get(k) != v}
    if not errors and not changes:
        return await _rule(page, rule_id, values=values, flash="没有修改任何内容")
    return await apply_form(
        page,
        errors,
        lambda: checked(RulePatch, changes, RULE_FIELDS, RULE_RENAMES),
        lambda patch: _change(page, rule_id, patch),
        lambda _: f"/admin/rules/{rule_id}?done=changed",
        partial(_rule, page, rule_id),
        values,
    )


@router.post("/admin/rules/{rule_id}/active", response_class=HTMLResponse)
async def retire_rule(page: CurrentPage, rule_id: uuid.UUID) -> Response:
    await admin_access(page)
    active = page.field("active") == "true"
    return await press(
        page,
        lambda: _change(page, rule_id, RulePatch(active=active)),
        partial(_rule, page, rule_id),
        lambda _: f"/admin/rules/{rule_id}?done={'restored' if active else 'retired'}",
    )
