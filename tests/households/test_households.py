from __future__ import annotations

from typing import Any

from jifen.models import Role
from jifen.users.schemas import RoleGrantIn
from tests.factories import Person, World
from tests.helpers import assert_error


async def test_village_admin_registers_a_household_with_its_members(world: World) -> None:
    setup = await world.setup_village(households=1)
    admin = setup.people["village_admin"]
    body = {
        "code": "XF-0101",
        "head_name": "  李秀英 ",
        "grid": "一组",
        "address": "幸福村3号",
        "members": [{"name": "李秀英", "phone": "13912345678"}, {"name": "王小明"}],
    }

    created = await world.call("POST", f"/villages/{setup.village.id}/households", admin, json=body)

    assert created.status_code == 201, created.text
    household = created.json()
    assert household["village_id"] == str(setup.village.id)
    assert household["code"] == "XF-0101"
    assert household["head_name"] == "李秀英"  # surrounding spaces are dropped
    assert household["grid"] == "一组"
    assert household["address"] == "幸福村3号"
    assert sorted((m["name"], m["phone"]) for m in household["members"]) == [
        ("李秀英", "13912345678"),
        ("王小明", None),
    ]
    assert all(isinstance(m["id"], str) for m in household["members"])
    fetched = await world.call("GET", f"/households/{household['id']}", admin)
    assert fetched.status_code == 200
    assert fetched.json() == household


async def test_a_household_code_is_unique_within_its_village_only(world: World) -> None:
    town_admin = await world.town_admin()
    east = await world.village(code="EAST")
    west = await world.village(code="WEST")
    body = {"code": "H-001", "head_name": "张三"}

    first = await world.call("POST", f"/villages/{east.id}/households", town_admin, json=body)
    again = await world.call("POST", f"/villages/{east.id}/households", town_admin, json=body)
    elsewhere = await world.call("POST", f"/villages/{west.id}/households", town_admin, json=body)

    assert first.status_code == 201, first.text
    assert_error(again, 409, "duplicate_code")
    assert elsewhere.status_code == 201, elsewhere.text
    listed = await world.call("GET", f"/villages/{east.id}/households", town_admin)
    assert [h["id"] for h in listed.json()["items"]] == [first.json()["id"]]


async def test_search_by_code_prefix_or_name_and_filter_by_grid(world: World) -> None:
    village = await world.village()
    cadre = await world.person(RoleGrantIn(role=Role.cadre, village_id=village.id))
    await world.household(village, "A-001", grid="一组", head_name="王建国")
    await world.household(village, "A-002", grid="二组", head_name="李建华")
    await world.household(village, "B-001", grid="一组", head_name="张红")
    await world.household(village, "B-002", grid="二组", head_name="王芳")
    other = await world.village()
    await world.household(other, "A-003", grid="一组", head_name="王建军")  # another village: never listed

    async def codes(**params: Any) -> list[str]:
        response = await world.call("GET", f"/villages/{village.id}/households", cadre, params=params)
        assert response.status_code == 200, response.text
        return [h["code"] for h in response.json()["items"]]

    assert await codes() == ["A-001", "A-002", "B-001", "B-002"]
    assert await codes(q="A-") == ["A-001", "A-002"]
    assert await codes(q="a-00") == ["A-001", "A-002"]  # code prefix, any case
    assert await codes(q="建") == ["A-001", "A-002"]  # part of the head's name
    assert await codes(q="王") == ["A-001", "B-002"]
    assert await codes(q=" 王芳 ") == ["B-002"]
    assert await codes(grid="一组") == ["A-001", "B-001"]
    assert await codes(q="王", grid="二组") == ["B-002"]
    assert await codes(q="%") == []  # wildcards are matched literally
    assert await codes(q="_") == []
    assert await codes(grid="三组") == []


async def test_paging_through_households_returns_each_exactly_once(world: World) -> None:
    setup = await world.setup_village(households=7)
    expected = sorted(h.code for h in setup.households)
    reviewer = setup.people["reviewer"]

    seen: list[str] = []
    params: dict[str, str | int] = {"limit": 2}
    while True:
        response = await world.call(
            "GET", f"/villages/{setup.village.id}/households", reviewer, params=params
        )
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [h["code"] for h in page["items"]]
        if page["next_cursor"] is None:
            break
        params = {"limit": 2, "cursor": page["next_cursor"]}

    assert seen == expected


async def test_a_household_is_shown_to_its_village_staff_and_its_own_villager(world: World) -> None:
    setup = await world.setup_village(households=2)
    own, neighbour = setup.households
    other = await world.setup_village(households=1)
    town_admin = await world.town_admin()
    readers: list[Person] = [town_admin, setup.people["villager"]] + [
        setup.people[role] for role in ("village_admin", "cadre", "reviewer", "clerk")
    ]

    for reader in readers:
        response = await world.call("GET", f"/households/{own.id}", reader)
        assert response.status_code == 200, (reader.username, response.text)
        assert response.json()["code"] == own.code
        members = response.json()["members"]
        if reader is setup.people["clerk"]:
            assert members is None  # the counter needs the code, the name and the points
        else:
            assert members[0]["name"] == own.head_name

    strangers = {
        "the neighbour's villager": (setup.people["villager"], neighbour),
        "another village's admin": (other.people["village_admin"], own),
        "another village's villager": (other.people["villager"], own),
    }
    for name, (stranger, household) in strangers.items():
        response = await world.call("GET", f"/households/{household.id}", stranger)
        body = assert_error(response, 404, "not_found")
        assert household.code not in response.text, name
        assert household.head_name not in str(body), name


async def test_village_admin_adds_a_member(world: World) -> None:
    setup = await world.setup_village(households=1)
    household = setup.households[0]
    admin = setup.people["village_admin"]

    added = await world.call(
        "POST", f"/households/{household.id}/members", admin, json={"name": "王小红", "phone": "13700000000"}
    )

    assert added.status_code == 201, added.text
    assert added.json()["name"] == "王小红"
    assert added.json()["phone"] == "13700000000"
    members = (await world.call("GET", f"/households/{household.id}", admin)).json()["members"]
    assert {m["id"] for m in members} >= {added.json()["id"]}
    assert sorted(m["name"] for m in members) == sorted([household.head_name, "王小红"])


async def test_unknown_households_and_villages_are_not_found(world: World) -> None:
    town_admin = await world.person(RoleGrantIn(role=Role.town_admin))
    missing = "00000000-0000-4000-8000-000000000000"

    assert_error(await world.call("GET", f"/households/{missing}", town_admin), 404, "not_found")
    assert_error(
        await world.call("POST", f"/households/{missing}/members", town_admin, json={"name": "某人"}),
        404,
        "not_found",
    )
    assert_error(await world.call("GET", f"/villages/{missing}/households", town_admin), 404, "not_found")
