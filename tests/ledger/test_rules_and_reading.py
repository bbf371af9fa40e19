"""Rules (积分细则) and their versions, the refusals of direct awards, and reading a household's history."""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime
from typing import Any

from jifen.models import Role
from jifen.users.schemas import RoleGrantIn
from tests.factories import Person, VillageSetup, World
from tests.helpers import assert_error
from tests.ledger.helpers import award, balance, key, make_rule


def rule_body(**fields: Any) -> dict[str, Any]:
    return {
        "code": f"R{uuid.uuid4().hex[:6]}",
        "name": "门前三包",
        "category": "人居环境",
        "points": 5,
    } | fields


async def entries(world: World, who: Person, household_id: uuid.UUID, **params: Any) -> dict[str, Any]:
    response = await world.call("GET", f"/households/{household_id}/entries", who, params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


# --- rules ------------------------------------------------------------------------------------------------


async def test_a_rule_is_created_at_version_1_and_its_code_is_unique(world: World) -> None:
    setup = await world.setup_village(households=1)
    admin = setup.people["village_admin"]
    path = f"/villages/{setup.village.id}/rules"
    body = rule_body(code="HJ-01", points=-20, cap={"count": 3, "period": "month"}, review="single")

    created = await world.call("POST", path, admin, json=body)

    assert created.status_code == 201, created.text
    rule = created.json()
    assert rule["version"] == 1
    assert rule["village_id"] == str(setup.village.id)
    assert (rule["code"], rule["points"], rule["review"], rule["active"]) == ("HJ-01", -20, "single", True)
    assert rule["cap"] == {"count": 3, "period": "month"}
    assert rule["evidence_required"] is False
    assert_error(await world.call("POST", path, admin, json=rule_body(code="HJ-01")), 409, "duplicate_code")
    # the same code in another village is that village's own business
    other = await world.setup_village(households=1)
    response = await world.call(
        "POST",
        f"/villages/{other.village.id}/rules",
        other.people["village_admin"],
        json=rule_body(code="HJ-01"),
    )
    assert response.status_code == 201, response.text


async def test_malformed_rules_are_refused(world: World) -> None:
    setup = await world.setup_village(households=1)
    admin = setup.people["village_admin"]
    path = f"/villages/{setup.village.id}/rules"
    for bad in [
        {"points": 0},
        {"points": 100_001},
        {"points": -100_001},
        {"points": 2.5},
        {"cap": {"count": 3, "period": "decade"}},
        {"cap": {"count": 0, "period": "day"}},
        {"review": "triple"},
        {"name": ""},
        {"code": "has space"},
        {"colour": "red"},
    ]:
        response = await world.call("POST", path, admin, json=rule_body(**bad))
        assert_error(response, 422)
    response = await world.call("POST", path, admin, json={"code": "X1", "name": "缺分值", "category": "c"})
    assert_error(response, 422)
    # the edges are allowed
    for points in (100_000, -100_000, 1, -1):
        response = await world.call("POST", path, admin, json=rule_body(points=points))
        assert response.status_code == 201, response.text
    for period in ("day", "week", "month", "quarter", "year"):
        response = await world.call("POST", path, admin, json=rule_body(cap={"count": 1, "period": period}))
        assert response.status_code == 201, response.text
    listed = (await world.call("GET", path, admin)).json()["items"]
    assert len(listed) == 9


async def test_changing_a_rule_makes_a_new_version_and_old_entries_keep_theirs(world: World) -> None:
    setup = await world.setup_village(households=2)
    admin, cadre, villager = (setup.people[r] for r in ("village_admin", "cadre", "villager"))
    household = setup.households[0]  # the villager's own
    rule = await make_rule(world, setup, 10, code="MQSB")
    other_rule = await make_rule(world, setup, 3, code="ZZZ")
    first = (await award(world, cadre, household.id, rule)).json()

    changed = await world.call(
        "PATCH", f"/rules/{rule['id']}", admin, json={"points": 15, "name": "门前五包"}
    )

    assert changed.status_code == 200, changed.text
    assert (changed.json()["version"], changed.json()["points"], changed.json()["name"]) == (
        2,
        15,
        "门前五包",
    )
    assert (changed.json()["id"], changed.json()["code"]) == (rule["id"], "MQSB")
    second = (await award(world, cadre, household.id, rule)).json()
    assert (first["points"], first["rule_version"]) == (10, 1)
    assert (second["points"], second["rule_version"]) == (15, 2)

    history = (await entries(world, villager, household.id))["items"]
    assert [(e["amount"], e["rule_code"], e["rule_version"], e["memo"]) for e in history] == [
        (15, "MQSB", 2, "门前五包"),
        (10, "MQSB", 1, "门前三包"),
    ]
    old = (await world.call("GET", f"/transactions/{first['transaction_id']}", admin)).json()
    assert (old["rule_id"], old["rule_version"]) == (rule["id"], 1)
    # a correction of the old entry takes back what it gave, under the version it was made under
    reversal = await world.call(
        "POST",
        f"/transactions/{first['transaction_id']}/reverse",
        admin,
        json={"reason": "重复评分"},
        headers=key(),
    )
    assert reversal.status_code == 201, reversal.text
    assert sorted(p["amount"] for p in reversal.json()["postings"]) == [-10, 10]
    assert reversal.json()["rule_version"] == 1
    assert (await balance(world, admin, household.id))["posted"] == 15

    # the village's list shows each rule once, at its current version; every user of the village may read it
    listed = (await world.call("GET", f"/villages/{setup.village.id}/rules", villager)).json()
    assert [(r["code"], r["version"], r["points"]) for r in listed["items"]] == [
        ("MQSB", 2, 15),
        ("ZZZ", 1, 3),
    ]
    assert listed["items"][1]["id"] == other_rule["id"]
    versions = (await world.call("GET", f"/rules/{rule['id']}/versions", villager)).json()["items"]
    assert [(v["version"], v["points"], v["name"]) for v in versions] == [
        (2, 15, "门前五包"),
        (1, 10, "门前三包"),
    ]

    # nothing to change: refused, and no version is made
    assert_error(await world.call("PATCH", f"/rules/{rule['id']}", admin, json={}), 400, "nothing_to_change")
    assert_error(await world.call("PATCH", f"/rules/{rule['id']}", admin, json={"points": 0}), 422)
    assert_error(await world.call("PATCH", f"/rules/{rule['id']}", admin, json={"code": "NEW"}), 422)
    versions = (await world.call("GET", f"/rules/{rule['id']}/versions", admin)).json()["items"]
    assert [v["version"] for v in versions] == [2, 1]
    assert_error(await world.call("PATCH", f"/rules/{uuid.uuid4()}", admin, json={"points": 1}), 404)


async def test_a_retired_rule_refuses_awards_until_it_is_active_again(world: World) -> None:
    setup = await world.setup_village(households=2)
    admin, cadre = setup.people["village_admin"], setup.people["cadre"]
    household = setup.households[1]
    rule = await make_rule(world, setup, 8)

    retired = await world.call("PATCH", f"/rules/{rule['id']}", admin, json={"active": False})
    assert retired.status_code == 200, retired.text
    assert (retired.json()["version"], retired.json()["active"]) == (2, False)

    assert_error(await award(world, cadre, household.id, rule), 409, "rule_retired")
    items = [{"household_id": str(h.id), "rule_id": rule["id"]} for h in setup.households]
    body = assert_error(
        await world.call("POST", "/awards/batch", cadre, json={"items": items}, headers=key()),
        409,
        "rule_retired",
    )
    assert body["index"] == 0
    assert (await balance(world, admin, household.id))["posted"] == 0

    await world.call("PATCH", f"/rules/{rule['id']}", admin, json={"active": True})
    assert (await award(world, cadre, household.id, rule)).status_code == 201
    assert (await balance(world, admin, household.id))["posted"] == 8


# --- awards: what is refused and what waits ----------------------------------------------------------------


async def test_an_award_under_a_rule_with_review_waits_and_moves_no_points(world: World) -> None:
    setup = await world.setup_village(households=2)
    admin, cadre = setup.people["village_admin"], setup.people["cadre"]
    household = setup.households[1]
    rule = await make_rule(world, setup, 20, review="single")

    response = await award(world, cadre, household.id, rule, quantity=2)

    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["status"], body["points"], body["transaction_id"]) == ("pending_review", 40, None)
    assert await balance(world, admin, household.id) == {
        "household_id": str(household.id),
        "posted": 0,
        "held": 0,
        "available": 0,
        "lifetime_earned": 0,
    }
    assert (await entries(world, admin, household.id))["items"] == []


