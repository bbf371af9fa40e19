from __future__ import annotations

from fastapi import APIRouter

from jifen.auth.households import VillageAdmin
from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.error_sets import READ_ERRORS, read_route
from jifen.kit.errors import DuplicateCode, create_route, error_responses
from jifen.kit.pagination import Page
from jifen.rules import repository, service
from jifen.rules.auth import RuleAdmin, RuleReader, VillageUser
from jifen.rules.schemas import RuleCreate, RuleOut, RulePatch

router = APIRouter(tags=["rules"], route_class=AutoCommitRoute)


@create_route(router, "/villages/{village_id}/rules", RuleOut, *READ_ERRORS, DuplicateCode)
async def create_rule(body: RuleCreate, access: VillageAdmin, session: Session) -> RuleOut:
    """Add a rule (积分细则) with signed points; version 1."""
    current = await service.add_rule(session, access.actor, access.village, body)
    return service.rule_out(current.rule.code, current.version)


@read_route(router, "/villages/{village_id}/rules", Page[RuleOut])
async def list_rules(access: VillageUser, session: Session) -> Page[RuleOut]:
    """The current version of every rule of the village, by category."""
    return Page(items=await service.rules_out(session, access.village))


@router.patch(
    "/rules/{rule_id}",
    response_model=RuleOut,
    responses=error_responses(
        *READ_ERRORS,
        service.NothingToChange,
        service.InvalidRuleChange,
        service.InvalidPeriod,
    ),
)
async def change_rule(body: RulePatch, access: RuleAdmin, session: Session) -> RuleOut:
    """Change a rule: a new version; entries already made keep the version they were made under."""
    current = await service.change_rule(session, access.actor, access.rule, body)
    return service.rule_out(current.rule.code, current.version)


@read_route(router, "/rules/{rule_id}/versions", Page[RuleOut])
async def list_rule_versions(access: RuleReader, session: Session) -> Page[RuleOut]:
    """Every version of a rule, newest first."""
    versions = await repository.versions(session, access.rule)
    return Page(items=[service.rule_out(access.rule.code, v) for v in versions])
