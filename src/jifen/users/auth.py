from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from jifen.auth.actor import Actor
from jifen.auth.dependencies import CurrentActor, VillageAccess, village_role
from jifen.kit.errors import Forbidden
from jifen.models import Role


def require_user_admin(actor: CurrentActor) -> Actor:
    """Town admins and village admins create users; the scope of each grant is checked by the service."""
    if not actor.is_town_admin and not any(g.role is Role.village_admin for g in actor.grants):
        raise Forbidden("只有镇管理员或村管理员可以创建用户")
    return actor


UserAdmin = Annotated[Actor, Depends(require_user_admin)]


def require_user_manager(actor: CurrentActor) -> Actor:
    """Town admins and village admins manage users; which users each may touch is checked by the service."""
    if not actor.is_town_admin and not any(g.role is Role.village_admin for g in actor.grants):
        raise Forbidden("只有镇管理员或村管理员可以管理用户")
    return actor


UserManager = Annotated[Actor, Depends(require_user_manager)]


# the village's roll of users: its admin, and the town admin
VillageUserAdmin = Annotated[VillageAccess, Depends(village_role(Role.village_admin))]
