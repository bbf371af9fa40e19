"""The rule catalogue (积分细则) from Excel: one rule a row, matched by its code. A new code adds a rule, a
changed row writes the rule's next version, an unchanged row is left alone."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.audit import service as audit
from jifen.auth.actor import Actor
from jifen.households.auth import VillageAdmin
from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.errors import Forbidden, NotAuthenticated, NotFound, error_responses
from jifen.kit.imports import (
    PERIODS,
    Apply,
    BadRow,
    ImportResult,
    ImportRow,
    RowError,
    TooLarge,
    Upload,
    parse_int,
    read_upload,
)
from jifen.kit.tables import MissingColumns, Table, UnreadableFile, read_table
from jifen.models import Review, RuleVersion, Village
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
    cap = None
    if value(cells, "cap"):
        period_text = value(cells, "cap_period") or "月"
        period = PERIODS.get(period_text.lower())
        if period is None:
            raise BadRow(f"上限周期“{period_text}”无法识别，请填写 日、周、月、季 或 年")
        cap = {"count": parse_int(value(cells, "cap"), "上限"), "period": period}
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


@dataclass
class Plan:
    result: ImportResult
    adds: list[RuleCreate]
    changes: list[tuple[str, RuleCreate, list[str]]]  # code, the row's rule, the changed fields


async def plan(session: AsyncSession, village: Village, table: Table) -> Plan:
    existing = {c.rule.code: c.version for c in await service.village_rules(session, village)}
    result = ImportResult(
        file_sha256=table.sha256,
        applied=False,
        columns={FIELD_NAMES[f]: table.headers[i] for f, i in table.columns.items()},
        add=[],
        change=[],
        unchanged=[],
        errors=[],
    )
    adds: list[RuleCreate] = []
    changes: list[tuple[str, RuleCreate, list[str]]] = []
    seen: dict[str, int] = {}
    for number, cells in table.rows:
        try:
            rule = parse_row(table, cells)
        except BadRow as exc:
            result.errors.append(RowError(row=number, reason=str(exc)))
            continue
        if rule.code in seen:
            result.errors.append(
                RowError(row=number, reason=f"编号 {rule.code} 与第 {seen[rule.code]} 行重复")
            )
            continue
        seen[rule.code] = number
        current = existing.get(rule.code)
        if current is None:
            adds.append(rule)
            result.add.append(ImportRow(row=number, key=rule.code, name=rule.name, action="add"))
            continue
        now = _version_terms(current)
        wanted = _terms(rule)
        changed = [k for k in wanted if wanted[k] != now[k]]
        row = ImportRow(
            row=number,
            key=rule.code,
            name=rule.name,
            action="change" if changed else "unchanged",
            changes=[f"{CHANGE_NAMES[k]}：{now[k]} → {wanted[k]}" for k in changed],
        )
        if changed:
            changes.append((rule.code, rule, changed))
            result.change.append(row)
        else:
            result.unchanged.append(row)
    return Plan(result, adds, changes)


async def apply_plan(session: AsyncSession, actor: Actor, village: Village, planned: Plan) -> None:
    """Every good row in the caller's transaction: new rules, next versions of changed ones; one audit
    event for the file besides each rule's own."""
    for rule in planned.adds:
        await service.create_rule(
            session,
            actor,
            village,
            code=rule.code,
            name=rule.name,
            category=rule.category,
            points=rule.points,
            cap=rule.cap,
            evidence_required=rule.evidence_required,
            review=rule.review.value,
            rectification_share=rule.rectification_share,
        )
    codes = {c.rule.code: c.rule.id for c in await service.village_rules(session, village)}
    for code, rule, changed in planned.changes:
        loaded = await repository.get_rule(session, codes[code])
        assert loaded is not None
        fields = {"cap": rule.cap} | {k: getattr(rule, k) for k in changed if k != "cap"}
        patch = RulePatch.model_validate({k: v for k, v in fields.items() if k in changed})
        await service.change_rule(session, actor, loaded, patch)
    if planned.adds or planned.changes:
        await audit.record(
            session,
            actor,
            village_id=village.id,
            action="rule.import",
            record_type="village",
            record_id=village.id,
            after={
                "file_sha256": planned.result.file_sha256,
                "added": len(planned.adds),
                "changed": len(planned.changes),
            },
        )
    planned.result.applied = True


@router.post(
    "/villages/{village_id}/imports/rules",
    response_model=ImportResult,
    responses=error_responses(
        NotAuthenticated, Forbidden, NotFound, UnreadableFile, MissingColumns, TooLarge
    ),
)
async def import_rules(
    file: Upload, access: VillageAdmin, session: Session, apply: Apply = False
) -> ImportResult:
    """积分细则 from an Excel or CSV file (columns 编号, 名称, 类别, 分值, 上限, 上限周期, 审核, 需要照片,
    整改返还): without `apply` a preview that writes nothing; with `apply=true` every good row at once (bad
    rows are listed and skipped). Matched by 编号: the same file twice changes nothing the second time."""
    filename, content = await read_upload(file)
    table = read_table(filename, content, SYNONYMS, ("code", "name", "points"))
    planned = await plan(session, access.village, table)
    if apply:
        await apply_plan(session, access.actor, access.village, planned)
    return planned.result
