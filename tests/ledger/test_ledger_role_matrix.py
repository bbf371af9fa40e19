"""The role matrix for the ledger's operations (rules, awards, balance, entries, transactions, reversal), in
the manner of tests/test_role_matrix.py: every operation, as every role, against village A's records.

Allowed → 2xx. Refused → 401 for the anonymous caller, 404 where the record must stay hidden (another
village's admin, a villager looking at a neighbour's household), 403 otherwise; never 2xx, never 500. No
refused answer — and no answer at all to a caller from outside village A — carries village A's data.

To add an operation, add one `Operation` row to OPERATIONS.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from jifen.models import Role
from jifen.users.schemas import RoleGrantIn
from tests.factories import Person, World
from tests.ledger.helpers import award

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
VILLAGE_STAFF = frozenset({"village_admin", "cadre", "reviewer", "clerk"})
VILLAGE_USERS = VILLAGE_STAFF | {"villager"}
OUTSIDERS = frozenset({"anonymous", "other_village_admin"})
SUBMITTERS = frozenset({"cadre", "village_admin"})

_unique = itertools.count(1)


@dataclass
class Scene:
    """Village A, with a rule and an award on the neighbour's household, and village B."""

    village_a: Any
    own_household: Any  # the villager's own household in A (grid 一组, the cadre's grid)
    household: Any  # another household in A
    rule: dict[str, Any]
    transaction_id: str  # an award to `household`
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
            self.rule["code"],
            self.rule["name"],
            self.transaction_id,
        ]


Body = Callable[[Scene], dict[str, Any]]


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    path: str  # formatted with village_a, household, own_household, rule, transaction
    allowed: frozenset[str]
    body: Body | None = None
    hidden_from: frozenset[str] = frozenset({"other_village_admin"})  # refused with 404, not 403
    moves_points: bool = False  # sends a fresh Idempotency-Key

    def url(self, scene: Scene) -> str:
        return self.path.format(
            village_a=scene.village_a.id,
            household=scene.household.id,
            own_household=scene.own_household.id,
            rule=scene.rule["id"],
            transaction=scene.transaction_id,
        )


def _new_rule(scene: Scene) -> dict[str, Any]:
    return {"code": f"NR{next(_unique)}", "name": "新细则", "category": "乡风文明", "points": 3}


def _rule_change(scene: Scene) -> dict[str, Any]:
    return {"category": f"分类{next(_unique)}"}


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
        VILLAGE_STAFF | {"town_admin", "villager"},
    ),
    Operation(
        "another household's balance",
        "GET",
        "/households/{household}/balance",
        VILLAGE_STAFF | {"town_admin"},
        hidden_from=frozenset({"other_village_admin", "villager"}),
    ),
    Operation(
        "own entries",
        "GET",
        "/households/{own_household}/entries",
        VILLAGE_STAFF | {"town_admin", "villager"},
    ),
    Operation(
        "another household's entries",
        "GET",
        "/households/{household}/entries",
        VILLAGE_STAFF | {"town_admin"},
        hidden_from=frozenset({"other_village_admin", "villager"}),
    ),
    Operation("transaction", "GET", "/transactions/{transaction}", VILLAGE_STAFF | {"town_admin"}),
    Operation(
        "reverse",
        "POST",
        "/transactions/{transaction}/reverse",
        frozenset({"village_admin"}),
        _reason,
        moves_points=True,
    ),
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
    admin = people["village_admin"]
    assert admin is not None
    response = await world.call(
        "POST",
        f"/villages/{a}/rules",
        admin,
        json={"code": "SECRET-R7", "name": "甲村秘密细则", "category": "人居环境", "points": 12},
    )
    assert response.status_code == 201, response.text
    rule = response.json()
    awarded = await award(world, admin, other.id, rule)
    assert awarded.status_code == 201, awarded.text
    return Scene(village_a, own, other, rule, awarded.json()["transaction_id"], people)


def expected_status(operation: Operation, role: str) -> str:
    if role in operation.allowed:
        return "2xx"
    if role == "anonymous":
        return "401"
    if role in operation.hidden_from:
        return "404"
    return "403"


async def test_ledger_role_matrix(world: World, scene: Scene) -> None:
    """One scene for the whole table (in its order: the reversal comes last), so the matrix stays cheap."""
    wrong: list[str] = []
    for operation, role in itertools.product(OPERATIONS, ROLES):
        kwargs: dict[str, Any] = {"json": operation.body(scene)} if operation.body else {}
        if operation.moves_points:
            kwargs["headers"] = {"Idempotency-Key": uuid.uuid4().hex}
        response = await world.call(operation.method, operation.url(scene), scene.people[role], **kwargs)
        status = response.status_code
        expected = expected_status(operation, role)
        got = "2xx" if 200 <= status < 300 else str(status)
        where = f"{operation.name} ({operation.method} {operation.path}) as {role}"
        if got != expected:
            wrong.append(f"{where}: expected {expected}, got {status} {response.text[:200]}")
            continue
        refused = expected != "2xx"
        if refused:
            body = response.json()
            if not (isinstance(body, dict) and body.get("error") and body.get("detail")):
                wrong.append(f"{where}: refusal without error/detail: {response.text[:200]}")
        if refused or role in OUTSIDERS:
            leaked = [secret for secret in scene.secrets() if secret in response.text]
            if leaked:
                wrong.append(f"{where}: answer {status} shows village A's {leaked}")
    assert not wrong, "\n".join(wrong)

    # refused money moves moved nothing: the award and the two-item batch, each by the cadre and the village
    # admin, are 6 awards of 12 to the villager's household; the neighbour's award was reversed once
    admin = scene.people["village_admin"]
    own = (await world.call("GET", f"/households/{scene.own_household.id}/balance", admin)).json()
    neighbour = (await world.call("GET", f"/households/{scene.household.id}/balance", admin)).json()
    assert own["posted"] == 6 * 12
    assert neighbour["posted"] == 0
    assert OPERATIONS[-1].name == "reverse"
