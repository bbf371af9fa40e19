"""Rules (积分细则): a rule's code is its identity; every change is a new version, and entries keep the
version they were made under."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.audit import service as audit
from jifen.auth.actor import Actor
from jifen.kit.db import unique_or
from jifen.kit.errors import BadRequest, DuplicateCode
from jifen.kit.schemas import out_of
from jifen.models import Period, Review, Rule, RuleVersion, VillageView
from jifen.rules import repository
from jifen.rules.schemas import CapOut, RuleCreate, RuleOut, RulePatch


class InvalidRuleChange(BadRequest, code="invalid_rule", detail="细则的修改不成立"): ...


class InvalidPeriod(BadRequest, code="invalid_period", detail="细则的停用日期不能早于启用日期"): ...


class NothingToChange(BadRequest, code="nothing_to_change", detail="没有要修改的字段"): ...


@dataclass(frozen=True)
class CurrentRule:
    rule: Rule
    version: RuleVersion


async def add_rule(
    session: AsyncSession, actor: Actor, village: VillageView, body: RuleCreate
) -> CurrentRule:
    """The rule the API's (or the admin page's) form describes, as its version 1."""
    code = body.code
    if await repository.code_taken(session, village.id, code):
        raise DuplicateCode(f"细则编号 {code} 在本村已存在")
    rule = Rule(village_id=village.id, code=code, current_version=1)
    with unique_or(DuplicateCode(f"细则编号 {code} 在本村已存在"), "uq_rules_village_id_code"):
        await repository.add_rule(session, rule)
    version = RuleVersion(
        **body.model_dump(exclude={"code", "cap", "review"}),
        cap_count=body.cap.count if body.cap else None,
        cap_period=body.cap.period.value if body.cap else None,
        review=body.review.value,
        village_id=village.id,
        rule_id=rule.id,
        version=1,
        active=True,
        created_by=actor.user_id,
    )
    await repository.add_version(session, version)
    await audit.record(
        session, actor, village.id, "rule.create", rule.id, after={"code": code, **_terms(version)}
    )
    return CurrentRule(rule=rule, version=version)


async def change_rule(session: AsyncSession, actor: Actor, rule: Rule, patch: RulePatch) -> CurrentRule:
    """Write the next version with the changed fields; the rule then points at it."""
    if not patch.model_fields_set:
        raise NothingToChange()
    new_version = await repository.next_version(session, rule)
    previous = next(v for v in await repository.versions(session, rule) if v.version == new_version - 1)
    changed = patch.model_dump(exclude_unset=True)
    cap_given = "cap" in changed
    version = RuleVersion(
        village_id=rule.village_id,
        rule_id=rule.id,
        version=new_version,
        name=patch.name if patch.name is not None else previous.name,
        category=patch.category if patch.category is not None else previous.category,
        points=patch.points if patch.points is not None else previous.points,
        cap_count=(patch.cap.count if patch.cap else None) if cap_given else previous.cap_count,
        cap_period=(patch.cap.period.value if patch.cap else None) if cap_given else previous.cap_period,
        evidence_required=(
            patch.evidence_required if patch.evidence_required is not None else previous.evidence_required
        ),
        review=patch.review.value if patch.review is not None else previous.review,
        rectification_share=(
            patch.rectification_share if "rectification_share" in changed else previous.rectification_share
        ),
        escalation=patch.escalation if "escalation" in changed else previous.escalation,
        active_from=patch.active_from if "active_from" in changed else previous.active_from,
        active_until=patch.active_until if "active_until" in changed else previous.active_until,
        active=patch.active if patch.active is not None else previous.active,
        created_by=actor.user_id,
    )
    if (version.rectification_share is not None or version.escalation) and version.points > 0:
        raise InvalidRuleChange("整改返还和累进扣分只适用于扣分细则")
    if version.active_from and version.active_until and version.active_from > version.active_until:
        raise InvalidPeriod(
            f"停用日期 {version.active_until.isoformat()} 早于启用日期 {version.active_from.isoformat()}，"
            "请改一个不早于启用日期的停用日期"
        )
    await repository.add_version(session, version)
    await repository.refresh_rule(session, rule)
    await audit.record(
        session,
        actor,
        rule.village_id,
        "rule.change",
        rule.id,
        before=_terms(previous),
        after=_terms(version),
    )
    return CurrentRule(rule=rule, version=version)


def _terms(version: RuleVersion) -> dict[str, object]:
    return {
        "version": version.version,
        "name": version.name,
        "category": version.category,
        "points": version.points,
        "cap": {"count": version.cap_count, "period": version.cap_period} if version.cap_count else None,
        "evidence_required": version.evidence_required,
        "review": version.review,
        "rectification_share": version.rectification_share,
        "escalation": version.escalation,
        "active_from": version.active_from.isoformat() if version.active_from else None,
        "active_until": version.active_until.isoformat() if version.active_until else None,
        "active": version.active,
    }


async def village_rules(session: AsyncSession, village: VillageView) -> Sequence[CurrentRule]:
    rows = await repository.village_rules(session, village.id)
    return [
        CurrentRule(rule=Rule(id=v.rule_id, village_id=vid, code=code), version=v) for code, vid, v in rows
    ]


def rule_out(code: str, version: RuleVersion | repository.RuleLine) -> RuleOut:
    return out_of(
        RuleOut,
        version,
        id=version.rule_id,
        code=code,
        cap=(
            CapOut(count=version.cap_count, period=Period(version.cap_period))
            if version.cap_count is not None and version.cap_period is not None
            else None
        ),
        review=Review(version.review),
    )


async def rules_out(session: AsyncSession, village: VillageView) -> list[RuleOut]:
    """The current version of every rule of the village, by category (the API's list and the pages')."""
    return [rule_out(line.code, line) for line in await repository.village_rule_lines(session, village.id)]
