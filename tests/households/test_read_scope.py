"""Read scope (issue 11, item 5): a cadre reads the households of their grid, a clerk what the counter needs,
a reviewer what reviewing needs, a villager their own household; phone numbers in full for the village
admin only; pickup codes for the household and the store's staff only; rectify within the cadre's grid."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from jifen.auth.actor import console_actor
from jifen.households.schemas import MemberIn
from jifen.households.service import create_household
from jifen.models import Household, Role, Store, Village
from jifen.users.schemas import RoleGrantIn
from tests.factories import Person, World
from tests.helpers import assert_error
from tests.ledger.helpers import key
from tests.store.helpers import make_item

PHONE = "13812345678"
MASKED = "138****5678"


@dataclass
class Grids:
    village: Village
    store_a: Store
    store_b: Store
    north: Household  # grid 一组, with a member's phone
    south: Household  # grid 二组
    people: dict[str, Person]


async def _household(world: World, village: Village, code: str, grid: str) -> Household:
    async with world.session() as session, session.begin():
        return await create_household(
            session,
            console_actor(),
            village,
            code=code,
            head_name=f"{grid}户主",
            grid=grid,
            address="村东头",
            members=[MemberIn(name=f"{grid}户主", phone=PHONE)],
        )


async def grids(world: World) -> Grids:
    village = await world.village()
    store_a = await world.store(village, "东头积分超市")
    store_b = await world.store(village, "西头积分超市")
    north = await _household(world, village, "N-001", "一组")
    south = await _household(world, village, "S-001", "二组")
    v = village.id
    people = {
        "village_admin": await world.person(RoleGrantIn(role=Role.village_admin, village_id=v)),
        "town_admin": await world.town_admin(),
        "north_cadre": await world.person(RoleGrantIn(role=Role.cadre, village_id=v, grid="一组")),
        "south_cadre": await world.person(RoleGrantIn(role=Role.cadre, village_id=v, grid="二组")),
        "village_cadre": await world.person(RoleGrantIn(role=Role.cadre, village_id=v)),
        "reviewer": await world.person(RoleGrantIn(role=Role.reviewer, village_id=v)),
        "clerk_a": await world.person(RoleGrantIn(role=Role.clerk, village_id=v, store_id=store_a.id)),
        "clerk_b": await world.person(RoleGrantIn(role=Role.clerk, village_id=v, store_id=store_b.id)),
        "north_villager": await world.person(
            RoleGrantIn(role=Role.villager, village_id=v, household_id=north.id)
        ),
        "south_villager": await world.person(
            RoleGrantIn(role=Role.villager, village_id=v, household_id=south.id)
        ),
    }
    return Grids(village, store_a, store_b, north, south, people)


async def _points(world: World, g: Grids, household: Household, points: int) -> dict[str, Any]:
    rule = await world.call(
        "POST",
        f"/villages/{g.village.id}/rules",
        g.people["village_admin"],
        json={
            "code": f"R{uuid.uuid4().hex[:6]}",
            "name": "家禽散养" if points < 0 else "门前三包",
            "category": "人居环境",
            "points": points,
            **({"rectification_share": 50} if points < 0 else {}),
        },
    )
    assert rule.status_code == 201, rule.text
    awarded = await world.call(
        "POST",
        "/awards",
        g.people["village_admin"],
        json={"household_id": str(household.id), "rule_id": rule.json()["id"]},
        headers=key(),
    )
    assert awarded.status_code == 201, awarded.text
    return awarded.json()  # type: ignore[no-any-return]


async def test_only_the_village_admin_reads_phone_numbers_in_full(world: World) -> None:
    g = await grids(world)
    admin = await world.call("GET", f"/households/{g.north.id}", g.people["village_admin"])
    assert admin.status_code == 200, admin.text
    assert [m["phone"] for m in admin.json()["members"]] == [PHONE]
    for who in ("town_admin", "north_cadre", "village_cadre", "reviewer", "north_villager"):
        response = await world.call("GET", f"/households/{g.north.id}", g.people[who])
        assert response.status_code == 200, (who, response.text)
        assert PHONE not in response.text, who
        assert [m["phone"] for m in response.json()["members"]] == [MASKED], who


async def test_a_clerk_reads_what_the_counter_needs_and_no_phone(world: World) -> None:
    g = await grids(world)
    await _points(world, g, g.north, 40)
    response = await world.call("GET", f"/households/{g.north.id}", g.people["clerk_a"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["code"], body["head_name"], body["balance"]["available"]) == ("N-001", "一组户主", 40)
    assert PHONE not in response.text
    assert MASKED not in response.text
    assert body["members"] is None
    # the counter finds the household by its code
    found = await world.call(
        "GET", f"/villages/{g.village.id}/households", g.people["clerk_a"], params={"q": "N-001"}
    )
    assert [h["code"] for h in found.json()["items"]] == ["N-001"]
    # but not its history
    for path in ("entries", "awards", "caps", "expiring"):
        refused = await world.call("GET", f"/households/{g.north.id}/{path}", g.people["clerk_a"])
        assert_error(refused, 403)


async def test_a_cadre_reads_the_households_of_their_grid_only(world: World) -> None:
    g = await grids(world)
    deduction = await _points(world, g, g.north, 30)
    north, south = g.people["north_cadre"], g.people["south_cadre"]
    for path in ("", "/balance", "/entries", "/awards", "/caps", "/expiring"):
        assert (await world.call("GET", f"/households/{g.north.id}{path}", north)).status_code == 200, path
        refused = await world.call("GET", f"/households/{g.north.id}{path}", south)
        assert_error(refused, 403, "outside_grid")
        assert "N-001" not in refused.text
    assert_error(await world.call("GET", f"/awards/{deduction['id']}", south), 403, "outside_grid")
    # the household list and the awards list show the cadre's grid only
    listed = await world.call("GET", f"/villages/{g.village.id}/households", south)
    assert [h["code"] for h in listed.json()["items"]] == ["S-001"]
    other = await world.call("GET", f"/villages/{g.village.id}/households", south, params={"grid": "一组"})
    assert other.json()["items"] == []
    awards = await world.call("GET", f"/villages/{g.village.id}/awards", south)
    assert awards.status_code == 200, awards.text
    assert awards.json()["items"] == []
    # a cadre without a grid reads the whole village
    everyone = await world.call("GET", f"/villages/{g.village.id}/households", g.people["village_cadre"])
    assert [h["code"] for h in everyone.json()["items"]] == ["N-001", "S-001"]
    entries = await world.call("GET", f"/households/{g.north.id}/entries", g.people["village_cadre"])
    assert entries.status_code == 200, entries.text
    # the rankings stay village-wide: the village sees them
    ranked = await world.call("GET", f"/villages/{g.village.id}/rankings", south)
    assert {r["code"] for r in ranked.json()["items"]} == {"N-001", "S-001"}


async def test_a_reviewer_reads_the_award_and_the_household_summary_not_its_history(world: World) -> None:
    g = await grids(world)
    awarded = await _points(world, g, g.north, 20)
    reviewer = g.people["reviewer"]
    assert (await world.call("GET", f"/awards/{awarded['id']}", reviewer)).status_code == 200
    summary = await world.call("GET", f"/households/{g.north.id}", reviewer)
    assert summary.status_code == 200
    assert PHONE not in summary.text
    for path in ("entries", "awards"):
        assert_error(await world.call("GET", f"/households/{g.north.id}/{path}", reviewer), 403)


async def test_a_villager_reads_their_own_household_only(world: World) -> None:
    g = await grids(world)
    awarded = await _points(world, g, g.north, 20)
    neighbour = g.people["south_villager"]
    for path in ("", "/balance", "/entries", "/awards", "/caps", "/expiring", "/reservations"):
        assert_error(await world.call("GET", f"/households/{g.north.id}{path}", neighbour), 404)
    assert_error(await world.call("GET", f"/awards/{awarded['id']}", neighbour), 404)


async def test_pickup_codes_for_the_household_and_the_stores_staff_only(world: World) -> None:
    g = await grids(world)
    await _points(world, g, g.north, 100)
    soap = await make_item(world, g, "肥皂", 5, 10, store_id=g.store_a.id)  # type: ignore[arg-type]
    made = await world.call(
        "POST",
        "/reservations",
        g.people["north_villager"],
        json={"store_id": str(g.store_a.id), "lines": [{"item_id": soap["id"], "quantity": 1}]},
        headers=key(),
    )
    assert made.status_code == 201, made.text
    code, reservation_id = made.json()["code"], made.json()["id"]
    path = f"/households/{g.north.id}/reservations"
    for who in ("north_villager", "clerk_a", "village_admin"):
        listed = await world.call("GET", path, g.people[who])
        assert listed.status_code == 200, (who, listed.text)
        assert [r["code"] for r in listed.json()["items"]] == [code], who
        one = await world.call("GET", f"/reservations/{reservation_id}", g.people[who])
        assert one.json()["code"] == code, who
    # a clerk of another store sees none of store A's reservations
    other_store = await world.call("GET", path, g.people["clerk_b"])
    assert other_store.status_code == 200, other_store.text
    assert other_store.json()["items"] == []
    assert code not in other_store.text
    assert_error(await world.call("GET", f"/reservations/{reservation_id}", g.people["clerk_b"]), 403)
    # cadres and reviewers have no business with pickup codes
    for who in ("north_cadre", "reviewer"):
        refused = await world.call("GET", path, g.people[who])
        assert_error(refused, 403)
        assert code not in refused.text
    # the town admin may audit a reservation but not read its live code
    town = await world.call("GET", f"/reservations/{reservation_id}", g.people["town_admin"])
    assert town.status_code == 200, town.text
    assert code not in town.text
    assert town.json()["code"] is None


async def test_rectify_only_within_the_cadres_grid(world: World) -> None:
    g = await grids(world)
    await _points(world, g, g.north, 100)
    deduction = await _points(world, g, g.north, -20)
    refused = await world.call(
        "POST", f"/awards/{deduction['id']}/rectify", g.people["south_cadre"], headers=key()
    )
    assert_error(refused, 403, "outside_grid")
    balance = await world.call("GET", f"/households/{g.north.id}/balance", g.people["village_admin"])
    assert balance.json()["posted"] == 80  # nothing came back
    done = await world.call(
        "POST", f"/awards/{deduction['id']}/rectify", g.people["north_cadre"], headers=key()
    )
    assert done.status_code == 201, done.text


async def test_a_grid_inspection_sheet_is_read_by_its_grid(world: World) -> None:
    g = await grids(world)
    rule = await world.call(
        "POST",
        f"/villages/{g.village.id}/rules",
        g.people["village_admin"],
        json={"code": "CLEAN", "name": "门前三包", "category": "人居环境", "points": 5},
    )
    sheet = await world.call(
        "POST",
        f"/villages/{g.village.id}/inspections",
        g.people["north_cadre"],
        json={
            "grid": "一组",
            "inspected_on": "2026-11-20",
            "rule_ids": [rule.json()["id"]],
            "judges": ["张三"],
        },
    )
    assert sheet.status_code == 201, sheet.text
    path = f"/inspections/{sheet.json()['id']}"
    for who in ("north_cadre", "village_cadre", "reviewer", "village_admin", "town_admin"):
        assert (await world.call("GET", path, g.people[who])).status_code == 200, who
    refused = await world.call("GET", path, g.people["south_cadre"])
    assert_error(refused, 403, "outside_grid")
    assert "N-001" not in refused.text
    assert_error(await world.call("GET", path, g.people["clerk_a"]), 403)


async def test_a_transaction_is_read_by_who_may_read_its_household_or_its_store(world: World) -> None:
    g = await grids(world)
    awarded = await _points(world, g, g.north, 50)
    soap = await make_item(world, g, "肥皂", 5, 10, store_id=g.store_a.id)  # type: ignore[arg-type]
    sold = await world.call(
        "POST",
        "/redemptions",
        g.people["clerk_a"],
        json={
            "store_id": str(g.store_a.id),
            "household_id": str(g.north.id),
            "lines": [{"item_id": soap["id"], "quantity": 1}],
        },
        headers=key(),
    )
    assert sold.status_code == 201, sold.text
    award_tx, sale_tx = (
        f"/transactions/{awarded['transaction_id']}",
        f"/transactions/{sold.json()['transaction_id']}",
    )
    for who in ("village_admin", "town_admin", "north_cadre", "village_cadre", "reviewer"):
        assert (await world.call("GET", award_tx, g.people[who])).status_code == 200, who
    assert_error(await world.call("GET", award_tx, g.people["south_cadre"]), 403, "outside_grid")
    for who in ("clerk_a", "clerk_b"):
        assert_error(await world.call("GET", award_tx, g.people[who]), 403)
    assert (await world.call("GET", sale_tx, g.people["clerk_a"])).status_code == 200
    assert_error(await world.call("GET", sale_tx, g.people["clerk_b"]), 403)
    assert_error(await world.call("GET", sale_tx, g.people["south_cadre"]), 403, "outside_grid")
