"""One role matrix: every operation, as every role, against village A's records.

Allowed → 2xx. Refused → 401 for the anonymous caller, 404 where the record must stay hidden (another
village's admin, a villager looking at a neighbour's household), 403 otherwise; never 2xx, never 500. No
refused answer — and no answer at all to a caller from outside village A — carries village A's data.

To add an operation, add one `Operation` row to OPERATIONS.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from jifen.models import Role
from jifen.users.schemas import RoleGrantIn
from tests.factories import Person, World

ROLES = (
    "anonymous",
    "town_admin",
    "village_admin",
    "cadre",
    "reviewer",
    "clerk",
    "villager",
    "other_village_admin",
)
SIGNED_IN = frozenset(ROLES) - {"anonymous"}
VILLAGE_STAFF = frozenset({"village_admin", "cadre", "reviewer", "clerk"})
OUTSIDERS = frozenset({"anonymous", "other_village_admin"})

_unique = itertools.count(1)


@dataclass
class Scene:
    """Village A (whose records every operation targets) and village B (whose admin must learn nothing)."""

    village_a: Any
    store_a: Any
    own_household: Any  # the villager's own household in A
    household: Any  # another household in A
    village_b: Any
    people: dict[str, Person | None] = field(default_factory=dict)

    def secrets(self) -> list[str]:
        """Strings that only someone entitled to village A's records may ever read."""
        return [
            self.village_a.code,
            self.village_a.name,
            self.household.code,
            self.household.head_name,
            self.own_household.code,
            self.own_household.head_name,
        ]


Body = Callable[[Scene], dict[str, Any]]


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    path: str  # formatted with village_a, household, own_household
    allowed: frozenset[str]
    body: Body | None = None
    hidden_from: frozenset[str] = frozenset({"other_village_admin"})  # refused with 404, not 403

    def url(self, scene: Scene) -> str:
        return self.path.format(
            village_a=scene.village_a.id, household=scene.household.id, own_household=scene.own_household.id
        )


def _new_village(scene: Scene) -> dict[str, Any]:
    return {"code": f"NEW{next(_unique)}", "name": "新村"}


def _new_cadre_in_a(scene: Scene) -> dict[str, Any]:
    return {
        "username": f"newuser{next(_unique)}",
        "password": "a-good-password",
        "display_name": "新干部",
        "roles": [{"role": "cadre", "village_id": str(scene.village_a.id)}],
    }


def _new_household(scene: Scene) -> dict[str, Any]:
    return {"code": f"NH{next(_unique)}", "head_name": "新户主", "members": [{"name": "新户主"}]}


def _new_member(scene: Scene) -> dict[str, Any]:
    return {"name": f"新成员{next(_unique)}"}


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


@pytest.fixture
async def scene(world: World) -> Scene:
    village_a = await world.village(code="ALPHA-7Q", name="甲秘村")
    store_a = await world.store(village_a)
    own = await world.household(village_a, "HA-OWN", grid="一组", head_name="甲自家户主")
    other = await world.household(village_a, "HA-TARGET", grid="二组", head_name="甲邻居户主")
    village_b = await world.village(code="BETA-9Z", name="乙村")
    await world.household(village_b, "HB-1", head_name="乙户主")
    a, b = village_a.id, village_b.id
    people: dict[str, Person | None] = {
        "anonymous": None,
        "town_admin": await world.town_admin(),
        "village_admin": await world.person(RoleGrantIn(role=Role.village_admin, village_id=a)),
        "cadre": await world.person(RoleGrantIn(role=Role.cadre, village_id=a, grid="一组")),
        "reviewer": await world.person(RoleGrantIn(role=Role.reviewer, village_id=a)),
        "clerk": await world.person(RoleGrantIn(role=Role.clerk, village_id=a, store_id=store_a.id)),
        "villager": await world.person(RoleGrantIn(role=Role.villager, village_id=a, household_id=own.id)),
        "other_village_admin": await world.person(RoleGrantIn(role=Role.village_admin, village_id=b)),
    }
    return Scene(village_a, store_a, own, other, village_b, people)


def expected_status(operation: Operation, role: str) -> str:
    if role in operation.allowed:
        return "2xx"
    if role == "anonymous":
        return "401"
    if role in operation.hidden_from:
        return "404"
    return "403"


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.name for op in OPERATIONS])
async def test_role_matrix(world: World, scene: Scene, operation: Operation) -> None:
    wrong: list[str] = []
    for role in ROLES:
        kwargs: dict[str, Any] = {"json": operation.body(scene)} if operation.body else {}
        response = await world.call(operation.method, operation.url(scene), scene.people[role], **kwargs)
        status = response.status_code
        expected = expected_status(operation, role)
        got = "2xx" if 200 <= status < 300 else str(status)
        if got != expected:
            wrong.append(f"{role}: expected {expected}, got {status} {response.text[:200]}")
            continue
        refused = expected != "2xx"
        if refused:
            body = response.json()
            if not (isinstance(body, dict) and body.get("error") and body.get("detail")):
                wrong.append(f"{role}: refusal without error/detail: {response.text[:200]}")
        if refused or role in OUTSIDERS:
            leaked = [secret for secret in scene.secrets() if secret in response.text]
            if leaked:
                wrong.append(f"{role}: answer {status} shows village A's {leaked}")
    assert not wrong, f"{operation.name} ({operation.method} {operation.path}):\n" + "\n".join(wrong)
