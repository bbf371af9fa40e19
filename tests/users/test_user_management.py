"""Users can be managed: disabled and enabled, their password reset (changed at the next sign-in), a role
taken away; signing out or changing a password ends every token the user holds. Each is an audit event."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import text

from jifen.models import Role
from jifen.users.schemas import RoleGrantIn
from tests.factories import PASSWORD, Person, VillageSetup, World
from tests.helpers import assert_error, bearer, login


async def _token(world: World, username: str, password: str = PASSWORD) -> str:
    response = await login(world.client, username, password)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def _me(world: World, token: str) -> Any:
    return await world.client.get("/api/v1/auth/me", headers=bearer(token))


async def _events(world: World, action: str, record_id: uuid.UUID) -> list[dict[str, Any]]:
    async with world.session() as session:
        rows = await session.execute(
            text(
                "SELECT scope, actor_id, action, reason, before, after FROM audit_events"
                " WHERE action = :action AND record_id = :record ORDER BY id"
            ),
            {"action": action, "record": str(record_id)},
        )
        return [dict(row._mapping) for row in rows]


async def test_a_disabled_user_is_locked_out_at_once_and_comes_back_when_enabled(world: World) -> None:
    setup = await world.setup_village()
    admin = setup.people["village_admin"]
    cadre = setup.people["cadre"]
    old_token = await _token(world, cadre.username)
    assert (await _me(world, old_token)).status_code == 200

    disabled = await world.call("POST", f"/users/{cadre.id}/disable", admin, json={"reason": "已调离本村"})

    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["is_active"] is False
    assert disabled.json()["disabled_reason"] == "已调离本村"
    assert_error(await _me(world, old_token), 401)
    assert_error(await world.call("GET", "/auth/me", cadre), 401)  # the factory's token too
    refused = await login(world.client, cadre.username)
    assert_error(refused, 401, "invalid_credentials")  # no hint that the account exists but is disabled
    [event] = await _events(world, "user.disable", cadre.id)
    assert event["actor_id"] == admin.id
    assert event["reason"] == "已调离本村"
    assert event["scope"] == setup.village.id

    enabled = await world.call("POST", f"/users/{cadre.id}/enable", admin, json={"reason": "回村任职"})

    assert enabled.status_code == 200, enabled.text
    assert enabled.json()["is_active"] is True
    assert_error(await _me(world, old_token), 401)  # a token from before the disabling never comes back
    assert (await _me(world, await _token(world, cadre.username))).status_code == 200
    [event] = await _events(world, "user.enable", cadre.id)
    assert event["reason"] == "回村任职"


async def test_signing_out_ends_every_token_of_the_user(world: World) -> None:
    setup = await world.setup_village()
    reviewer = setup.people["reviewer"]
    phone, desk = await _token(world, reviewer.username), await _token(world, reviewer.username)

    out = await world.client.post("/api/v1/auth/logout", headers=bearer(phone))

    assert out.status_code == 204, out.text
    assert_error(await _me(world, phone), 401, "invalid_token")
    assert_error(await _me(world, desk), 401, "invalid_token")  # a copied token dies with the sign-out
    assert (await _me(world, await _token(world, reviewer.username))).status_code == 200
    assert len(await _events(world, "auth.logout", reviewer.id)) == 1


async def test_a_reset_password_must_be_changed_before_anything_else(world: World) -> None:
    setup = await world.setup_village()
    admin = setup.people["village_admin"]
    clerk = setup.people["clerk"]
    old_token = await _token(world, clerk.username)

    reset = await world.call("POST", f"/users/{clerk.id}/reset-password", admin, json={"reason": "忘记密码"})

    assert reset.status_code == 200, reset.text
    one_time = reset.json()["one_time_password"]
    assert len(one_time) >= 10
    assert reset.json()["user"]["must_change_password"] is True
    assert_error(await _me(world, old_token), 401)  # sessions from before the reset end
    assert_error(await login(world.client, clerk.username, PASSWORD), 401, "invalid_credentials")
    signed_in = await login(world.client, clerk.username, one_time)
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["must_change_password"] is True
    token = signed_in.json()["access_token"]
    me = await _me(world, token)
    assert me.status_code == 200
    assert me.json()["must_change_password"] is True
    store_items = await world.client.get(f"/api/v1/stores/{setup.store.id}/items", headers=bearer(token))
    assert_error(store_items, 403, "password_change_required")
    [event] = await _events(world, "user.reset_password", clerk.id)
    assert event["actor_id"] == admin.id
    assert event["reason"] == "忘记密码"
    assert one_time not in str(event)  # the audit trail never holds a password

    changed = await world.client.post(
        "/api/v1/auth/password",
        headers=bearer(token),
        json={"old_password": one_time, "new_password": "my-own-new-password"},
    )

    assert changed.status_code == 200, changed.text
    new_token = changed.json()["access_token"]
    assert_error(await _me(world, token), 401)  # the one-time session ends with the change
    assert (
        await world.client.get(f"/api/v1/stores/{setup.store.id}/items", headers=bearer(new_token))
    ).status_code == 200
    assert (await _me(world, new_token)).json()["must_change_password"] is False
    assert_error(await login(world.client, clerk.username, one_time), 401, "invalid_credentials")
    assert (await login(world.client, clerk.username, "my-own-new-password")).status_code == 200
    assert len(await _events(world, "user.change_password", clerk.id)) == 1


async def test_changing_ones_own_password_checks_the_old_one_and_the_length(world: World) -> None:
    setup = await world.setup_village()
    villager = setup.people["villager"]
    token = await _token(world, villager.username)

    def change(old: str, new: str) -> Any:
        return world.client.post(
            "/api/v1/auth/password", headers=bearer(token), json={"old_password": old, "new_password": new}
        )

    assert_error(await change("not-my-password", "a-long-enough-one"), 403, "wrong_password")
    assert (await change(PASSWORD, "short")).status_code == 422
    assert_error(await change(PASSWORD, PASSWORD), 400, "password_unchanged")
    assert (await _me(world, token)).status_code == 200  # refusals change nothing
    assert (await change(PASSWORD, "a-long-enough-one")).status_code == 200
    assert_error(await _me(world, token), 401)


async def test_removing_a_role_takes_it_away_at_once(world: World) -> None:
    setup = await world.setup_village()
    admin = setup.people["village_admin"]
    v = setup.village.id
    person = await world.person(
        RoleGrantIn(role=Role.cadre, village_id=v, grid="一组"), RoleGrantIn(role=Role.reviewer, village_id=v)
    )
    assert (await world.call("GET", f"/villages/{v}/households", person)).status_code == 200

    removed = await world.call(
        "POST",
        f"/users/{person.id}/roles/remove",
        admin,
        json={"role": "cadre", "village_id": str(v), "grid": "一组", "reason": "不再担任网格员"},
    )

    assert removed.status_code == 200, removed.text
    assert [r["role"] for r in removed.json()["roles"]] == ["reviewer"]
    me = await world.call("GET", "/auth/me", person)  # the user keeps their other role and their session
    assert [r["role"] for r in me.json()["roles"]] == ["reviewer"]
    [event] = await _events(world, "user.remove_role", person.id)
    assert event["reason"] == "不再担任网格员"
    assert event["before"]["role"] == "cadre"
    again = await world.call(
        "POST",
        f"/users/{person.id}/roles/remove",
        admin,
        json={"role": "cadre", "village_id": str(v), "grid": "一组", "reason": "再来一次"},
    )
    assert_error(again, 404, "role_not_found")


async def _two_villages(world: World) -> tuple[VillageSetup, VillageSetup, Person]:
    home, other = await world.setup_village(), await world.setup_village()
    both = await world.person(
        RoleGrantIn(role=Role.reviewer, village_id=home.village.id),
        RoleGrantIn(role=Role.reviewer, village_id=other.village.id),
    )
    return home, other, both


async def test_a_village_admin_manages_only_their_own_villages_users(world: World) -> None:
    home, other, both = await _two_villages(world)
    admin = home.people["village_admin"]
    town = await world.town_admin()
    reason = {"reason": "测试"}

    elsewhere = await world.call("POST", f"/users/{other.people['cadre'].id}/disable", admin, json=reason)
    town_admin = await world.call("POST", f"/users/{town.id}/disable", admin, json=reason)
    town_reset = await world.call("POST", f"/users/{town.id}/reset-password", admin, json={})
    shared = await world.call("POST", f"/users/{both.id}/disable", admin, json=reason)
    shared_reset = await world.call("POST", f"/users/{both.id}/reset-password", admin, json={})
    myself = await world.call("POST", f"/users/{admin.id}/disable", admin, json=reason)
    my_role = await world.call(
        "POST",
        f"/users/{admin.id}/roles/remove",
        admin,
        json={"role": "village_admin", "village_id": str(home.village.id), "reason": "测试"},
    )
    unknown = await world.call("POST", f"/users/{uuid.uuid4()}/disable", admin, json=reason)

    assert_error(elsewhere, 404)  # another village's user does not even exist for this admin
    assert_error(town_admin, 404)
    assert_error(town_reset, 404)
    assert_error(shared, 403, "user_in_other_village")  # the account serves another village too
    assert_error(shared_reset, 403, "user_in_other_village")
    assert_error(myself, 403, "cannot_manage_self")
    assert_error(my_role, 403, "cannot_manage_self")
    assert_error(unknown, 404)
    for person in (other.people["cadre"], town, both, admin):
        assert (await world.call("GET", "/auth/me", person)).status_code == 200  # nobody was touched

    # their own village's part of a shared account: only that role goes
    removed = await world.call(
        "POST",
        f"/users/{both.id}/roles/remove",
        admin,
        json={"role": "reviewer", "village_id": str(home.village.id), "reason": "测试"},
    )
    assert removed.status_code == 200, removed.text
    me = await world.call("GET", "/auth/me", both)
    assert [r["village_id"] for r in me.json()["roles"]] == [str(other.village.id)]
    elsewhere_role = await world.call(
        "POST",
        f"/users/{both.id}/roles/remove",
        admin,
        json={"role": "reviewer", "village_id": str(other.village.id), "reason": "测试"},
    )
    assert_error(elsewhere_role, 404)


async def test_the_town_admin_manages_anyone_but_not_themselves(world: World) -> None:
    home, _, both = await _two_villages(world)
    town, other_town = await world.town_admin(), await world.town_admin()

    shared = await world.call("POST", f"/users/{both.id}/disable", town, json={"reason": "测试"})
    colleague = await world.call("POST", f"/users/{other_town.id}/reset-password", town, json={})
    village_admin = await world.call(
        "POST", f"/users/{home.people['village_admin'].id}/disable", town, json={"reason": "测试"}
    )
    myself = await world.call("POST", f"/users/{town.id}/disable", town, json={"reason": "测试"})

    assert shared.status_code == 200, shared.text
    assert colleague.status_code == 200, colleague.text
    assert village_admin.status_code == 200, village_admin.text
    assert_error(myself, 403, "cannot_manage_self")
    assert len(await _events(world, "user.disable", both.id)) == 2  # on the record of both its villages


async def test_sign_out_racing_requests_leaves_no_token_alive(world: World) -> None:
    """Sign-outs and password changes on parallel connections: every bump counts, none is lost."""
    setup = await world.setup_village()
    cadre = setup.people["cadre"]
    tokens = [await _token(world, cadre.username) for _ in range(6)]

    answers = await asyncio.gather(
        *(world.client.post("/api/v1/auth/logout", headers=bearer(t)) for t in tokens)
    )

    assert all(a.status_code in (204, 401) for a in answers), [a.text for a in answers]
    assert any(a.status_code == 204 for a in answers)
    for token in tokens:
        assert_error(await _me(world, token), 401)
    async with world.session() as session:
        version = await session.scalar(
            text("SELECT credential_version FROM users WHERE id = :id"), {"id": cadre.id}
        )
    logouts = len(await _events(world, "auth.logout", cadre.id))
    assert version == 1 + logouts  # each sign-out that answered 204 bumped the version once
