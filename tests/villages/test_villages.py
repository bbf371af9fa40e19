from __future__ import annotations

import base64
import json

from jifen.models import Role
from jifen.users.schemas import RoleGrantIn
from tests.factories import Person, World
from tests.helpers import assert_error


async def test_town_admin_creates_a_village_once(world: World) -> None:
    admin = await world.town_admin()

    created = await world.call("POST", "/villages", admin, json={"code": "XF-01", "name": "幸福村"})
    again = await world.call("POST", "/villages", admin, json={"code": "XF-01", "name": "另一个村"})

    assert created.status_code == 201, created.text
    village = created.json()
    assert village["code"] == "XF-01"
    assert village["name"] == "幸福村"
    assert isinstance(village["id"], str)
    assert_error(again, 409, "duplicate_code")
    listed = (await world.call("GET", "/villages", admin)).json()["items"]
    assert [(v["id"], v["name"]) for v in listed] == [(village["id"], "幸福村")]


async def test_each_user_sees_only_their_villages(world: World) -> None:
    east = await world.village(code="EAST", name="东村")
    west = await world.village(code="WEST", name="西村")
    await world.village(code="NORTH", name="北村")
    household = await world.household(west)
    east_admin = await world.person(RoleGrantIn(role=Role.village_admin, village_id=east.id))
    west_villager = await world.person(
        RoleGrantIn(role=Role.villager, village_id=west.id, household_id=household.id)
    )
    both = await world.person(
        RoleGrantIn(role=Role.cadre, village_id=east.id), RoleGrantIn(role=Role.reviewer, village_id=west.id)
    )
    town_admin = await world.town_admin()

    async def codes(who: Person) -> list[str]:
        response = await world.call("GET", "/villages", who)
        assert response.status_code == 200, response.text
        return [v["code"] for v in response.json()["items"]]

    assert await codes(east_admin) == ["EAST"]
    assert await codes(west_villager) == ["WEST"]
    assert await codes(both) == ["EAST", "WEST"]
    assert await codes(town_admin) == ["EAST", "NORTH", "WEST"]


async def test_paging_through_villages_returns_each_exactly_once(world: World) -> None:
    admin = await world.town_admin()
    expected = sorted(f"P{i:02d}" for i in range(7))
    for code in expected:
        await world.village(code=code)

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        response = await world.call("GET", "/villages", admin, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 3
        seen += [v["code"] for v in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == expected
    assert pages == 3


def _b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


async def test_a_bad_cursor_is_refused(world: World) -> None:
    admin = await world.town_admin()
    await world.village()

    for cursor in ["garbage!", "中文", _b64({"code": "A"}), _b64([1]), _b64(["A", "B"])]:
        response = await world.call("GET", "/villages", admin, params={"cursor": cursor})
        assert_error(response, 400, "invalid_cursor")
