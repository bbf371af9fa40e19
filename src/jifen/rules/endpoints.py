from __future__ import annotations

from fastapi import APIRouter, status

from jifen.households.auth import VillageAdmin
from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.errors import DuplicateCode, Forbidden, NotAuthenticated, NotFound, error_responses
from jifen.kit.pagination import Page
from jifen.models import Period, Review, RuleVersion
from jifen.rules import repository, service
from jifen.rules.auth import RuleAdmin, RuleReader, VillageUser
from jifen.rules.schemas import CapOut, RuleCreate, RuleOut, RulePatch

router = APIRouter(tags=["rules"], route_class=AutoCommitRoute)


def rule_out(code: str, version: RuleVersion) -> RuleOut:
    return RuleOut(
        id=version.rule_id,
        village_id=version.village_id,
        code=code,
        version=version.version,
        name=version.name,
        category=version.category,
        points=version.points,
        cap=(
            CapOut(count=version.cap_count, period=Period(version.cap_period))
            if version.cap_count is not None and version.cap_period is not None
            else None
        ),
        evidence_required=version.evidence_required,
        review=Review(version.review),
        rectification_share=version.rectification_share,
        escalation=version.escalation,
        active_from=version.active_from,
        active_until=version.active_until,
        active=version.active,
        created_at=version.created_at,
    )


@router.post(
    "/villages/{village_id}/rules",
    status_code=status.HTTP_201_CREATED,
    response_model=RuleOut,
    responses=error_responses(NotAuthenticated, Forbidden, NotFound, DuplicateCode),
)
async def create_rule(body: RuleCreate, access: VillageAdmin, session: Session) -> RuleOut:
    """Add a rule (积分细则) with signed points; version 1."""
    current = await service.create_rule_from(session, access.actor, access.village, body)
    return rule_out(current.rule.code, current.version)


@router.get(
    "/villages/{village_id}/rules",
    response_model=Page[RuleOut],
    responses=error_responses(NotAuthenticated, Forbidden, NotFound),
)
async def list_rules(access: VillageUser, session: Session) -> Page[RuleOut]:
    """The current version of every rule of the village, by category."""
    rules = await service.village_rules(session, access.village)
    return Page(items=[rule_out(r.rule.code, r.version) for r in rules])


@router.patch(
    "/rules/{rule_id}",
    response_model=RuleOut,
    responses=error_responses(
        NotAuthenticated,
        Forbidden,
        NotFound,
        service.NothingToChange,
        service.InvalidRuleChange,
        service.InvalidPeriod,
    ),
)
async def change_rule(body: RulePatch, access: RuleAdmin, session: Session) -> RuleOut:
    """Change a rule: a new version; entries already made keep the version they were made under."""
    current = await service.change_rule(session, access.actor, access.rule, body)
    return rule_out(current.rule.code, current.version)


@router.get(
    "/rules/{rule_id}/versions",
    response_model=Page[RuleOut],
    responses=error_responses(NotAuthenticated, Forbidden, NotFound),
)
async def list_rule_versions(access: RuleReader, session: Session) -> Page[RuleOut]:
    """Every version of a rule, newest first."""
    versions = await repository.versions(session, access.rule)
    return Page(items=[rule_out(access.rule.code, v) for v in versions])
