"""Many rules in one step: the template library (`GET /rule-templates`) and creating a set the admin picked
and edited (`POST /villages/{id}/rules/batch`), all or nothing."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.auth.actor import Actor
from jifen.auth.dependencies import CurrentActor
from jifen.auth.households import VillageAdmin
from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.error_sets import READ_ERRORS
from jifen.kit.errors import (
    DuplicateCode,
    NotAuthenticated,
    create_route,
    error_responses,
)
from jifen.kit.schemas import InputModel
from jifen.models import VillageView
from jifen.rules import repository, service
from jifen.rules.schemas import CapOut, RuleCreate, RuleOut
from jifen.rules.templates import SETS, Template

router = APIRouter(tags=["rules"], route_class=AutoCommitRoute)


class RuleTemplateOut(BaseModel):
    code: str
    name: str
    category: str
    points: int
    cap: CapOut | None
    evidence_required: bool
    review: str
    rectification_share: int | None
    escalation: list[int] | None
    hint: str


class RuleSetOut(BaseModel):
    key: str
    name: str
    description: str
    rules: list[RuleTemplateOut]


class RuleSetsOut(BaseModel):
    items: list[RuleSetOut]


class RuleBatch(InputModel):
    items: Annotated[list[RuleCreate], Field(min_length=1, max_length=200)]


class RulesOut(BaseModel):
    items: list[RuleOut]


def template_out(template: Template) -> RuleTemplateOut:
    return RuleTemplateOut.model_validate({**template.body(), "hint": template.hint})


def library() -> RuleSetsOut:
    return RuleSetsOut(
        items=[
            RuleSetOut(
                key=s.key,
                name=s.name,
                description=s.description,
                rules=[template_out(t) for t in s.rules],
            )
            for s in SETS
        ]
    )


async def create_rules(
    session: AsyncSession, actor: Actor, village: VillageView, items: list[RuleCreate]
) -> list[RuleOut]:
    """Create every rule or none: a code twice in the list, or one the village already has, refuses all
    (409 `duplicate_code`, naming the codes). Each rule is its own audit event, as if made one by one."""
    twice = sorted(code for code, n in Counter(i.code for i in items).items() if n > 1)
    if twice:
        raise DuplicateCode(f"细则编号 {'、'.join(twice)} 在清单中重复", codes=twice)
    taken = [i.code for i in items if await repository.code_taken(session, village.id, i.code)]
    if taken:
        raise DuplicateCode(f"细则编号 {'、'.join(taken)} 在本村已存在，请改用其他编号", codes=taken)
    out = []
    for body in items:
        current = await service.add_rule(session, actor, village, body)
        out.append(service.rule_out(current.rule.code, current.version))
    return out


@router.get("/rule-templates", response_model=RuleSetsOut, responses=error_responses(NotAuthenticated))
async def rule_templates(actor: CurrentActor) -> RuleSetsOut:
    """Rule sets from real villages (门前三包, 美丽庭院 star levels, 六乱整治 deductions, 五好家庭, 移风易俗,
    志愿服务 hours, 和事佬 …): each rule with its category, points, cap and review suggestion, ready to
    edit and send to `POST /villages/{id}/rules/batch`."""
    return library()


@create_route(
    router,
    "/villages/{village_id}/rules/batch",
    RulesOut,
    *READ_ERRORS,
    DuplicateCode,
)
async def create_rule_batch(body: RuleBatch, access: VillageAdmin, session: Session) -> RulesOut:
    """Create up to 200 rules at once (a picked and edited template set): all or nothing."""
    return RulesOut(items=await create_rules(session, access.actor, access.village, body.items))
