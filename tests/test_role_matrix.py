"""The role matrix for the foundation's operations (villages, users, households, the signed-in user).

See tests/role_matrix.py for what each answer must be; to add an operation, add one `Operation` row.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import World
from tests.role_matrix import SIGNED_IN, VILLAGE_STAFF, Operation, Scene, build_scene, check_matrix, unique


def _new_village(scene: Scene) -> dict[str, Any]:
    return {"code": f"NEW{next(unique)}", "name": "新村"}


def _new_cadre_in_a(scene: Scene) -> dict[str, Any]:
    return {
        "username": f"newuser{next(unique)}",
        "password": "a-good-password",
        "display_name": "新干部",
        "roles": [{"role": "cadre", "village_id": str(scene.village_a.id)}],
    }


def _new_household(scene: Scene) -> dict[str, Any]:
    return {"code": f"NH{next(unique)}", "head_name": "新户主", "members": [{"name": "新户主"}]}


def _new_member(scene: Scene) -> dict[str, Any]:
    return {"name": f"新成员{next(unique)}"}


OPERATIONS = [
    Operation("create village", "POST", "/villages", frozenset({"town_admin"}), _new_village, frozenset()),
    Operation("list villages", "GET", "/villages", SIGNED_IN),
    Operation("create user", "POST", "/users", frozenset({"town_admin", "village_admin"}), _new_cadre_in_a),
    Operation(
        "create household",
        "POST",
        "/villages/{village_a}/households",
        frozenset({"town_admin", "village_admin"}),
        _new_household,
    ),
    Operation("list households", "GET", "/villages/{village_a}/households", VILLAGE_STAFF | {"town_admin"}),
    Operation(
        "get own household",
        "GET",
        "/households/{own_household}",
        VILLAGE_STAFF | {"town_admin", "villager"},
    ),
    Operation(
        "get another household",
        "GET",
        "/households/{household}",
        VILLAGE_STAFF | {"town_admin"},
        hidden_from=frozenset({"other_village_admin", "villager"}),
    ),
    Operation(
        "add member",
        "POST",
        "/households/{household}/members",
        frozenset({"town_admin", "village_admin"}),
        _new_member,
    ),
    Operation("me", "GET", "/auth/me", SIGNED_IN),
]


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.name for op in OPERATIONS])
async def test_role_matrix(world: World, operation: Operation) -> None:
    await check_matrix(world, await build_scene(world), [operation])