async def test_nobody_awards_their_own_household(world: World) -> None:
    setup = await world.setup_village(households=2)
    own, other = setup.households
    both = await world.person(
        RoleGrantIn(role=Role.cadre, village_id=setup.village.id),
        RoleGrantIn(role=Role.villager, village_id=setup.village.id, household_id=own.id),
    )
    plus = await make_rule(world, setup, 10)
    minus = await make_rule(world, setup, -10)

    assert_error(await award(world, both, own.id, plus), 403, "conflict_of_interest")
    assert_error(await award(world, both, own.id, minus), 403, "conflict_of_interest")
    items = [{"household_id": str(h.id), "rule_id": plus["id"]} for h in (other, own)]
    body = assert_error(
        await world.call("POST", "/awards/batch", both, json={"items": items}, headers=key()),
        403,
        "conflict_of_interest",
    )
    assert body["index"] == 1
    assert (await balance(world, setup.people["village_admin"], own.id))["posted"] == 0
    assert (await award(world, both, other.id, plus)).status_code == 201


async def test_a_grid_cadre_awards_only_inside_the_grid(world: World) -> None:
    setup = await world.setup_village(households=2)  # households[0] in 一组, households[1] in 二组
    inside, outside = setup.households
    grid_cadre = await world.person(RoleGrantIn(role=Role.cadre, village_id=setup.village.id, grid="一组"))
    rule = await make_rule(world, setup, 6)

    body = assert_error(await award(world, grid_cadre, outside.id, rule), 403, "outside_grid")
    assert "一组" in body["detail"]
    assert (await award(world, grid_cadre, inside.id, rule)).status_code == 201
    # a village-wide cadre and the village admin may award anywhere
    assert (await award(world, setup.people["cadre"], outside.id, rule)).status_code == 201
    assert (await award(world, setup.people["village_admin"], outside.id, rule)).status_code == 201
    assert (await balance(world, setup.people["village_admin"], outside.id))["posted"] == 12


