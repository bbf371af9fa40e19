"""Bad input gets a 4xx with {"error", "detail"} — never a 500 — and leaves nothing half-written."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from httpx import Response

from jifen.kit.pagination import encode_cursor
from tests.factories import Person, VillageSetup, World
from tests.helpers import assert_error

UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


@dataclass(frozen=True)
class Bad:
    name: str
    json: Any = None
    content: str | None = None  # a raw body, for JSON that does not parse
    params: dict[str, Any] = field(default_factory=dict)
    path: str | None = None  # instead of the group's path
    status: int = 422


def _kwargs(case: Bad) -> dict[str, Any]:
    if case.content is not None:
        return {"content": case.content, "headers": {"Content-Type": "application/json"}}
    kwargs: dict[str, Any] = {"params": case.params}
    if case.json is not None:
        kwargs["json"] = case.json
    return kwargs


async def _refusals(world: World, who: Person, method: str, path: str, cases: list[Bad]) -> list[str]:
    """Send every case; describe each answer that is not the expected refusal in jifen's error shape."""
    wrong = []
    for case in cases:
        response: Response = await world.call(method, case.path or path, who, **_kwargs(case))
        try:
            body = assert_error(response, case.status)
        except AssertionError:
            wrong.append(
                f"{case.name}: expected {case.status}, got {response.status_code} {response.text[:300]}"
            )
            continue
        said = [(tuple(e["loc"]), e["type"]) for e in body.get("errors", [])]
        if len(said) != len(set(said)):  # a person reads one sentence per mistake
            wrong.append(f"{case.name}: the same error twice: {body['detail']}")
    return wrong


VILLAGE = {"code": "XF", "name": "幸福村"}
BAD_VILLAGES = [
    Bad("empty code", {**VILLAGE, "code": ""}),
    Bad("blank code", {**VILLAGE, "code": "   "}),
    Bad("overlong code", {**VILLAGE, "code": "C" * 33}),
    Bad("code with a space", {**VILLAGE, "code": "XF 01"}),
    Bad("code in Chinese", {**VILLAGE, "code": "幸福"}),
    Bad("code is a number", {**VILLAGE, "code": 123}),
    Bad("code is null", {**VILLAGE, "code": None}),
    Bad("empty name", {**VILLAGE, "name": ""}),
    Bad("overlong name", {**VILLAGE, "name": "村" * 65}),
    Bad("name is a list", {**VILLAGE, "name": ["幸福村"]}),
    Bad("name missing", {"code": "XF"}),
    Bad("unknown field", {**VILLAGE, "population": 300}),
    Bad("a list, not an object", [VILLAGE]),
    Bad("invalid JSON", content='{"code": "XF", "name": ', status=400),
]


async def test_bad_villages_are_refused_and_not_created(world: World) -> None:
    town_admin = await world.town_admin()
    await world.village(code="EXISTING")

    wrong = await _refusals(world, town_admin, "POST", "/villages", BAD_VILLAGES)

    assert not wrong, "\n".join(wrong)
    listed = (await world.call("GET", "/villages", town_admin)).json()["items"]
    assert [v["code"] for v in listed] == ["EXISTING"]
    longest = {"code": "C" * 32, "name": "村" * 64}  # the limits themselves are accepted
    assert (await world.call("POST", "/villages", town_admin, json=longest)).status_code == 201


