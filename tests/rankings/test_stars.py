"""星级文明户: stars from the points earned in a local year against the village's thresholds; rankings show
lifetime earned and spendable points."""

from __future__ import annotations

from jifen.settings import Settings
from tests.factories import World
from tests.helpers import assert_error
from tests.ledger.helpers import award, key, make_rule
from tests.rankings.test_rankings import _backdated_award


async def test_stars_follow_the_thresholds_and_the_village_year(world: World, settings: Settings) -> None:
    setup = await world.setup_village(households=4, grids=("一组", "二组"))
    admin, villager = setup.people["village_admin"], setup.people["villager"]
    h0, h1, h2, h3 = setup.households  # grids 一组, 二组, 一组, 二组
    v = setup.village.id
    changed = await world.call(
        "PATCH", f"/villages/{v}", admin, json={"star_thresholds": [10, 20, 30, 40, 50]}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["star_thresholds"] == [10, 20, 30, 40, 50]

    # the year is the village's: 23:59:59 on 31 December counts in 2026, midnight is already 2027
    await _backdated_award(settings, v, h0.id, 25, "2026-12-31 23:59:59+08")
    await _backdated_award(settings, v, h0.id, 30, "2027-01-01 00:00:00+08")
    await _backdated_award(settings, v, h1.id, 55, "2026-06-01 12:00:00+08")
    await _backdated_award(settings, v, h2.id, 9, "2026-01-01 00:00:00+08")
    await _backdated_award(settings, v, h3.id, 40, "2025-12-31 23:59:59+08")  # 2025, in UTC 15:59 that day

    stars = await world.call("GET", f"/villages/{v}/stars", villager, params={"year": 2026})
    assert stars.status_code == 200, stars.text
    assert stars.json()["year"] == 2026
    assert stars.json()["thresholds"] == [10, 20, 30, 40, 50]
    rows = [(e["code"], e["earned"], e["stars"]) for e in stars.json()["items"]]
    assert rows == [(h1.code, 55, 5), (h0.code, 25, 2), (h2.code, 9, 0), (h3.code, 0, 0)]
    assert set(stars.json()["items"][0]) == {"household_id", "code", "head_name", "grid", "earned", "stars"}
    next_year = await world.call("GET", f"/villages/{v}/stars", villager, params={"year": 2027})
    assert {e["code"]: e["stars"] for e in next_year.json()["items"]}[h0.code] == 3
    last_year = await world.call("GET", f"/villages/{v}/stars", villager, params={"year": 2025})
    assert {e["code"]: e["stars"] for e in last_year.json()["items"]}[h3.code] == 4
    grid = await world.call("GET", f"/villages/{v}/stars", villager, params={"year": 2026, "grid": "二组"})
    assert [e["code"] for e in grid.json()["items"]] == [h1.code, h3.code]
    # without a year: this one
    assert (await world.call("GET", f"/villages/{v}/stars", villager)).json()["year"] >= 2026


async def test_deductions_and_reversals_count_against_the_year(world: World) -> None:
    setup = await world.setup_village(households=2)
    cadre, admin = setup.people["cadre"], setup.people["village_admin"]
    household = setup.households[1]
    plus = await make_rule(world, setup, 60)
    minus = await make_rule(world, setup, -15)
    for _ in range(2):
        assert (await award(world, cadre, household.id, plus)).status_code == 201
    assert (await award(world, cadre, household.id, minus)).status_code == 201
    wrong = (await award(world, cadre, household.id, plus)).json()
    reversed_ = await world.call(
        "POST",
        f"/transactions/{wrong['transaction_id']}/reverse",
        admin,
        json={"reason": "录错户"},
        headers=key(),
    )
    assert reversed_.status_code == 201
    stars = await world.call("GET", f"/villages/{setup.village.id}/stars", admin)
    entry = next(e for e in stars.json()["items"] if e["household_id"] == str(household.id))
    assert entry["earned"] == 105
    assert entry["stars"] == 1  # the default thresholds: 100, 200, 300, 400, 500

    ranking = await world.call("GET", f"/villages/{setup.village.id}/rankings", admin)
    top = ranking.json()["items"][0]
    # lifetime earned: 2 × 60 (the reversed award was never earned); a deduction does not unearn
    assert (top["points"], top["lifetime_earned"], top["available"]) == (105, 120, 105)


async def test_star_threshold_refusals(world: World) -> None:
    setup = await world.setup_village()
    admin, v = setup.people["village_admin"], setup.village.id
    for bad in (
        [10, 20, 30, 40],
        [10, 20, 30, 40, 40],
        [50, 40, 30, 20, 10],
        [0, 1, 2, 3, 4],
        [1, 2, 3, 4, 5, 6],
    ):
        response = await world.call("PATCH", f"/villages/{v}", admin, json={"star_thresholds": bad})
        assert response.status_code == 422, (bad, response.text)
    assert_error(
        await world.call(
            "PATCH", f"/villages/{v}", setup.people["cadre"], json={"star_thresholds": [1, 2, 3, 4, 5]}
        ),
        403,
    )
    for year in ("1999", "2101", "abc"):
        response = await world.call("GET", f"/villages/{v}/stars", admin, params={"year": year})
        assert response.status_code == 422
    other = await world.setup_village()
    assert_error(await world.call("GET", f"/villages/{v}/stars", other.people["villager"]), 404, "not_found")
    assert_error(await world.call("GET", f"/villages/{v}/stars", None), 401, "not_authenticated")