async def test_the_member_named_must_belong_to_the_household(world: World) -> None:
    setup = await world.setup_village(households=2)
    cadre = setup.people["cadre"]
    first, second = setup.households
    rule = await make_rule(world, setup, 4)

    async def member_of(household_id: uuid.UUID) -> str:
        household = await world.call("GET", f"/households/{household_id}", cadre)
        return household.json()["members"][0]["id"]  # type: ignore[no-any-return]

    def body(member_id: str) -> dict[str, Any]:
        return {"household_id": str(first.id), "rule_id": rule["id"], "member_id": member_id}

    for stranger in (await member_of(second.id), str(uuid.uuid4())):
        response = await world.call("POST", "/awards", cadre, json=body(stranger), headers=key())
        assert_error(response, 400, "invalid_member")
    own_member = await member_of(first.id)
    response = await world.call("POST", "/awards", cadre, json=body(own_member), headers=key())
    assert response.status_code == 201, response.text
    assert response.json()["member_id"] == own_member
    assert (await balance(world, cadre, first.id))["posted"] == 4


async def test_batch_limits_and_unknown_households(world: World) -> None:
    setup = await world.setup_village(households=3)
    cadre, admin = setup.people["cadre"], setup.people["village_admin"]
    rule = await make_rule(world, setup, 2)
    one = {"household_id": str(setup.households[0].id), "rule_id": rule["id"]}

    too_many = await world.call("POST", "/awards/batch", cadre, json={"items": [one] * 10_001}, headers=key())
    assert_error(too_many, 422)
    assert_error(await world.call("POST", "/awards/batch", cadre, json={"items": []}, headers=key()), 422)

    unknown = [one, one, {"household_id": str(uuid.uuid4()), "rule_id": rule["id"]}]
    body = assert_error(
        await world.call("POST", "/awards/batch", cadre, json={"items": unknown}, headers=key()), 404
    )
    assert body["index"] == 2
    no_rule = [one, {"household_id": str(setup.households[1].id), "rule_id": str(uuid.uuid4())}]
    body = assert_error(
        await world.call("POST", "/awards/batch", cadre, json={"items": no_rule}, headers=key()), 404
    )
    assert body["index"] == 1
    # a rule of another village is no rule here
    elsewhere = await world.setup_village(households=1)
    foreign = await make_rule(world, elsewhere, 100_000)
    response = await award(world, cadre, setup.households[0].id, foreign)
    assert_error(response, 404)
    assert foreign["code"] not in response.text
    # the index names the failing item even when items before it wait for review
    review = await make_rule(world, setup, 5, review="single")
    minus = await make_rule(world, setup, -1)
    mixed = [
        {"household_id": str(setup.households[0].id), "rule_id": review["id"]},
        {"household_id": str(setup.households[1].id), "rule_id": rule["id"]},
        {"household_id": str(setup.households[2].id), "rule_id": minus["id"]},
    ]
    response = await world.call("POST", "/awards/batch", cadre, json={"items": mixed}, headers=key())
    assert assert_error(response, 409, "insufficient_points")["index"] == 2
    for household in setup.households:
        assert (await balance(world, admin, household.id))["posted"] == 0