HOUSEHOLD = {"code": "H-01", "head_name": "王建国", "members": [{"name": "王建国"}]}
BAD_HOUSEHOLDS = [
    Bad("empty code", {**HOUSEHOLD, "code": ""}),
    Bad("overlong code", {**HOUSEHOLD, "code": "H" * 33}),
    Bad("code with spaces", {**HOUSEHOLD, "code": "H 01"}),
    Bad("code in Chinese", {**HOUSEHOLD, "code": "一户"}),
    Bad("code is a number", {**HOUSEHOLD, "code": 123}),
    Bad("blank head name", {**HOUSEHOLD, "head_name": "  "}),
    Bad("overlong head name", {**HOUSEHOLD, "head_name": "王" * 65}),
    Bad("overlong grid", {**HOUSEHOLD, "grid": "组" * 33}),
    Bad("overlong address", {**HOUSEHOLD, "address": "路" * 201}),
    Bad("members is a string", {**HOUSEHOLD, "members": "x"}),
    Bad("one member without a name", {**HOUSEHOLD, "members": [{"name": "王建国"}, {"name": ""}]}),
    Bad(
        "one member with a bad phone",
        {**HOUSEHOLD, "members": [{"name": "甲"}, {"name": "乙", "phone": "abc"}]},
    ),
    Bad("one member with an unknown field", {**HOUSEHOLD, "members": [{"name": "甲", "age": 40}]}),
    Bad("too many members", {**HOUSEHOLD, "members": [{"name": f"成员{i}"} for i in range(31)]}),
    Bad("unknown field", {**HOUSEHOLD, "balance": 1000}),
    Bad("invalid JSON", content="{code: H-01}", status=400),
    Bad("unknown village", HOUSEHOLD, path=f"/villages/{UNKNOWN_ID}/households", status=404),
    Bad("malformed village id", HOUSEHOLD, path="/villages/not-a-uuid/households"),
]


async def test_bad_households_are_refused_and_not_created(world: World) -> None:
    setup = await world.setup_village(households=1)
    admin = setup.people["village_admin"]
    path = f"/villages/{setup.village.id}/households"

    wrong = await _refusals(world, admin, "POST", path, BAD_HOUSEHOLDS)

    assert not wrong, "\n".join(wrong)
    listed = (await world.call("GET", path, admin)).json()["items"]
    assert [h["code"] for h in listed] == [setup.households[0].code]


USER = {"username": "newuser", "password": "a-good-password", "display_name": "新用户", "roles": []}


def _bad_users(setup: VillageSetup) -> list[Bad]:
    cadre = [{"role": "cadre", "village_id": str(setup.village.id)}]
    user = {**USER, "roles": cadre}
    return [
        Bad("no roles", USER),
        Bad("unknown role", {**user, "roles": [{"role": "mayor", "village_id": str(setup.village.id)}]}),
        Bad("malformed village id", {**user, "roles": [{"role": "cadre", "village_id": "village-1"}]}),
        Bad("roles is an object", {**user, "roles": cadre[0]}),
        Bad("user name with a space", {**user, "username": "new user"}),
        Bad("user name too short", {**user, "username": "ab"}),
        Bad("password too long", {**user, "password": "p" * 129}),
        Bad("overlong display name", {**user, "display_name": "名" * 65}),
        Bad("unknown field", {**user, "is_superuser": True}),
        Bad("unknown village", {**user, "roles": [{"role": "cadre", "village_id": UNKNOWN_ID}]}, status=404),
    ]


async def test_bad_users_are_refused_and_not_created(world: World) -> None:
    setup = await world.setup_village(households=1)
    town_admin = await world.town_admin()

    wrong = await _refusals(world, town_admin, "POST", "/users", _bad_users(setup))

    assert not wrong, "\n".join(wrong)
    good = {**USER, "roles": [{"role": "cadre", "village_id": str(setup.village.id)}]}
    assert (await world.call("POST", "/users", town_admin, json=good)).status_code == 201  # name still free


