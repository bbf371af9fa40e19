"""Who may read the audit trail: a town admin everything, a village admin their village."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query

from jifen.auth import repository as auth_repository
from jifen.auth.actor import Actor
from jifen.auth.dependencies import CurrentActor, authorize
from jifen.kit.db import Session
from jifen.kit.errors import BadRequest, Forbidden, NotFound
from jifen.models import Role


class VillageRequired(BadRequest, code="village_required", detail="请指定 village_id"): ...


@dataclass(frozen=True)
class AuditAccess:
    actor: Actor
    village_id: uuid.UUID | None  # None: every scope (town admin only)


async def _access(actor: Actor, session: Session, village_id: uuid.UUID | None) -> AuditAccess:
    if village_id is None:
        if actor.is_town_admin:
            return AuditAccess(actor=actor, village_id=None)
        administered = {g.village_id for g in actor.grants if g.role is Role.village_admin}
        if len(administered) != 1:
            if not administered:
                raise Forbidden("只有镇管理员和村管理员可以查看操作日志")
            raise VillageRequired()
        [only] = administered
        assert only is not None
        village_id = only
    if await auth_repository.village(session, village_id) is None:
        raise NotFound("找不到该村")
    authorize(actor, village_id, {Role.village_admin}, town_admin=True)
    return AuditAccess(actor=actor, village_id=village_id)


async def audit_reader(
    actor: CurrentActor, session: Session, village_id: Annotated[uuid.UUID | None, Query()] = None
) -> AuditAccess:
    return await _access(actor, session, village_id)


AuditReader = Annotated[AuditAccess, Depends(audit_reader)]


async def village_auditor(actor: CurrentActor, session: Session, village_id: uuid.UUID) -> AuditAccess:
    return await _access(actor, session, village_id)