# --- reading ----------------------------------------------------------------------------------------------


async def test_entries_page_newest_first_and_stay_stable_under_new_awards(world: World) -> None:
    setup = await world.setup_village(households=2)
    cadre, villager = setup.people["cadre"], setup.people["villager"]
    household = setup.households[0]  # the villager's own
    rule = await make_rule(world, setup, 3)
    for start in (0, 60):
        items = [
            {"household_id": str(household.id), "rule_id": rule["id"], "quantity": i % 7 + 1}
            for i in range(start, start + 60)
        ]
        response = await world.call("POST", "/awards/batch", cadre, json={"items": items}, headers=key())
        assert response.status_code == 201, response.text

    async def walk(first_cursor: str | None = None) -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []
        cursor = first_cursor
        while True:
            page = await entries(
                world, villager, household.id, limit=50, **({"cursor": cursor} if cursor else {})
            )
            assert len(page["items"]) <= 50
            seen += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return seen

    snapshot = await walk()

    assert len(snapshot) == 120
    assert len({e["transaction_id"] for e in snapshot}) == 120
    assert [e["amount"] for e in reversed(snapshot)] == [3 * (i % 7 + 1) for i in range(120)]
    for newer, older in itertools.pairwise(snapshot):
        assert newer["balance_after"] == older["balance_after"] + newer["amount"]
        assert datetime.fromisoformat(newer["created_at"]) >= datetime.fromisoformat(older["created_at"])
    assert snapshot[-1]["balance_after"] == snapshot[-1]["amount"]
    assert snapshot[0]["balance_after"] == (await balance(world, villager, household.id))["posted"]

    # page 1, then five new awards, then the rest with the cursor: nothing doubled, nothing skipped
    page1 = await entries(world, villager, household.id, limit=50)
    for _ in range(5):
        assert (await award(world, cadre, household.id, rule)).status_code == 201
    rest = await walk(page1["next_cursor"])
    assert page1["items"] + rest == snapshot
    fresh = (await entries(world, villager, household.id, limit=50))["items"]
    assert [e["amount"] for e in fresh[:5]] == [3] * 5
    assert fresh[5:] == snapshot[:45]

    assert_error(
        await world.call("GET", f"/households/{household.id}/entries?cursor=not-a-cursor", villager),
        400,
        "invalid_cursor",
    )
    assert_error(await world.call("GET", f"/households/{household.id}/entries?limit=201", villager), 422)


async def test_a_transaction_shows_its_balanced_postings(world: World) -> None:
    setup: VillageSetup = await world.setup_village(households=2)
    cadre, clerk = setup.people["cadre"], setup.people["clerk"]
    household = setup.households[1]
    rule = await make_rule(world, setup, -4)
    plus = await make_rule(world, setup, 10)
    await award(world, cadre, household.id, plus)
    deduction = (await award(world, cadre, household.id, rule, quantity=2)).json()

    response = await world.call("GET", f"/transactions/{deduction['transaction_id']}", cadre)

    assert response.status_code == 200, response.text
    tx = response.json()
    assert (tx["kind"], tx["source_type"], tx["source_id"]) == ("deduction", "award", deduction["id"])
    assert (tx["actor_id"], tx["reverses"], tx["reversed_by"]) == (str(cadre.id), None, None)
    postings = {p["account_kind"]: (p["amount"], p["balance_after"]) for p in tx["postings"]}
    assert postings == {"household": (-8, 2), "deductions": (8, None)}
    household_posting = next(p for p in tx["postings"] if p["account_kind"] == "household")
    assert household_posting["account_id"] == str(household.id)
    assert_error(await world.call("GET", f"/transactions/{uuid.uuid4()}", clerk), 404)
