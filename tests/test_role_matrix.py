"""The role matrix for the foundation's operations (villages, users, households, the signed-in user).

See tests/role_matrix.py for what each answer must be; to add an operation, add one `Operation` row.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.factories import World
from tests.ledger.helpers import award
from tests.role_matrix import (
    AWARD_READERS,
    HOUSEHOLD_COUNTER,
    HOUSEHOLD_SUMMARY,
    OWN_HOUSEHOLD_COUNTER,
    ROLES,
    SIGNED_IN,
    VILLAGE_STAFF,
    Operation,
    Scene,
    build_scene,
    check_matrix,
    unique,
)


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
        OWN_HOUSEHOLD_COUNTER,
    ),
    Operation(
        "get another household",
        "GET",
        "/households/{household}",
        HOUSEHOLD_COUNTER,
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


IDS: dict[str, Any] = {}


@dataclass(frozen=True)
class AwardOperation(Operation):
    """Paths name the award to `household` (grid 二组), or a fresh rectifiable deduction of it per caller."""

    def url(self, scene: Scene) -> str:
        deductions: Iterator[str] = IDS["deductions"]
        return self.path.format(
            village_a=scene.village_a.id,
            award=IDS["award"],
            deduction=next(deductions) if "{deduction}" in self.path else "",
        )


AWARD_OPERATIONS = [
    # the award under review, for a reviewer; a cadre of its grid; not the counter, not another grid
    AwardOperation(
        "read an award",
        "GET",
        "/awards/{award}",
        HOUSEHOLD_SUMMARY,
        hidden_from=frozenset({"other_village_admin", "villager"}),
    ),
    AwardOperation("the village's awards", "GET", "/villages/{village_a}/awards", AWARD_READERS),
    AwardOperation("the review queue", "GET", "/villages/{village_a}/review-queue", AWARD_READERS),
    # 整改 by a cadre of another grid is refused (outside_grid); the cadre of the household's grid may
    AwardOperation(
        "rectify",
        "POST",
        "/awards/{deduction}/rectify",
        frozenset({"village_admin", "grid_cadre"}),
        lambda s: {"note": "已整改"},
        moves_points=True,
    ),
]


async def test_award_reads_and_rectify_role_matrix(world: World) -> None:
    scene = await build_scene(world)
    admin = scene.person("village_admin")
    village = scene.village_a.id
    bonus = scene.rule
    for _ in range(3):
        assert (await award(world, admin, scene.household.id, bonus)).status_code == 201  # 48 points in all
    poultry = await world.call(
        "POST",
        f"/villages/{village}/rules",
        admin,
        json={
            "code": "POULTRY",
            "name": "家禽散养",
            "category": "人居环境",
            "points": -4,
            "rectification_share": 50,
        },
    )
    assert poultry.status_code == 201, poultry.text
    deductions = []
    for _ in range(len(ROLES)):
        made = await award(world, admin, scene.household.id, poultry.json())
        assert made.status_code == 201, made.text
        deductions.append(made.json()["id"])
    IDS["award"], IDS["deductions"] = deductions[0], iter(deductions)

    await check_matrix(world, scene, AWARD_OPERATIONS)

    # 48 points, 10 deductions of 4, two rectifications of 2 each; the refused ones gave nothing back
    balance = await world.call("GET", f"/households/{scene.household.id}/balance", admin)
    assert balance.json()["posted"] == 48 - 4 * len(ROLES) + 2 * 2
