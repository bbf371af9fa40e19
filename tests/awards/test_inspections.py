"""Grid inspections: a sheet per grid and day, scored and submitted once, all or nothing."""

from __future__ import annotations

import time
from typing import Any

from tests.factories import World
from tests.helpers import assert_error
from tests.ledger.helpers import balance, key, make_rule, open_sheet


async def test_a_grid_inspection_is_opened_scored_and_submitted_once(world: World) -> None:
    setup = await world.setup_village(households=6, grids=("一组", "二组"))
    cadre, admin = setup.people["cadre"], setup.people["village_admin"]
    clean = await make_rule(world, setup, 15)
    sort = await make_rule(world, setup, 10)
    mess = await make_rule(world, setup, -5)
    sheet = await open_sheet(
        world, setup, cadre, [clean, sort, mess], day="2026-11-20", judges=("张三", "李四", "王五")
    )
    assert sheet.status_code == 201, sheet.text
    body = sheet.json()
    grid_one = [h for h in setup.households if h.grid == "一组"]
    assert [h["code"] for h in body["households"]] == sorted(h.code for h in grid_one)
    assert {r["code"] for r in body["rules"]} == {clean["code"], sort["code"], mess["code"]}
    assert body["status"] == "open"
    again = await world.call(
        "POST",
        f"/villages/{setup.village.id}/inspections",
        cadre,
        json={"grid": "一组", "inspected_on": "2026-11-20", "rule_ids": [clean["id"]], "judges": ["张三"]},
    )
    assert_error(again, 409, "duplicate_inspection")

    scores: list[dict[str, Any]] = [
        {"household_id": h["id"], "rule_id": clean["id"]} for h in body["households"]
    ]
    scores.append({"household_id": body["households"][0]["id"], "rule_id": sort["id"]})
    outsider = next(h for h in setup.households if h.grid == "二组")
    wrong_grid = [*scores, {"household_id": str(outsider.id), "rule_id": clean["id"]}]
    refused = await world.call(
        "POST", f"/inspections/{body['id']}/submit", cadre, json={"scores": wrong_grid}, headers=key()
    )
    assert_error(refused, 400, "invalid_score")
    assert refused.json()["index"] == len(scores)
    # a deduction the household cannot pay fails the whole sheet: nothing posts
    broke = [*scores, {"household_id": body["households"][1]["id"], "rule_id": mess["id"], "quantity": 10}]
    refused = await world.call(
        "POST", f"/inspections/{body['id']}/submit", cadre, json={"scores": broke}, headers=key()
    )
    assert_error(refused, 409, "insufficient_points")
    assert (await balance(world, admin, grid_one[0].id))["posted"] == 0

    submitted = await world.call(
        "POST", f"/inspections/{body['id']}/submit", cadre, json={"scores": scores}, headers=key()
    )
    assert submitted.status_code == 201, submitted.text
    assert submitted.json()["inspection"]["status"] == "submitted"
    assert submitted.json()["inspection"]["awards"] == len(scores)
    assert "张三、李四、王五" in submitted.json()["awards"][0]["note"]
    first = body["households"][0]["id"]
    assert (await world.call("GET", f"/households/{first}/balance", admin)).json()["posted"] == 25
    twice = await world.call(
        "POST", f"/inspections/{body['id']}/submit", cadre, json={"scores": scores}, headers=key()
    )
    assert_error(twice, 409, "inspection_submitted")


async def test_who_may_inspect(world: World) -> None:
    setup = await world.setup_village(households=2, grids=("一组", "二组"))
    rule = await make_rule(world, setup, 5)
    path = f"/villages/{setup.village.id}/inspections"

    def sheet(grid: str) -> dict[str, Any]:
        return {"grid": grid, "inspected_on": "2026-11-21", "rule_ids": [rule["id"]], "judges": ["张三"]}

    # the demo cadre of the setup covers every grid; one limited to 一组 may not open 二组's sheet
    from jifen.models import Role
    from jifen.users.schemas import RoleGrantIn

    limited = await world.person(RoleGrantIn(role=Role.cadre, village_id=setup.village.id, grid="一组"))
    assert (await world.call("POST", path, limited, json=sheet("二组"))).status_code == 403
    for role in ("reviewer", "clerk", "villager"):
        assert (await world.call("POST", path, setup.people[role], json=sheet("一组"))).status_code == 403
    assert (await world.call("POST", path, await world.town_admin(), json=sheet("一组"))).status_code == 403
    assert (await world.call("POST", path, None, json=sheet("一组"))).status_code == 401
    opened = await world.call("POST", path, limited, json=sheet("一组"))
    assert opened.status_code == 201
    assert (
        await world.call("GET", f"/inspections/{opened.json()['id']}", setup.people["villager"])
    ).status_code == 403


async def test_an_inspection_of_500_households_posts_in_one_request(world: World, app: Any) -> None:
    """Scores for a whole grid go in one request (the bench measures it; here: it works, all or nothing)."""
    import asyncpg

    from tests.db import _asyncpg_url

    setup = await world.setup_village(households=1, grids=("大网格",))
    owner = await asyncpg.connect(_asyncpg_url(app.state.settings.migrate_database_url))
    try:
        await owner.execute(
            "INSERT INTO households (village_id, id, code, head_name, grid)"
            " SELECT $1, gen_random_uuid(), 'G' || lpad(i::text, 4, '0'), '户主' || i, '大网格'"
            " FROM generate_series(1, 499) i",
            setup.village.id,
        )
        await owner.execute(
            "INSERT INTO accounts (village_id, id, kind, household_id)"
            " SELECT village_id, id, 'household', id FROM households h WHERE village_id = $1"
            " AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.village_id = h.village_id AND a.id = h.id)",
            setup.village.id,
        )
    finally:
        await owner.close()
    clean = await make_rule(world, setup, 15)
    sort = await make_rule(world, setup, 10)
    cadre = setup.people["cadre"]
    sheet = (await open_sheet(world, setup, cadre, [clean, sort], day="2026-11-22", grid="大网格")).json()
    assert len(sheet["households"]) == 500
    scores = [{"household_id": h["id"], "rule_id": clean["id"]} for h in sheet["households"]]
    scores += [{"household_id": h["id"], "rule_id": sort["id"]} for h in sheet["households"][::2]]
    started = time.perf_counter()
    response = await world.call(
        "POST", f"/inspections/{sheet['id']}/submit", cadre, json={"scores": scores}, headers=key()
    )
    elapsed = time.perf_counter() - started
    assert response.status_code == 201, response.text
    assert len(response.json()["awards"]) == 750
    assert elapsed < 10  # generous: a shared CI machine; `make bench` has the real figure
