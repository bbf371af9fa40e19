"""The rule catalogue (积分细则) from Excel: one rule a row, matched by its code. A new code adds a rule, a
changed row writes the rule's next version, an unchanged row is left alone."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.audit import service as audit
from jifen.auth.actor import Actor
from jifen.auth.households import VillageAdmin
from jifen.kit import imports
from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.imports import BadRow, ImportResult, parse_int
from jifen.kit.tables import Table
from jifen.models import Review, RuleVersion, VillageView
from jifen.rules import repository, service
from jifen.rules.schemas import RuleCreate, RulePatch

router = APIRouter(tags=["rules"], route_class=AutoCommitRoute)

SYNONYMS = {
    "code": ("编号", "细则编号", "项目编号", "代码", "code"),
    "name": ("名称", "项目名称", "积分项目", "细则名称", "项目", "name"),
    "category": ("类别", "分类", "类型", "category"),
    "points": ("分值", "积分", "分数", "加减分", "points"),
    "cap": ("上限", "封顶", "上限分值", "cap"),
    "cap_period": ("上限周期", "周期", "period"),
    "review": ("审核", "审核要求", "review"),
    "evidence": ("需要照片", "照片", "证据", "需要证据", "evidence"),
    "share": ("整改返还", "整改返还比例", "返还比例"),
}
REQUIRED = ("code", "name", "points")
FIELD_NAMES = {
    "code": "编号",
    "name": "名称",
    "category": "类别",
    "points": "分值",
    "cap": "上限",
    "cap_period": "上限周期",
    "review": "审核",
    "evidence": "需要照片",
    "share": "整改返还",
}
REVIEWS = {
    "": Review.none, "无": Review.none, "不需要": Review.none, "否": Review.none, "none": Review.none,
    "一人": Review.single, "单人": Review.single, "需要": Review.single, "是": Review.single,
    "single": Review.single,
    "两人": Review.double, "双人": Review.double, "double": Review.double,
}  # fmt: skip
YES = {"是", "需要", "要", "有", "yes", "y", "true", "1", "√", "✓"}
NO = {"", "否", "不需要", "不要", "无", "no", "n", "false", "0"}


def parse_row(table: Table, cells: list[str]) -> RuleCreate:
    """One row as the rule it describes, or BadRow with a reason a person can act on."""
    value = table.value
    code, name = value(cells, "code"), value(cells, "name")
    if not code:
        raise BadRow("缺少编号")
    if not name:
        raise BadRow("缺少名称")
    points = parse_int(value(cells, "points"), "分值") if value(cells, "points") else None
    if points is None:
        raise BadRow("缺少分值")
    if points == 0:
        raise BadRow("分值不能为 0")
    cap = imports.limit_of(table, cells, "cap", "cap_period", FIELD_NAMES)
    review = REVIEWS.get(value(cells, "review").lower())
    if review is None:
        raise BadRow(f"审核“{value(cells, 'review')}”无法识别，请填写 无、一人 或 两人")
    evidence_text = value(cells, "evidence").lower()
    if evidence_text not in YES | NO:
        raise BadRow(f"需要照片“{value(cells, 'evidence')}”无法识别，请填写 是 或 否")
    share_text = value(cells, "share").rstrip("%％")
    body = {
        "code": code,
        "name": name,
        "category": value(cells, "category") or "其他",
        "points": points,
        "cap": cap,
        "review": review.value,
        "evidence_required": evidence_text in YES,
        "rectification_share": parse_int(share_text, "整改返还比例") if share_text else None,
    }
    try:
        return RuleCreate.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        shown = {"rectification_share": "整改返还比例", "cap": "上限", "code": "编号", "name": "名称"}.get(
            field, field
        )
        message = str(first.get("ctx", {}).get("error", "")) or "格式不正确"
        raise BadRow(f"{shown}：{message}" if shown else message) from None


def _terms(rule: RuleCreate) -> dict[str, object]:
    return {
        "name": rule.name,
        "category": rule.category,
        "points": rule.points,
        "cap": (rule.cap.count, rule.cap.period.value) if rule.cap else None,
        "review": rule.review.value,
        "evidence_required": rule.evidence_required,
        "rectification_share": rule.rectification_share,
    }


def _version_terms(version: RuleVersion) -> dict[str, object]:
    return {
        "name": version.name,
        "category": version.category,
        "points": version.points,
        "cap": (version.cap_count, version.cap_period) if version.cap_count and version.cap_period else None,
        "review": version.review,
        "evidence_required": version.evidence_required,
        "rectification_share": version.rectification_share,
    }


CHANGE_NAMES = {
    "name": "名称",
    "category": "类别",
    "points": "分值",
    "cap": "上限",
    "review": "审核",
    "evidence_required": "需要照片",
    "rectification_share": "整改返还",
}


MATCHER: imports.Matcher[RuleCreate, RuleVersion] = imports.Matcher(
    synonyms=SYNONYMS,
    required=REQUIRED,
    field_names=FIELD_NAMES,
    term_names=CHANGE_NAMES,
    parse=parse_row,
    key=lambda rule: rule.code,
    name=lambda rule: rule.name,
    row_terms=_terms,
    record_terms=_version_terms,
    duplicate=lambda code, first: f"编号 {code} 与第 {first} 行重复",
)
Plan = imports.Plan[RuleCreate, RuleVersion]


async def plan(session: AsyncSession, village: VillageView, table: Table) -> Plan:
    existing = {c.rule.code: c.version for c in await service.village_rules(session, village)}
    return MATCHER.plan(table, existing)


async def apply_plan(
    session: AsyncSession, actor: Actor, village: VillageView, planned: Plan
) -> ImportResult:
    """Every good row in the caller's transaction: new rules, next versions of changed ones; one audit
    event for the file besides each rule's own."""

    async def change(changed: imports.Change[RuleCreate, RuleVersion]) -> None:
        loaded = await repository.get_rule(session, changed.current.rule_id)
        assert loaded is not None
        await service.change_rule(session, actor, loaded, changed.patch(RulePatch))

    return await planned.apply(
        lambda rule: service.add_rule(session, actor, village, rule),
        change,
        partial(
            audit.record_import, session, actor, scope=(village.id, "rule.import", "village", village.id)
        ),
    )


@imports.import_route(router, "/villages/{village_id}/imports/rules")
async def import_rules(
    file: imports.Upload, access: VillageAdmin, session: Session, apply: imports.Apply = False
) -> ImportResult:
    """积分细则 from an Excel or CSV file (columns 编号, 名称, 类别, 分值, 上限, 上限周期, 审核, 需要照片,
    整改返还): without `apply` a preview that writes nothing; with `apply=true` every good row at once (bad
    rows are listed and skipped). Matched by 编号: the same file twice changes nothing the second time."""
    planned = await plan(session, access.village, await MATCHER.upload(file))
    return await apply_plan(session, access.actor, access.village, planned) if apply else planned.result
