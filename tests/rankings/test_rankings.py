from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg

from jifen.settings import Settings
from tests.db import _asyncpg_url
from tests.factories import World
from tests.helpers import assert_error
from tests.ledger.helpers import award, key, make_rule

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def _backdated_award(
    settings: Settings, village_id: uuid.UUID, household_id: uuid.UUID, points: int, when: str
) -> None:
    """An award booked at a given village time (written by hand, as only a test may)."""
    assert settings.migrate_database_url
    owner = await asyncpg.connect(_asyncpg_url(settings.migrate_database_url))
    try:
        await owner.execute("SET session_replication_role = replica")
        issuing = await owner.fetchval(
            "SELECT id FROM accounts WHERE village_id = $1 AND kind = 'issuing'", village_id
        )
        tx = uuid.uuid4()
        await owner.execute(
            "INSERT INTO ledger_transactions (village_id, id, kind, actor_id, created_at)"
            " VALUES ($1, $2, 'award', $3, $4::timestamptz)",
            village_id,
            tx,
            uuid.uuid4(),
            datetime.fromisoformat(when),
        )
        await owner.execute(
            "INSERT INTO postings (village_id, transaction_id, account_id, amount, balance_after,"
            " account_version) VALUES ($1, $2, $3, $4::bigint, 0, 100000 + $4::bigint),"
            " ($1, $2, $5, -$4::bigint, NULL, NULL)",
            village_id,
            tx,
            household_id,
            points,
            issuing,
        )
    finally:
        await owner.close()


async def test_rankings_by_period_and_grid_with_shared_ranks(world: World, settings: Settings) -> None:
    setup = await world.setup_village(households=4, grids=("一组", "二组"))
    cadre, villager = setup.people["cadre"], setup.people["villager"]
    h0, h1, h2, h3 = setup.households  # grids 一组, 二组, 一组, 二组
    plus = await make_rule(world, setup, 10)
    minus = await make_rule(world, setup, -5)
    for household, times in ((h0, 3), (h1, 3), (h2, 1)):
        for _ in range(times):
            assert (await award(world, cadre, household.id, plus)).status_code == 201
    assert (await award(world, cadre, h2.id, minus)).status_code == 201
    # a deduction wrongly booked and reversed counts for nothing
    wrong = (await award(world, cadre, h1.id, minus)).json()
    reversed_ = await world.call(
        "POST",
        f"/transactions/{wrong['transaction_id']}/reverse",
        setup.people["village_admin"],
        json={"reason": "误扣"},
        headers=key(),
    )
    assert reversed_.status_code == 201

    everything = await world.call("GET", f"/villages/{setup.village.id}/rankings", villager)
    assert everything.status_code == 200
    ranked = [(e["rank"], e["code"], e["points"]) for e in everything.json()["items"]]
    assert ranked == [(1, h0.code, 30), (1, h1.code, 30), (3, h2.code, 5), (4, h3.code, 0)]

    grid = await world.call(
        "GET", f"/villages/{setup.village.id}/rankings", villager, params={"grid": "二组"}
    )
    assert [(e["rank"], e["code"]) for e in grid.json()["items"]] == [(1, h1.code), (2, h3.code)]

    # the month is the village's: 23:59 on 31 October is October, 00:00 on 1 November is November
    await _backdated_award(settings, setup.village.id, h3.id, 7, "2026-10-31 23:59:59+08")
    await _backdated_award(settings, setup.village.id, h3.id, 11, "2026-11-01 00:00:00+08")
    october = await world.call(
        "GET", f"/villages/{setup.village.id}/rankings", villager, params={"period": "2026-10"}
    )
    assert october.json()["items"][0] == {
        **october.json()["items"][0],
        "code": h3.code,
        "points": 7,
        "rank": 1,
    }
    november = await world.call(
        "GET", f"/villages/{setup.village.id}/rankings", villager, params={"period": "2026-11"}
    )
    by_code = {e["code"]: e["points"] for e in november.json()["items"]}
    assert by_code[h3.code] == 11
    year = await world.call(
        "GET", f"/villages/{setup.village.id}/rankings", villager, params={"period": "2026"}
    )
    assert {e["code"]: e["points"] for e in year.json()["items"]}[h3.code] == 18


async def test_rankings_refusals(world: World) -> None:
    setup = await world.setup_village()
    path = f"/villages/{setup.village.id}/rankings"
    for bad in ("2026-13", "26", "2026-1", "last-month"):
        assert_error(
            await world.call("GET", path, setup.people["villager"], params={"period": bad}),
            400,
            "invalid_period",
        )
    assert_error(await world.call("GET", path, None), 401, "not_authenticated")
    other = await world.village()
    from jifen.models import Role
    from jifen.users.schemas import RoleGrantIn

    stranger = await world.person(RoleGrantIn(role=Role.village_admin, village_id=other.id))
    assert_error(await world.call("GET", path, stranger), 404, "not_found")


async def test_classes_rank_apart_and_the_red_and_black_lists(world: World) -> None:
    setup = await world.setup_village(households=1)
    admin, cadre, villager = setup.people["village_admin"], setup.people["cadre"], setup.people["villager"]
    created = []
    for number, klass in enumerate(["党员户", "党员户", None, None, None]):
        body = {"code": f"C{number}", "head_name": f"户主{number}", "members": []}
        if klass:
            body["household_class"] = klass
        response = await world.call("POST", f"/villages/{setup.village.id}/households", admin, json=body)
        assert response.status_code == 201, response.text
        created.append(response.json())
    assert created[0]["household_class"] == "党员户"
    plus = await make_rule(world, setup, 10)
    minus = await make_rule(world, setup, -3)
    for household, times in zip(created, (2, 1, 3, 0, 0), strict=True):
        for _ in range(times):
            assert (await award(world, cadre, household["id"], plus)).status_code == 201
    assert (await award(world, cadre, created[4]["id"], plus)).status_code == 201
    for _ in range(3):  # 10 - 9: one point left this month
        assert (await award(world, cadre, created[4]["id"], minus)).status_code == 201

    party = await world.call(
        "GET", f"/villages/{setup.village.id}/rankings", villager, params={"household_class": "党员户"}
    )
    assert [(e["rank"], e["code"]) for e in party.json()["items"]] == [(1, "C0"), (2, "C1")]

    month = datetime.now(tz=SHANGHAI).strftime("%Y-%m")
    lists = await world.call(
        "GET", f"/villages/{setup.village.id}/rankings/lists", villager, params={"period": month, "size": 2}
    )
    assert lists.status_code == 200, lists.text
    assert [e["code"] for e in lists.json()["red"]] == ["C2", "C0"]
    # the two lowest: nobody scored for C3 or the setup's own household; C4 kept one point
    assert {(e["code"], e["points"]) for e in lists.json()["black"]} == {
        ("C3", 0),
        (setup.households[0].code, 0),
    }
