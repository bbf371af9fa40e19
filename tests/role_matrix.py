"""The role matrix: every operation, as every role, against village A's records.

Allowed → 2xx. Refused → 401 for the anonymous caller, 404 where the record must stay hidden (another
village's admin, a villager looking at a neighbour's household), 403 otherwise; never 2xx, never 500. No
refused answer — and no answer at all to a caller from outside village A — carries village A's data. No
answer at all shows a private string (a member's phone number in full, a live pickup code) to a role that
may not read it (see `Scene.private`).

The callers inside village A include the read-scope cases: `cadre` answers for grid 一组 (the villager's
own household), so for `household` (grid 二组) it is a cadre of another grid and `grid_cadre` (二组) the
cadre of its grid; `other_clerk` is a clerk of village A's second store; `villager` is a villager of another
household for `household`.

Each domain's test lists its operations as `Operation` rows and runs them with `check_matrix`.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from jifen.models import Role
from jifen.users.schemas import RoleGrantIn
from tests.factories import Person, World
from tests.ledger.helpers import award

ROLES = (
    "anonymous",
    "town_admin",
    "village_admin",
    "cadre",
    "grid_cadre",
    "reviewer",
    "clerk",
    "other_clerk",
    "villager",
    "other_village_admin",
)
SIGNED_IN = frozenset(ROLES) - {"anonymous"}
VILLAGE_STAFF = frozenset({"village_admin", "cadre", "grid_cadre", "reviewer", "clerk", "other_clerk"})
VILLAGE_USERS = VILLAGE_STAFF | {"villager"}
OUTSIDERS = frozenset({"anonymous", "other_village_admin"})
CLERKS = frozenset({"clerk", "other_clerk"})

# read scope (auth/scope.py): who reads how much of `household` (二组) and of `own_household` (一组)
HOUSEHOLD_SUMMARY = frozenset({"town_admin", "village_admin", "grid_cadre", "reviewer"})
OWN_HOUSEHOLD_SUMMARY = frozenset({"town_admin", "village_admin", "cadre", "reviewer", "villager"})
HOUSEHOLD_COUNTER = HOUSEHOLD_SUMMARY | CLERKS  # code, name, points: what the counter needs
OWN_HOUSEHOLD_COUNTER = OWN_HOUSEHOLD_SUMMARY | CLERKS
HOUSEHOLD_HISTORY = frozenset({"town_admin", "village_admin", "grid_cadre"})  # entries, awards, caps
OWN_HOUSEHOLD_HISTORY = frozenset({"town_admin", "village_admin", "cadre", "villager"})
# the village's awards and the review queue: not the counter's business (a cadre's list is cut to their grid)
AWARD_READERS = frozenset({"town_admin", "village_admin", "cadre", "grid_cadre", "reviewer"})
PHONE = "13800000000"  # every factory household's member

unique = itertools.count(1)


@dataclass
class Scene:
    """Village A — a store, the villager's own household, a neighbour's household with an award under a
    rule — and village B, whose admin must learn nothing of A."""

    village_a: Any
    store_a: Any
    own_household: Any  # the villager's own household in A (grid 一组, the cadre's grid)
    household: Any  # another household in A (grid 二组)
    village_b: Any
    rule: dict[str, Any]
    transaction_id: str  # the award to `household`
    people: dict[str, Person | None] = field(default_factory=dict)
    store_b: Any = None  # village A's second store (`other_clerk`'s)
    # strings that no answer may show except to these roles, whatever the status
    private: dict[str, frozenset[str]] = field(default_factory=lambda: {PHONE: frozenset({"village_admin"})})

    def secrets(self) -> list[str]:
        """Strings that only someone entitled to village A's records may ever read."""
        return [
            self.village_a.code,
            self.village_a.name,
            str(self.village_a.id),
            self.household.code,
            self.household.head_name,
            self.own_household.code,
            self.own_household.head_name,
            self.rule["code"],
            self.rule["name"],
            self.rule["id"],
            self.transaction_id,
        ]

    def person(self, role: str) -> Person:
        person = self.people[role]
        assert person is not None
        return person


async def build_scene(world: World) -> Scene:
    village_a = await world.village(code="ALPHA-7Q", name="甲秘村")
    store_a = await world.store(village_a)
    store_b = await world.store(village_a, name="甲村二号超市")
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
        "grid_cadre": await world.person(RoleGrantIn(role=Role.cadre, village_id=a, grid="二组")),
        "reviewer": await world.person(RoleGrantIn(role=Role.reviewer, village_id=a)),
        "clerk": await world.person(RoleGrantIn(role=Role.clerk, village_id=a, store_id=store_a.id)),
        "other_clerk": await world.person(RoleGrantIn(role=Role.clerk, village_id=a, store_id=store_b.id)),
        "villager": await world.person(RoleGrantIn(role=Role.villager, village_id=a, household_id=own.id)),
        "other_village_admin": await world.person(RoleGrantIn(role=Role.village_admin, village_id=b)),
    }
    admin = people["village_admin"]
    response = await world.call(
        "POST",
        f"/villages/{a}/rules",
        admin,
        json={"code": "SECRET-R7", "name": "甲村秘密细则", "category": "人居环境", "points": 12},
    )
    assert response.status_code == 201, response.text
    rule = response.json()
    awarded = await award(world, people["village_admin"], other.id, rule)  # type: ignore[arg-type]
    assert awarded.status_code == 201, awarded.text
    return Scene(
        village_a, store_a, own, other, village_b, rule, awarded.json()["transaction_id"], people, store_b
    )


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
    files: Body | None = None  # a multipart upload instead of a JSON body

    def url(self, scene: Scene) -> str:
        return self.path.format(
            village_a=scene.village_a.id,
            household=scene.household.id,
            own_household=scene.own_household.id,
            rule=scene.rule["id"],
            transaction=scene.transaction_id,
        )

    def expected(self, role: str) -> str:
        if role in self.allowed:
            return "2xx"
        if role == "anonymous":
            return "401"
        if role in self.hidden_from:
            return "404"
        return "403"


async def check_matrix(world: World, scene: Scene, operations: Sequence[Operation]) -> None:
    """Run every operation as every role, in order; fail listing every wrong answer."""
    wrong: list[str] = []
    for operation, role in itertools.product(operations, ROLES):
        kwargs: dict[str, Any] = {"json": operation.body(scene)} if operation.body else {}
        if operation.files:
            kwargs["files"] = operation.files(scene)
        if operation.moves_points:
            kwargs["headers"] = {"Idempotency-Key": uuid.uuid4().hex}
        response = await world.call(operation.method, operation.url(scene), scene.people[role], **kwargs)
        status = response.status_code
        expected = operation.expected(role)
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
        private = [
            text for text, readers in scene.private.items() if role not in readers and text in response.text
        ]
        if private:
            wrong.append(f"{where}: answer {status} shows {private}, which this role may not read")
    assert not wrong, "\n".join(wrong)
