"""The role matrix for the ledger's operations (rules, awards, balance, entries, transactions, reversal).

See tests/role_matrix.py for what each answer must be; to add an operation, add one `Operation` row.
"""

from __future__ import annotations

from typing import Any

from tests.factories import World
from tests.role_matrix import (
    HOUSEHOLD_COUNTER,
    HOUSEHOLD_HISTORY,
    HOUSEHOLD_SUMMARY,
    OWN_HOUSEHOLD_COUNTER,
    OWN_HOUSEHOLD_HISTORY,
    VILLAGE_USERS,
    Operation,
    Scene,
    build_scene,
    check_matrix,
    unique,
)

SUBMITTERS = frozenset({"cadre", "village_admin"})


def _new_rule(scene: Scene) -> dict[str, Any]:
    return {"code": f"NR{next(unique)}", "name": "新细则", "category": "乡风文明", "points": 3}


def _rule_change(scene: Scene) -> dict[str, Any]:
    return {"category": f"分类{next(unique)}"}


def _award(scene: Scene) -> dict[str, Any]:
    return {"household_id": str(scene.own_household.id), "rule_id": scene.rule["id"]}


def _batch(scene: Scene) -> dict[str, Any]:
    return {"items": [_award(scene), _award(scene)]}


def _reason(scene: Scene) -> dict[str, Any]:
    return {"reason": "评错了户"}


OPERATIONS = [
    Operation(
        "create rule",
        "POST",
        "/villages/{village_a}/rules",
        frozenset({"town_admin", "village_admin"}),
        _new_rule,
    ),
    Operation("list rules", "GET", "/villages/{village_a}/rules", VILLAGE_USERS | {"town_admin"}),
    Operation(
        "change rule", "PATCH", "/rules/{rule}", frozenset({"town_admin", "village_admin"}), _rule_change
    ),
    Operation("rule versions", "GET", "/rules/{rule}/versions", VILLAGE_USERS | {"town_admin"}),
    Operation("award", "POST", "/awards", SUBMITTERS, _award, moves_points=True),
    Operation("batch award", "POST", "/awards/batch", SUBMITTERS, _batch, moves_points=True),
    Operation(
        "own balance",
        "GET",
        "/households/{own_household}/balance",
        OWN_HOUSEHOLD_COUNTER,
    ),
    Operation(
        "another household's balance",
        "GET",
        "/households/{household}/balance",
        HOUSEHOLD_COUNTER,
        hidden_from=frozenset({"other_village_admin", "villager"}),
    ),
    Operation(
        "own entries",
        "GET",
        "/households/{own_household}/entries",
        OWN_HOUSEHOLD_HISTORY,
    ),
    Operation(
        "another household's entries",
        "GET",
        "/households/{household}/entries",
        HOUSEHOLD_HISTORY,
        hidden_from=frozenset({"other_village_admin", "villager"}),
    ),
    # the award to `household` (二组): the admins, the cadre of its grid, a reviewer; not the counter
    Operation("transaction", "GET", "/transactions/{transaction}", HOUSEHOLD_SUMMARY),
    Operation(
        "reverse",
        "POST",
        "/transactions/{transaction}/reverse",
        frozenset({"village_admin"}),
        _reason,
        moves_points=True,
    ),
]


async def test_ledger_role_matrix(world: World) -> None:
    """One scene for the whole table (in its order: the reversal comes last), so the matrix stays cheap."""
    scene = await build_scene(world)
    await check_matrix(world, scene, OPERATIONS)

    # refused money moves moved nothing: the award and the two-item batch, each by the cadre and the village
    # admin, are 6 awards of 12 to the villager's household; the neighbour's award was reversed once
    admin = scene.people["village_admin"]
    own = (await world.call("GET", f"/households/{scene.own_household.id}/balance", admin)).json()
    neighbour = (await world.call("GET", f"/households/{scene.household.id}/balance", admin)).json()
    assert own["posted"] == 6 * 12
    assert neighbour["posted"] == 0
    assert OPERATIONS[-1].name == "reverse"
