"""The role matrix for managing users (disable, enable, reset a password, remove a role) and for a user's own
sign-out and password change. See tests/role_matrix.py for what each answer must be.

Each call of a management operation acts on a fresh user of village A, so an earlier allowed call (a
disabled user, a removed role) cannot turn a later caller's answer into a 404 or a 409.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from jifen.models import Role
from jifen.users.schemas import RoleGrantIn
from tests.factories import PASSWORD, World
from tests.role_matrix import ROLES, SIGNED_IN, Operation, Scene, build_scene, check_matrix, unique

USER_ADMINS = frozenset({"town_admin", "village_admin"})


@dataclass(frozen=True)
class UserOperation(Operation):
    """An operation on `/users/{user}/...`: every call gets the next target user."""

    targets: list[str] = field(default_factory=list)

    def url(self, scene: Scene) -> str:
        return self.path.format(user=self.targets.pop(0))


def _reason(scene: Scene) -> dict[str, Any]:
    return {"reason": "角色矩阵测试"}


def _cadre_grant(scene: Scene) -> dict[str, Any]:
    return {"role": "cadre", "village_id": str(scene.village_a.id), "reason": "角色矩阵测试"}


def _own_password(scene: Scene) -> dict[str, Any]:
    return {"old_password": PASSWORD, "new_password": f"new-password-{next(unique)}"}


MANAGEMENT = [
    UserOperation("disable user", "POST", "/users/{user}/disable", USER_ADMINS, _reason),
    UserOperation("enable user", "POST", "/users/{user}/enable", USER_ADMINS, _reason),
    UserOperation("reset password", "POST", "/users/{user}/reset-password", USER_ADMINS, _reason),
    UserOperation("remove role", "POST", "/users/{user}/roles/remove", USER_ADMINS, _cadre_grant),
]
OWN = [
    Operation("change own password", "POST", "/auth/password", SIGNED_IN, _own_password),
    Operation("sign out", "POST", "/auth/logout", SIGNED_IN),
]


@pytest.mark.parametrize("operation", MANAGEMENT, ids=[op.name for op in MANAGEMENT])
async def test_user_management_role_matrix(world: World, operation: UserOperation) -> None:
    scene = await build_scene(world)
    operation.targets.clear()
    for _ in ROLES:
        target = await world.person(RoleGrantIn(role=Role.cadre, village_id=scene.village_a.id))
        operation.targets.append(str(target.id))
    await check_matrix(world, scene, [operation])


@pytest.mark.parametrize("operation", OWN, ids=[op.name for op in OWN])
async def test_own_account_role_matrix(world: World, operation: Operation) -> None:
    await check_matrix(world, await build_scene(world), [operation])
