from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from jifen.auth.actor import VILLAGE_USERS, Actor
from jifen.auth.dependencies import CurrentActor, VillageAccess, authorize, village_role
from jifen.kit.db import Session
from jifen.kit.errors import found
from jifen.models import Role, Rule
from jifen.rules import repository

village_user = village_role(*VILLAGE_USERS)  # anyone of the village (and the town admin)
VillageUser = Annotated[VillageAccess, Depends(village_user)]


@dataclass(frozen=True)
class RuleAccess:
    actor: Actor
    rule: Rule


async def rule_admin(rule_id: uuid.UUID, actor: CurrentActor, session: Session) -> RuleAccess:
    rule = found(await repository.get_rule(session, rule_id), "找不到该积分细则")
    authorize(actor, rule.village_id, {Role.village_admin}, town_admin=True)
    return RuleAccess(actor=actor, rule=rule)


async def rule_reader(rule_id: uuid.UUID, actor: CurrentActor, session: Session) -> RuleAccess:
    rule = found(await repository.get_rule(session, rule_id), "找不到该积分细则")
    authorize(actor, rule.village_id, VILLAGE_USERS, town_admin=True)
    return RuleAccess(actor=actor, rule=rule)


RuleAdmin = Annotated[RuleAccess, Depends(rule_admin)]
RuleReader = Annotated[RuleAccess, Depends(rule_reader)]
