from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.factories import Person, VillageSetup, World
from tests.helpers import assert_error, bearer, login

NEW_PASSWORD = "a-new-password-1"


def _user(username: str, *roles: dict[str, Any], password: str = NEW_PASSWORD) -> dict[str, Any]:
    return {
        "username": username,
        "password": password,
        "display_name": f"{username}的名字",
        "roles": list(roles),
    }


def _role(role: str, **scope: uuid.UUID | str) -> dict[str, Any]:
    return {"role": role, **{k: str(v) for k, v in scope.items()}}


async def _roles_after_login(world: World, username: str) -> list[dict[str, Any]]:
    token = await login(world.client, username, NEW_PASSWORD)
    assert token.status_code == 200, (username, token.text)
    me = await world.client.get("/api/v1/auth/me", headers=bearer(token.json()["access_token"]))
    assert me.status_code == 200
    return [{k: v for k, v in r.items() if v is not None} for r in me.json()["roles"]]


async def test_town_admin_creates_users_with_every_role_and_they_can_log_in(world: World) -> None:
    setup = await world.setup_village()
    town_admin = await world.town_admin()
    v = setup.village.id
    grants = {
        "town2": _role("town_admin"),
        "vadmin": _role("village_admin", village_id=v),
        "cadre1": _role("cadre", village_id=v, grid="二组"),
        "reviewer1": _role("reviewer", village_id=v),
        "clerk1": _role("clerk", village_id=v, store_id=setup.store.id),
        "villager1": _role("villager", village_id=v, household_id=setup.households[1].id),
    }

    for username, grant in grants.items():
        response = await world.call("POST", "/users", town_admin, json=_user(username, grant))
        assert response.status_code == 201, (username, response.text)
        user = response.json()
        assert isinstance(user["id"], str)
        assert user["username"] == username
        assert user["display_name"] == f"{username}的名字"
        assert NEW_PASSWORD not in str(user)
        assert "hash" not in str(user)
        assert [{k: v for k, v in r.items() if v is not None} for r in user["roles"]] == [grant]
        assert await _roles_after_login(world, username) == [grant]


async def test_village_admin_creates_users_only_in_their_own_village(world: World) -> None:
    setup = await world.setup_village()
    other = await world.setup_village()
    admin = setup.people["village_admin"]
    v = setup.village.id

    cadre = await world.call("POST", "/users", admin, json=_user("newcadre", _role("cadre", village_id=v)))
    town = await world.call("POST", "/users", admin, json=_user("newtown", _role("town_admin")))
    elsewhere = await world.call(
        "POST", "/users", admin, json=_user("spy", _role("cadre", village_id=other.village.id))
    )
    mixed = await world.call(
        "POST",
        "/users",
        admin,
        json=_user("mixed", _role("cadre", village_id=v), _role("reviewer", village_id=other.village.id)),
    )

    assert cadre.status_code == 201, cadre.text
    assert await _roles_after_login(world, "newcadre") == [_role("cadre", village_id=v)]
    assert_error(town, 403, "forbidden")
    assert_error(elsewhere, 404, "not_found")
    assert other.village.code not in elsewhere.text
    assert_error(mixed, 404, "not_found")
    for refused in ("newtown", "spy", "mixed"):  # nothing half-written: the names are still free
        assert_error(await login(world.client, refused, NEW_PASSWORD), 401, "invalid_credentials")


async def test_staff_below_village_admin_cannot_create_users(world: World) -> None:
    setup = await world.setup_village()
    body = _user(
        "sneaky", _role("villager", village_id=setup.village.id, household_id=setup.households[1].id)
    )

    for role in ("cadre", "reviewer", "clerk", "villager"):
        assert_error(await world.call("POST", "/users", setup.people[role], json=body), 403, "forbidden")
    assert_error(await world.call("POST", "/users", None, json=body), 401, "not_authenticated")


BadGrant = Callable[[VillageSetup, VillageSetup], list[dict[str, Any]]]

BAD_GRANTS: dict[str, BadGrant] = {
    "clerk without a store": lambda a, b: [_role("clerk", village_id=a.village.id)],
    "clerk of another village's store": lambda a, b: [
        _role("clerk", village_id=a.village.id, store_id=b.store.id)
    ],
    "villager without a household": lambda a, b: [_role("villager", village_id=a.village.id)],
    "villager of another village's household": lambda a, b: [
        _role("villager", village_id=a.village.id, household_id=b.households[0].id)
    ],
    "grid on a reviewer": lambda a, b: [_role("reviewer", village_id=a.village.id, grid="一组")],
    "store on a cadre": lambda a, b: [_role("cadre", village_id=a.village.id, store_id=a.store.id)],
    "household on a village admin": lambda a, b: [
        _role("village_admin", village_id=a.village.id, household_id=a.households[0].id)
    ],
    "village role without a village": lambda a, b: [_role("cadre")],
    "town admin with a village": lambda a, b: [_role("town_admin", village_id=a.village.id)],
    "one good grant and one bad": lambda a, b: [
        _role("cadre", village_id=a.village.id),
        _role("clerk", village_id=a.village.id),
    ],
}


@pytest.mark.parametrize("who", ["town_admin", "village_admin"])
async def test_a_role_with_the_wrong_scope_is_refused(world: World, who: str) -> None:
    a = await world.setup_village(households=1)
    b = await world.setup_village(households=1)
    actor: Person = await world.town_admin() if who == "town_admin" else a.people["village_admin"]

    for number, (case, grants) in enumerate(BAD_GRANTS.items()):
        if who == "village_admin" and case == "town admin with a village":
            continue  # a village admin is refused any town admin grant (403), scope or not
        username = f"bad{number}"
        response = await world.call("POST", "/users", actor, json=_user(username, *grants(a, b)))
        assert response.status_code == 400, (case, response.text)
        assert_error(response, 400, "invalid_role")
        assert_error(await login(world.client, username, NEW_PASSWORD), 401, "invalid_credentials")


async def test_user_names_are_unique_whatever_their_case(world: World) -> None:
    town_admin = await world.town_admin()
    first = await world.call("POST", "/users", town_admin, json=_user("ZhangWei", _role("town_admin")))

    again = await world.call(
        "POST", "/users", town_admin, json=_user("zhangwei", _role("town_admin"), password="other-password")
    )

    assert first.status_code == 201, first.text
    assert_error(again, 409, "duplicate_username")
    assert (await login(world.client, "ZHANGWEI", NEW_PASSWORD)).status_code == 200
    assert (await login(world.client, "zhangwei", "other-password")).status_code == 401


async def test_a_short_password_is_refused(world: World) -> None:
    town_admin = await world.town_admin()

    response = await world.call(
        "POST", "/users", town_admin, json=_user("shorty", _role("town_admin"), password="1234567")
    )

    assert_error(response, 422)
    assert "password" in response.text
    assert (await login(world.client, "shorty", "1234567")).status_code == 401
