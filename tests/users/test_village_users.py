"""The village's roll of users: who holds which role, page by page, without passwords or other villages."""

from __future__ import annotations

from jifen.models import Role
from jifen.users.schemas import RoleGrantIn
from tests.factories import PASSWORD, World
from tests.helpers import assert_error


async def test_lists_the_villages_users_with_their_roles_in_this_village_only(world: World) -> None:
    setup = await world.setup_village()
    other = await world.setup_village()
    v, w = setup.village.id, other.village.id
    # one person with roles in both villages: village A's admin sees only the grant in A
    await world.person(
        RoleGrantIn(role=Role.reviewer, village_id=v),
        RoleGrantIn(role=Role.cadre, village_id=w, grid="秘密组"),
        username="zz-both",
    )
    admin = setup.people["village_admin"]

    response = await world.call("GET", f"/villages/{v}/users", admin, params={"limit": 200})

    assert response.status_code == 200, response.text
    users = response.json()["items"]
    names = [u["username"] for u in users]
    assert names == sorted(names)
    assert set(names) == {p.username for p in setup.people.values()} | {"zz-both"}
    by_name = {u["username"]: u for u in users}
    assert [r["role"] for r in by_name["zz-both"]["roles"]] == ["reviewer"]
    assert by_name[setup.people["clerk"].username]["roles"][0]["store_id"] == str(setup.store.id)
    assert "秘密组" not in response.text
    assert str(w) not in response.text
    assert "hash" not in response.text  # no password hash (the must_change_password flag is fine)
    assert PASSWORD not in response.text


async def test_filters_by_role_and_pages_by_cursor(world: World) -> None:
    setup = await world.setup_village()
    v = setup.village.id
    for i in range(5):
        await world.person(RoleGrantIn(role=Role.cadre, village_id=v, grid="一组"), username=f"cadre-{i}")
    town_admin = await world.town_admin()

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"role": "cadre", "limit": 2} | ({"cursor": cursor} if cursor else {})
        response = await world.call("GET", f"/villages/{v}/users", town_admin, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        seen += [u["username"] for u in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert seen == sorted([*(f"cadre-{i}" for i in range(5)), setup.people["cadre"].username])
    assert pages == 3
    assert len(seen) == len(set(seen))


async def test_bad_role_and_bad_cursor_are_refused_in_chinese(world: World) -> None:
    setup = await world.setup_village()
    admin = setup.people["village_admin"]
    path = f"/villages/{setup.village.id}/users"

    bad_role = await world.call("GET", path, admin, params={"role": "king"})
    bad_cursor = await world.call("GET", path, admin, params={"cursor": "!!not-a-cursor"})

    assert bad_role.status_code == 422
    assert "请从列表中选择" in bad_role.text
    assert_error(bad_cursor, 400, "invalid_cursor")
