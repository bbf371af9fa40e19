"""The role matrix for expiry: the policy (set by the village admin, read by the village), its history, the
preview (village staff and the town admin) and a household's own expiring points (its villager and staff)."""

from __future__ import annotations

from tests.factories import World
from tests.role_matrix import (
    HOUSEHOLD_HISTORY,
    OWN_HOUSEHOLD_HISTORY,
    VILLAGE_STAFF,
    VILLAGE_USERS,
    Operation,
    build_scene,
    check_matrix,
)

OPERATIONS = [
    Operation(
        "set the expiry policy",
        "PUT",
        "/villages/{village_a}/expiry-policy",
        frozenset({"village_admin"}),
        lambda s: {"mode": "yearly", "clearing_date": "12-31", "carry_over_cap": 5, "reason": "村规民约"},
    ),
    Operation(
        "read the expiry policy", "GET", "/villages/{village_a}/expiry-policy", VILLAGE_USERS | {"town_admin"}
    ),
    Operation(
        "read the policy history",
        "GET",
        "/villages/{village_a}/expiry-policy/history",
        VILLAGE_USERS | {"town_admin"},
    ),
    Operation(
        "preview the clearing",
        "GET",
        "/villages/{village_a}/expiry/preview",
        VILLAGE_STAFF | {"town_admin"},
    ),
    Operation(
        "a neighbour's expiring points",
        "GET",
        "/households/{household}/expiring",
        HOUSEHOLD_HISTORY,
        hidden_from=frozenset({"other_village_admin", "villager"}),
    ),
    Operation(
        "own expiring points",
        "GET",
        "/households/{own_household}/expiring",
        OWN_HOUSEHOLD_HISTORY,
    ),
]


async def test_expiry_role_matrix(world: World) -> None:
    scene = await build_scene(world)
    await check_matrix(world, scene, OPERATIONS)
    # the preview names the neighbour (12 points, everything clears above a cap of 5): staff see it
    admin = scene.person("village_admin")
    preview = await world.call("GET", f"/villages/{scene.village_a.id}/expiry/preview", admin)
    assert [(r["code"], r["amount"]) for r in preview.json()["items"]] == [(scene.household.code, 7)]
