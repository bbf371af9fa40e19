"""The village overview: is the store funded? Every number is recomputed here from the raw records, by
other means than the service's SQL, and must agree."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import text

from jifen.kit import timeutil
from tests.factories import World
from tests.funding.helpers import add_fund, at, local, overview, set_peg, settle, void
from tests.helpers import assert_error
from tests.store.helpers import cancel, fund, make_item, redeem


async def rows(world: World, sql: str, **params: Any) -> list[Any]:
    async with world.session() as session:
        return list((await session.execute(text(sql), params)).all())


async def independent_overview(world: World, village_id: uuid.UUID) -> dict[str, Any]:
    """The overview computed in Python from the tables: pegs, funds, voids, sales, settlements, accounts."""
    pegs = await rows(
        world,
        "SELECT effective_from, id, fen_per_point FROM village_pegs WHERE village_id = :v",
        v=village_id,
    )

    def peg_at(moment: datetime) -> int:
        in_force = [p for p in pegs if p.effective_from <= moment]
        return max(in_force, key=lambda p: (p.effective_from, p.id)).fen_per_point if in_force else 100

    accounts = await rows(
        world, "SELECT posted, held FROM accounts WHERE village_id = :v AND kind = 'household'", v=village_id
    )
    funds = await rows(
        world,
        "SELECT f.amount_fen, v.fund_id IS NOT NULL AS voided FROM village_funds f"
        " LEFT JOIN village_fund_voids v ON v.village_id = f.village_id AND v.fund_id = f.id"
        " WHERE f.village_id = :v",
        v=village_id,
    )
    settlements = await rows(
        world,
        "SELECT store_id, starts_at, ends_at, amount_fen, report_points FROM store_settlements"
        " WHERE village_id = :v",
        v=village_id,
    )
    sales = await rows(
        world,
        "SELECT store_id, created_at, cancelled_at, total_points FROM redemptions WHERE village_id = :v",
        v=village_id,
    )

    def settled(store_id: uuid.UUID, moment: datetime) -> bool:
        return any(s.store_id == store_id and s.starts_at <= moment < s.ends_at for s in settlements)

    unsettled_fen = unsettled_points = 0
    for sale in sales:
        value = sale.total_points * peg_at(sale.created_at)
        if not settled(sale.store_id, sale.created_at):
            unsettled_fen += value
            unsettled_points += sale.total_points
        if sale.cancelled_at is not None and not settled(sale.store_id, sale.cancelled_at):
            unsettled_fen -= value
            unsettled_points -= sale.total_points
    posted = sum(a.posted for a in accounts)
    received = sum(f.amount_fen for f in funds if not f.voided)
    spent = sum(s.amount_fen for s in settlements)
    outstanding = posted * peg_at(timeutil.utcnow())
    return {
        "households": len(accounts),
        "points_outstanding": posted,
        "points_held": sum(a.held for a in accounts),
        "outstanding_fen": outstanding,
        "funds_received_fen": received,
        "funds_spent_fen": spent,
        "cash_fen": received - spent,
        "unsettled_fen": unsettled_fen,
        "surplus_fen": received - spent - unsettled_fen - outstanding,
        "funded": received - spent - unsettled_fen - outstanding >= 0,
        "_unsettled_points": unsettled_points,
        "_settled_points": sum(s.report_points for s in settlements),
    }


async def test_the_overview_reconciles_with_the_records(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = await world.setup_village(households=4)
    admin, clerk, villager = (setup.people[r] for r in ("village_admin", "clerk", "villager"))
    v = setup.village.id
    second = await world.store(setup.village, name="二号超市（合作商店）")
    for household, points in zip(setup.households, (400, 300, 200, 50), strict=True):
        await fund(world, setup, household.id, points)
    soap = await make_item(world, setup, "香皂", 5, 100)
    rice = await make_item(world, setup, "大米", 50, 100)
    oil = await make_item(world, setup, "食用油", 85, 100, store_id=second.id)

    async def sell(store_id: uuid.UUID, household: int, lines: list[tuple[str, int]]) -> dict[str, Any]:
        response = await redeem(world, admin, store_id, setup.households[household].id, lines)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    # September, at the default peg: sold, and paid for in October
    at(monkeypatch, local(2026, 9, 12, 10, 0))
    september = await sell(setup.store.id, 0, [(rice["id"], 2), (soap["id"], 3)])  # 115
    await sell(second.id, 1, [(oil["id"], 1)])  # 85
    at(monkeypatch, local(2026, 10, 3, 10, 0))
    # a September sale cancelled in October: counted in October, still unsettled
    assert (await cancel(world, admin, september["id"])).status_code == 200
    monkeypatch.undo()
    assert (await settle(world, admin, setup.store.id, "2026-09")).status_code == 201
    assert (
        await settle(world, admin, second.id, "2026-09", amount_fen=8_000, note="抹零")
    ).status_code == 201

    # now: a peg of ¥1, a sale, then ¥2.50 and more sales; a pickup code holds points
    assert (await set_peg(world, admin, v, 100)).status_code == 200
    await sell(setup.store.id, 1, [(soap["id"], 4)])  # 20 at ¥1
    assert (await set_peg(world, admin, v, 250)).status_code == 200
    later = await sell(second.id, 2, [(oil["id"], 1)])  # 85 at ¥2.50
    await sell(setup.store.id, 2, [(soap["id"], 2)])  # 10 at ¥2.50
    assert (await cancel(world, clerk, later["id"])).status_code == 403  # not this clerk's store
    assert (await cancel(world, admin, later["id"])).status_code == 200
    reserved = await world.call(
        "POST",
        "/reservations",
        villager,
        json={"store_id": str(setup.store.id), "lines": [{"item_id": rice["id"], "quantity": 1}]},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert reserved.status_code == 201, reserved.text

    # the money: three sources and one mistake voided
    await add_fund(world, admin, v, 300_000, source="collective", source_name="村集体")
    await add_fund(world, admin, v, 150_000, source="donor", source_name="富民农业有限公司")
    await add_fund(world, admin, v, 80_000, source="town", source_name="幸福镇人民政府")
    mistake = (await add_fund(world, admin, v, 999_999, source="other", source_name="录错")).json()
    assert (await void(world, admin, mistake["id"])).status_code == 200

    shown = await overview(world, admin, v)
    expected = await independent_overview(world, v)
    assert {k: shown[k] for k in expected if not k.startswith("_")} == {
        k: e for k, e in expected.items() if not k.startswith("_")
    }
    assert shown["peg"]["fen_per_point"] == 250
    assert shown["points_held"] == 50
    assert shown["funds_received"] == "¥5,300.00"
    # September: ¥115 and ¥80 paid; since then +¥20, +¥25 (-¥212.50 +¥212.50 cancelled), -¥115 cancelled
    assert shown["funds_spent_fen"] == 11_500 + 8_000
    assert shown["unsettled_fen"] == 2_000 + 2_500 - 11_500
    assert shown["outstanding_fen"] == shown["points_outstanding"] * 250
    assert shown["surplus"].startswith("¥") == shown["funded"]
    stores = {s["name"]: s for s in shown["stores"]}
    assert stores["二号超市（合作商店）"]["last_settled_period"] == "2026-09"
    assert sum(s["unsettled_fen"] for s in shown["stores"]) == shown["unsettled_fen"]

    # the ledger agrees: what the stores took in points = settled + unsettled
    store_points = await rows(
        world,
        "SELECT coalesce(sum(p.amount), 0) FROM postings p JOIN accounts a"
        " ON a.village_id = p.village_id AND a.id = p.account_id"
        " WHERE a.village_id = :v AND a.kind = 'store'",
        v=v,
    )
    assert store_points[0][0] == expected["_settled_points"] + sum(
        s["unsettled_points"] for s in shown["stores"]
    )
    assert sum(s["unsettled_points"] for s in shown["stores"]) == expected["_unsettled_points"]

    # the town sees the same numbers
    town = await overview(world, await world.town_admin(), v)
    assert {k: x for k, x in town.items() if k != "as_of"} == {k: x for k, x in shown.items() if k != "as_of"}


async def test_funded_turns_true_when_the_money_covers_the_points(world: World) -> None:
    setup = await world.setup_village(households=2)
    admin = setup.people["village_admin"]
    v = setup.village.id
    await fund(world, setup, setup.households[0].id, 300)  # ¥300 at the default peg
    empty = await overview(world, admin, v)
    assert (empty["outstanding_fen"], empty["surplus_fen"], empty["surplus"], empty["funded"]) == (
        30_000,
        -30_000,
        "-¥300.00",
        False,
    )
    await add_fund(world, admin, v, 29_999)
    assert (await overview(world, admin, v))["funded"] is False
    await add_fund(world, admin, v, 1)
    covered = await overview(world, admin, v)
    assert (covered["surplus_fen"], covered["funded"]) == (0, True)
    # a dearer point makes the same money fall short again
    assert (await set_peg(world, admin, v, 200)).status_code == 200
    dearer = await overview(world, admin, v)
    assert (dearer["outstanding_fen"], dearer["funded"]) == (60_000, False)


async def test_the_overview_is_for_the_village_admin_and_the_town(world: World) -> None:
    setup = await world.setup_village()
    v = setup.village.id
    for role in ("cadre", "reviewer", "clerk", "villager"):
        assert_error(await world.call("GET", f"/villages/{v}/funding", setup.people[role]), 403)
    stranger = (await world.setup_village()).people["village_admin"]
    assert_error(await world.call("GET", f"/villages/{v}/funding", stranger), 404)
    assert_error(await world.call("GET", f"/villages/{uuid.uuid4()}/funding", stranger), 404)
    assert_error(await world.call("GET", f"/villages/{v}/funding"), 401)


async def test_the_demo_village_shows_whether_its_store_is_funded(world: World) -> None:
    from jifen.demo import load_demo

    async with world.session() as session, session.begin():
        village = await load_demo(session)
    town = await world.town_admin()
    shown = await overview(world, town, village.id)
    expected = await independent_overview(world, village.id)
    assert {k: shown[k] for k in expected if not k.startswith("_")} == {
        k: e for k, e in expected.items() if not k.startswith("_")
    }
    assert shown["funds_received_fen"] == 650_000
    assert shown["funds_spent_fen"] == 62_000
    assert shown["unsettled_fen"] > 0  # this month's sales
    assert shown["points_outstanding"] > 0
    assert isinstance(shown["funded"], bool)
    [store] = shown["stores"]
    assert store["last_settled_period"] is not None
    funds = await world.call("GET", f"/villages/{village.id}/funds", town)
    assert {f["source"] for f in funds.json()["items"]} == {"collective", "donor", "town"}