async def test_bad_paths_and_queries_are_refused(world: World) -> None:
    setup = await world.setup_village(households=1)
    household = setup.households[0]
    admin = setup.people["village_admin"]
    households = f"/villages/{setup.village.id}/households"
    reads = [
        Bad("malformed household id", path="/households/12345"),
        Bad("unknown household", path=f"/households/{UNKNOWN_ID}", status=404),
        Bad("malformed village id", path="/villages/xyz/households"),
        Bad("limit 0", path=households, params={"limit": 0}),
        Bad("limit over 200", path=households, params={"limit": 201}),
        Bad("limit not a number", path=households, params={"limit": "ten"}),
        Bad("overlong search", path=households, params={"q": "王" * 65}),
        Bad("NUL in the search", path=households, params={"q": "王\x00"}, status=400),
        Bad("NUL in the grid", path=households, params={"grid": "一组\x00"}, status=400),
    ]
    member_adds = [
        Bad("unknown household", {"name": "王五"}, path=f"/households/{UNKNOWN_ID}/members", status=404),
        Bad("malformed household id", {"name": "王五"}, path="/households/abc/members"),
        Bad("empty name", {"name": ""}),
        Bad("name is a number", {"name": 5}),
        Bad("unknown field", {"name": "王五", "role": "head"}),
    ]

    wrong = await _refusals(world, admin, "GET", households, reads)
    wrong += await _refusals(world, admin, "POST", f"/households/{household.id}/members", member_adds)

    assert not wrong, "\n".join(wrong)
    members = (await world.call("GET", f"/households/{household.id}", admin)).json()["members"]
    assert [m["name"] for m in members] == [household.head_name]


async def test_a_nul_character_in_a_name_is_refused(world: World) -> None:
    setup = await world.setup_village(households=1)
    admin = setup.people["village_admin"]
    town_admin = await world.town_admin()
    households = f"/villages/{setup.village.id}/households"

    assert_error(
        await world.call("POST", "/villages", town_admin, json={"code": "N1", "name": "村\x00"}),
        400,
        "invalid_characters",
    )
    assert_error(
        await world.call("POST", households, admin, json={"code": "N1", "head_name": "王\x00"}),
        400,
        "invalid_characters",
    )
    member = {"code": "N2", "head_name": "王", "members": [{"name": "王\x00"}]}
    assert_error(await world.call("POST", households, admin, json=member), 400, "invalid_characters")
    user = {
        "username": "nul-user",
        "password": "a-good-password",
        "display_name": "名\x00",
        "roles": [{"role": "town_admin"}],
    }
    assert_error(await world.call("POST", "/users", town_admin, json=user), 400, "invalid_characters")


async def test_an_overlong_phone_number_is_refused(world: World) -> None:
    setup = await world.setup_village(households=1)
    admin = setup.people["village_admin"]
    household = {"code": "P1", "head_name": "王", "members": [{"name": "王", "phone": "+1" + "3" * 19}]}

    path = f"/villages/{setup.village.id}/households"
    response = await world.call("POST", path, admin, json=household)

    assert_error(response, 422)
    listed = (await world.call("GET", path, admin)).json()["items"]
    assert [h["code"] for h in listed] == [setup.households[0].code]


async def test_a_cursor_with_a_nul_character_is_refused(world: World) -> None:
    town_admin = await world.town_admin()

    response = await world.call("GET", "/villages", town_admin, params={"cursor": encode_cursor("A\x00")})

    assert_error(response, 400, "invalid_cursor")


async def test_a_bad_award_is_refused_with_each_mistake_said_once(world: World) -> None:
    """The award's body is read by its endpoint and by its access dependency; the refusal says each mistake
    once."""
    setup = await world.setup_village(households=1)
    award = {"household_id": str(setup.households[0].id), "rule_id": UNKNOWN_ID}
    cases = [
        Bad("no times", {**award, "quantity": 0}),
        Bad("a note too long", {**award, "note": "长" * 501}),
        Bad("no household", {"rule_id": UNKNOWN_ID}),
    ]
    cadre = setup.people["cadre"]
    wrong = await _refusals(world, cadre, "POST", "/awards", cases)
    wrong += await _refusals(
        world, cadre, "POST", "/awards/batch", [Bad("no times", {"items": [{**award, "quantity": 0}]})]
    )
    assert wrong == []
