"""The role matrix for the village's roll of users (GET /villages/{village_id}/users).

See tests/role_matrix.py for what each answer must be."""

from __future__ import annotations

from tests.factories import World
from tests.role_matrix import Operation, build_scene, check_matrix

USER_ADMINS = frozenset({"town_admin", "village_admin"})

OPERATIONS = [
    Operation("list village users", "GET", "/villages/{village_a}/users", USER_ADMINS),
    Operation("list village cadres", "GET", "/villages/{village_a}/users?role=cadre", USER_ADMINS),
]


async def test_village_users_role_matrix(world: World) -> None:
    scene = await build_scene(world)
    await check_matrix(world, scene, OPERATIONS)
