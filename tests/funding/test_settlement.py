"""The settlement report per store and period, and the record that the village paid the store.

A sale counts in the period it was made, at the peg in force then; a cancellation counts in the period it
was made, as a negative line at the peg of the sale. An ended period's report never changes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jifen.models import Role
from jifen.users.schemas import RoleGrantIn
from tests.factories import VillageSetup, World
from tests.funding.helpers import at, local, report, report_ok, set_peg, settle
from tests.helpers import assert_error
from tests.store.helpers import cancel, fund, make_item, redeem


async def sold(world: World, setup: VillageSetup, lines: list[tuple[str, int]], household: int = 0) -> Any:
    response = await redeem(
        world, setup.people["clerk"], setup.store.id, setup.households[household].id, lines
    )
    assert response.status_code == 201, response.text
    return response.json()


def by_name(body: dict[str, Any]) -> dict[str, tuple[int, int, int, int, int]]:
    """name → (sold, cancelled, net quantity, points, fen)."""
    return {
        line["name"]: (line["sold"], line["cancelled"], line["quantity"], line["points"], line["amount_fen"])
        for line in body["lines"]
    }


async def test_a_sale_keeps_the_peg_it_was_made_under(world: World) -> None:
    setup = await world.setup_village()
    admin = setup.people["village_admin"]
    await fund(world, setup, setup.households[0].id, 1000)
    soap = await make_item(world, setup, "香皂", 5, 100, unit="块")
    oil = await make_item(world, setup, "食用油", 85, 10, unit="桶")
    assert (await set_peg(world, admin, setup.village.id, 100)).status_code == 200

    await sold(world, setup, [(soap["id"], 2), (oil["id"], 1)])  # 95 points at ¥1
    assert (await set_peg(world, admin, setup.village.id, 500)).status_code == 200
    await sold(world, setup, [(soap["id"], 1)])  # 5 points at ¥5

    month = local_month()
    body = await report_ok(world, setup, month)
    assert body["period"] == month
    assert by_name(body) == {"食用油": (1, 0, 1, 85, 8_500), "香皂": (3, 0, 3, 15, 1_000 + 2_500)}
    assert [line["unit"] for line in body["lines"]] == ["桶", "块"]  # by name
    assert body["totals"] == {
        "sales": 2,
        "cancellations": 0,
        "points": 100,
        "amount_fen": 12_000,
        "amount": "¥120.00",
    }
    # the default at the start of the month, then the two the village set
    assert [(p["fen_per_point"], p["effective_from"] is None) for p in body["pegs"]] == [
        (100, True),
        (100, False),
        (500, False),
    ]
    assert body["ended"] is False
    assert body["settlement"] is None
    assert body["cancellations"] == []
    # a month is the same as its local dates
    first, last = body["first_day"], body["last_day"]
    same = await report(world, admin, setup.store.id, **{"from": first, "to": last})
    assert same.status_code == 200
    assert same.json()["lines"] == body["lines"]
    # the store's clerk reads it too
    assert (await report(world, setup.people["clerk"], setup.store.id, period=month)).status_code == 200


def local_month() -> str:
    from jifen.kit import timeutil

    return f"{timeutil.to_local(timeutil.utcnow()):%Y-%m}"


async def test_a_cancellation_counts_in_the_period_it_was_made(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = await world.setup_village()
    admin = setup.people["village_admin"]
    await fund(world, setup, setup.households[0].id, 1000)
    rice = await make_item(world, setup, "大米", 50, 100, unit="袋")

    at(monkeypatch, local(2026, 10, 31, 23, 30))  # half an hour before November, local time
    october_sale = await sold(world, setup, [(rice["id"], 3)])
    kept = await sold(world, setup, [(rice["id"], 1)])
    at(monkeypatch, local(2026, 11, 1, 0, 10))
    cancelled = await cancel(world, setup.people["clerk"], october_sale["id"])
    assert cancelled.status_code == 200, cancelled.text
    await sold(world, setup, [(rice["id"], 2)])
    monkeypatch.undo()

    october = await report_ok(world, setup, "2026-10")
    assert by_name(october) == {"大米": (4, 0, 4, 200, 20_000)}  # the sale stays where it was made
    assert october["cancellations"] == []
    assert october["ended"] is True

    november = await report_ok(world, setup, "2026-11")
    assert by_name(november) == {"大米": (2, 3, -1, -50, -5_000)}
    [line] = november["cancellations"]
    assert line["redemption_id"] == october_sale["id"]
    assert line["receipt_no"] == october_sale["receipt_no"]
    assert line["household_code"] == setup.households[0].code
    assert line["sold_in_period"] is False
    assert (line["points"], line["amount_fen"], line["amount"]) == (-150, -15_000, "-¥150.00")
    assert line["reason"] == "顾客拿错了商品"
    assert november["totals"]["amount_fen"] == -5_000
    assert (november["totals"]["sales"], november["totals"]["cancellations"]) == (1, 1)

    # the quarter holds both: the sale and its cancellation cancel out
    quarter = await report_ok(world, setup, "2026-Q4")
    assert by_name(quarter) == {"大米": (6, 3, 3, 150, 15_000)}
    assert quarter["cancellations"][0]["sold_in_period"] is True
    assert kept["total_points"] == 50

    # October is paid; its report then shows the payment and never changes
    paid = await settle(world, admin, setup.store.id, "2026-10", key="s-oct")
    assert paid.status_code == 201, paid.text
    record = paid.json()
    assert (record["period"], record["report_points"], record["report_fen"]) == ("2026-10", 200, 20_000)
    assert (record["amount_fen"], record["amount"], record["difference_fen"]) == (20_000, "¥200.00", 0)
    assert record["note"] == "村委转账付款"
    replay = await settle(world, admin, setup.store.id, "2026-10", key="s-oct")
    assert (replay.status_code, replay.json()) == (201, record)
    after = await report_ok(world, setup, "2026-10")
    assert after["settlement"] == record
    assert {k: v for k, v in after.items() if k != "settlement"} == {
        k: v for k, v in october.items() if k != "settlement"
    }


async def test_a_store_is_paid_once_for_any_stretch_of_time(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = await world.setup_village()
    admin = setup.people["village_admin"]
    await fund(world, setup, setup.households[0].id, 1000)
    soap = await make_item(world, setup, "香皂", 5, 100)
    at(monkeypatch, local(2026, 9, 10, 9, 0))
    await sold(world, setup, [(soap["id"], 4)])
    monkeypatch.undo()

    first = await settle(world, admin, setup.store.id, "2026-09", amount_fen=1_500, note="先付一部分")
    assert first.status_code == 201, first.text
    assert (first.json()["report_fen"], first.json()["amount_fen"], first.json()["difference_fen"]) == (
        2_000,
        1_500,
        -500,
    )
    assert_error(await settle(world, admin, setup.store.id, "2026-09"), 409, "already_settled")
    assert_error(await settle(world, admin, setup.store.id, "2026-Q3"), 409, "already_settled")
    assert_error(await settle(world, admin, setup.store.id, "2026-09-30/2026-10-02"), 409, "already_settled")
    assert_error(await settle(world, admin, setup.store.id, local_month()), 409, "period_not_ended")
    assert_error(await settle(world, admin, setup.store.id, "2099"), 409, "period_not_ended")
    # the month before and after are separate
    assert (await settle(world, admin, setup.store.id, "2026-08")).status_code == 201
    assert (await settle(world, admin, setup.store.id, "2026-10-01/2026-10-15")).status_code == 201
    # another store of the village is paid on its own
    other = await world.store(setup.village, name="二号超市")
    assert (await settle(world, admin, other.id, "2026-09")).status_code == 201

    listed = await world.call("GET", f"/stores/{setup.store.id}/settlements", admin)
    assert listed.status_code == 200
    assert [s["period"] for s in listed.json()["items"]] == ["2026-10-01/2026-10-15", "2026-09", "2026-08"]
    page = await world.call("GET", f"/stores/{setup.store.id}/settlements", admin, params={"limit": 2})
    rest = await world.call(
        "GET",
        f"/stores/{setup.store.id}/settlements",
        admin,
        params={"limit": 2, "cursor": page.json()["next_cursor"]},
    )
    assert [s["period"] for s in rest.json()["items"]] == ["2026-08"]
    clerk_view = await world.call("GET", f"/stores/{setup.store.id}/settlements", setup.people["clerk"])
    assert clerk_view.status_code == 200


async def test_two_payments_at_once_are_recorded_once(world: World) -> None:
    setup = await world.setup_village()
    admin = setup.people["village_admin"]
    answers = await asyncio.gather(
        *(settle(world, admin, setup.store.id, p) for p in ["2026-06"] * 6 + ["2026-Q2"] * 6)
    )
    assert sorted(a.status_code for a in answers) == [201] + [409] * 11
    assert {a.json()["error"] for a in answers if a.status_code == 409} == {"already_settled"}


@pytest.mark.parametrize(
    "params",
    [
        {"period": "2026-13"},
        {"period": "2026-Q5"},
        {"period": "1999"},
        {"period": "11/2026"},
        {"period": "2026-02-30/2026-03-01"},
        {"period": "2026-11-02/2026-11-01"},
        {"period": "2020-01-01/2026-12-31"},
        {"period": "2026-11", "from": "2026-11-01"},
        {"from": "2026-11-01"},
        {},
    ],
)
async def test_a_bad_period_is_refused(world: World, params: dict[str, str]) -> None:
    setup = await world.setup_village()
    assert_error(
        await report(world, setup.people["village_admin"], setup.store.id, **params), 400, "invalid_period"
    )


async def test_settlement_refusals(world: World) -> None:
    setup = await world.setup_village()
    admin, clerk = setup.people["village_admin"], setup.people["clerk"]
    other_store = await world.store(setup.village, name="二号超市")
    other_clerk = await world.person(
        RoleGrantIn(role=Role.clerk, village_id=setup.village.id, store_id=other_store.id)
    )
    elsewhere = await world.setup_village()
    stranger = elsewhere.people["village_admin"]
    store = setup.store.id

    assert_error(await report(world, other_clerk, store, period="2026-10"), 403)
    assert_error(await report(world, setup.people["cadre"], store, period="2026-10"), 403)
    assert_error(await report(world, setup.people["villager"], store, period="2026-10"), 403)
    assert_error(await report(world, stranger, store, period="2026-10"), 404)
    assert_error(await report(world, None, store, period="2026-10"), 401)
    assert_error(await report(world, admin, elsewhere.store.id, period="2026-10"), 404)

    assert_error(await settle(world, clerk, store, "2026-10"), 403)
    assert_error(await settle(world, stranger, store, "2026-10"), 404)
    assert_error(await settle(world, admin, elsewhere.store.id, "2026-10"), 404)
    assert_error(await settle(world, admin, store, "2026-13"), 400, "invalid_period")
    assert_error(await settle(world, admin, store, "2026-10", amount_fen=10**12), 422)
    assert_error(await settle(world, admin, store, "2026-10", note=""), 422)
    no_key = await world.call(
        "POST", f"/stores/{store}/settlements", admin, json={"period": "2026-10", "note": "付款"}
    )
    assert_error(no_key, 400, "idempotency_key_required")
    listed = await world.call("GET", f"/stores/{store}/settlements", admin)
    assert listed.json()["items"] == []
