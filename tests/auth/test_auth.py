from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from jifen.auth.throttle import MAX_FAILURES
from jifen.models import Role, User
from jifen.users.schemas import RoleGrantIn
from tests.factories import PASSWORD, World
from tests.helpers import assert_error, bearer, login


async def test_login_returns_a_bearer_token_that_opens_me(world: World) -> None:
    person = await world.person(RoleGrantIn(role=Role.town_admin), username="Wang.Admin")

    response = await login(world.client, "wang.ADMIN")  # user names are case-insensitive

    assert response.status_code == 200, response.text
    token = response.json()
    assert token["token_type"] == "bearer"
    assert isinstance(token["expires_in"], int)
    assert token["expires_in"] > 0
    me = await world.client.get("/api/v1/auth/me", headers=bearer(token["access_token"]))
    assert me.status_code == 200
    assert me.json()["id"] == str(person.id)
    assert me.json()["username"] == "Wang.Admin"


async def test_wrong_password_and_unknown_user_answer_the_same(world: World) -> None:
    await world.person(RoleGrantIn(role=Role.town_admin), username="liwei")

    wrong_password = await login(world.client, "liwei", "not-the-password")
    unknown_user = await login(world.client, "nobody-here", PASSWORD)
    nul_in_name = await login(world.client, "li\x00wei", PASSWORD)

    for response in (wrong_password, unknown_user):
        assert_error(response, 401, "invalid_credentials")
    assert wrong_password.json() == unknown_user.json()
    # a NUL is no one's name: refused at the edge like any control character, whoever exists
    assert_error(nul_in_name, 400, "invalid_characters")


async def test_repeated_failures_lock_the_name_for_a_while(world: World) -> None:
    await world.person(RoleGrantIn(role=Role.town_admin), username="zhaoliu")

    for _ in range(MAX_FAILURES):
        assert_error(await login(world.client, "zhaoliu", "guess-guess"), 401, "invalid_credentials")
    locked = await login(world.client, "ZhaoLiu", PASSWORD)  # even the right password, in any case
    unknown_locked = [await login(world.client, "ghost", "guess-guess") for _ in range(MAX_FAILURES + 1)]

    assert_error(locked, 429, "too_many_attempts")
    assert_error(unknown_locked[-1], 429, "too_many_attempts")  # an unknown name is treated the same
    assert (await login(world.client, "someone-else", PASSWORD)).status_code == 401  # others unaffected


async def test_me_lists_every_scoped_role(world: World) -> None:
    setup = await world.setup_village()
    village = setup.village.id
    household = setup.households[0].id
    person = await world.person(
        RoleGrantIn(role=Role.cadre, village_id=village, grid="一组"),
        RoleGrantIn(role=Role.villager, village_id=village, household_id=household),
        RoleGrantIn(role=Role.clerk, village_id=village, store_id=setup.store.id),
        username="multi",
    )

    response = await world.call("GET", "/auth/me", person)

    assert response.status_code == 200
    me = response.json()
    assert me["id"] == str(person.id)
    assert me["username"] == "multi"
    assert me["display_name"] == "multi"
    assert sorted(me["roles"], key=lambda r: r["role"]) == [
        {"role": "cadre", "village_id": str(village), "store_id": None, "household_id": None, "grid": "一组"},
        {
            "role": "clerk",
            "village_id": str(village),
            "store_id": str(setup.store.id),
            "household_id": None,
            "grid": None,
        },
        {
            "role": "villager",
            "village_id": str(village),
            "store_id": None,
            "household_id": str(household),
            "grid": None,
        },
    ]


def _signed(app: FastAPI, claims: dict[str, object]) -> str:
    return jwt.encode(claims, app.state.settings.secret_key.get_secret_value(), algorithm="HS256")


async def test_me_without_a_token_is_not_authenticated(world: World) -> None:
    assert_error(await world.client.get("/api/v1/auth/me"), 401, "not_authenticated")
    basic = await world.client.get("/api/v1/auth/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert_error(basic, 401, "not_authenticated")


@pytest.mark.parametrize("kind", ["garbage", "expired", "other_secret", "unknown_user", "no_type"])
async def test_a_bad_token_is_refused(world: World, kind: str) -> None:
    person = await world.town_admin()
    now = datetime.now(UTC)
    claims: dict[str, object] = {"sub": str(person.id), "iat": now, "exp": now + timedelta(minutes=5)}
    claims["typ"] = "access"
    tokens = {
        "garbage": "not.a.token",
        "expired": _signed(
            world.app, {**claims, "iat": now - timedelta(hours=2), "exp": now - timedelta(hours=1)}
        ),
        "other_secret": jwt.encode(claims, "some-other-secret-0123456789abcdef", algorithm="HS256"),
        "unknown_user": _signed(world.app, {**claims, "sub": str(uuid.uuid4())}),
        "no_type": _signed(world.app, {k: v for k, v in claims.items() if k != "typ"}),
    }

    response = await world.client.get("/api/v1/auth/me", headers=bearer(tokens[kind]))

    assert_error(response, 401, "invalid_token")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_deactivated_user_is_locked_out(world: World) -> None:
    person = await world.town_admin()
    assert (await world.call("GET", "/auth/me", person)).status_code == 200
    async with world.session() as session, session.begin():
        await session.execute(update(User).where(User.id == person.id).values(is_active=False))

    assert_error(await world.call("GET", "/auth/me", person), 401, "invalid_token")
    assert_error(await login(world.client, person.username), 401, "invalid_credentials")
