"""The store at work: the catalogue, a sale at the counter, its refusals (nothing moves), cancellation."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jifen.kit import timeutil
from jifen.models import Role
from jifen.users.schemas import RoleGrantIn
from tests.factories import VillageSetup, World
from tests.store.helpers import (
    available,
    cancel,
    fund,
    make_item,
    movements,
    redeem,
    scalar,
    stocks,
)


async def actions(world: World, village_id: uuid.UUID, prefix: str) -> list[str]:
    async with world.session() as session:
        from sqlalchemy import text

        rows = await session.execute(
            text("SELECT action FROM audit_events WHERE scope = :v AND action LIKE :p ORDER BY id"),
            {"v": village_id, "p": prefix + "%"},
        )
        return [row[0] for row in rows.all()]


async def test_catalogue_create_list_restock_change(world: World) -> None:
    setup = await world.setup_village()
    admin, clerk, villager = (setup.people[r] for r in ("village_admin", "clerk", "villager"))
    oil = await make_item(
        world, setup, "食用油", 85, 4, unit="桶", category="粮油", limit={"count": 1, "period": "month"}
    )
    assert oil["stock"] == 4
    assert oil["active"] is True
    assert oil["limit"] == {"count": 1, "period": "month"}
    await make_item(world, setup, "香皂", 5, 0)

    listed = (await world.call("GET", f"/stores/{setup.store.id}/items", villager)).json()
    assert [(i["name"], i["price_points"], i["stock"]) for i in listed["items"]] == [
        ("食用油", 85, 4),
        ("香皂", 5, 0),
    ]
    restocked = await world.call(
        "POST", f"/items/{oil['id']}/restock", clerk, json={"quantity": 6, "note": "镇里送来一批"}
    )
    assert restocked.status_code == 200, restocked.text
    assert restocked.json()["stock"] == 10
    changed = await world.call(
        "PATCH", f"/items/{oil['id']}", admin, json={"price_points": 90, "limit": None, "name": "食用油 5L"}
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["price_points"], changed.json()["limit"], changed.json()["name"]) == (
        90,
        None,
        "食用油 5L",
    )
    assert changed.json()["stock"] == 10
    # a clerk runs the shelf, not the prices; a villager neither
    assert (
        await world.call("PATCH", f"/items/{oil['id']}", clerk, json={"price_points": 1})
    ).status_code == 403
    assert (
        await world.call("POST", f"/items/{oil['id']}/restock", villager, json={"quantity": 1})
    ).status_code == 403
    assert (
        await world.call("POST", f"/items/{oil['id']}/restock", clerk, json={"quantity": 0})
    ).status_code == 422
    assert (
        await world.call(
            "POST", f"/stores/{setup.store.id}/items", admin, json={"name": "白送", "price_points": 0}
        )
    ).status_code == 422
    assert await movements(world, oil["id"]) == [("restock", 4, 4), ("restock", 6, 10)]
    assert await actions(world, setup.village.id, "item.") == [
        "item.create",
        "item.create",
        "item.restock",
        "item.change",
    ]


async def test_a_sale_gives_a_receipt_and_moves_points_and_stock_together(world: World) -> None:
    setup = await world.setup_village()
    clerk, admin = setup.people["clerk"], setup.people["village_admin"]
    household = setup.households[1]
    await fund(world, setup, household.id, 100)
    soap = await make_item(world, setup, "香皂", 5, 10)
    rice = await make_item(world, setup, "大米", 50, 3)

    sold = await redeem(world, clerk, setup.store.id, household.id, [(soap["id"], 2), (rice["id"], 1)])

    assert sold.status_code == 201, sold.text
    receipt = sold.json()
    assert receipt["status"] == "completed"
    assert receipt["total_points"] == 60
    assert receipt["balance_after"] == 40
    assert receipt["receipt_no"]
    assert sorted((line["name"], line["quantity"], line["line_points"]) for line in receipt["lines"]) == [
        ("大米", 1, 50),
        ("香皂", 2, 10),
    ]
    assert await available(world, setup, household.id) == 40
    assert await stocks(world, setup) == {"大米": 2, "香皂": 8}
    transaction = (await world.call("GET", f"/transactions/{receipt['transaction_id']}", admin)).json()
    assert transaction["kind"] == "redemption"
    assert sorted((p["account_id"], p["amount"]) for p in transaction["postings"]) == sorted(
        [(str(household.id), -60), (str(setup.store.id), 60)]
    )
    entries = (await world.call("GET", f"/households/{household.id}/entries", admin)).json()["items"]
    assert (entries[0]["kind"], entries[0]["amount"], entries[0]["balance_after"]) == ("redemption", -60, 40)
    assert await movements(world, soap["id"]) == [("restock", 10, 10), ("sale", -2, 8)]
    assert await actions(world, setup.village.id, "redemption.") == ["redemption.complete"]
    # the receipt can be read again, by the household itself too
    again = await world.call("GET", f"/redemptions/{receipt['id']}", admin)
    assert again.json()["lines"] == receipt["lines"]


async def test_the_household_code_typed_or_scanned_finds_the_household(world: World) -> None:
    setup = await world.setup_village()
    household = setup.households[2]
    await fund(world, setup, household.id, 20)
    soap = await make_item(world, setup, "香皂", 5, 10)
    sold = await redeem(
        world, setup.people["clerk"], setup.store.id, None, [(soap["id"], 1)], household_code=household.code
    )
    assert sold.status_code == 201, sold.text
    assert sold.json()["household_id"] == str(household.id)
    assert await available(world, setup, household.id) == 15
    unknown = await redeem(
        world, setup.people["clerk"], setup.store.id, None, [(soap["id"], 1)], household_code="NO-SUCH"
    )
    assert unknown.status_code == 404


async def test_a_retried_sale_is_one_sale(world: World) -> None:
    setup = await world.setup_village()
    household = setup.households[1]
    await fund(world, setup, household.id, 50)
    soap = await make_item(world, setup, "香皂", 5, 10)
    key = uuid.uuid4().hex
    first = await redeem(
        world, setup.people["clerk"], setup.store.id, household.id, [(soap["id"], 1)], key=key
    )
    replay = await redeem(
        world, setup.people["clerk"], setup.store.id, household.id, [(soap["id"], 1)], key=key
    )
    other = await redeem(
        world, setup.people["clerk"], setup.store.id, household.id, [(soap["id"], 2)], key=key
    )
    missing = await world.call(
        "POST",
        "/redemptions",
        setup.people["clerk"],
        json={"store_id": str(setup.store.id), "household_id": str(household.id), "lines": []},
    )
    assert first.status_code == replay.status_code == 201
    assert first.content == replay.content
    assert (other.status_code, other.json()["error"]) == (409, "idempotency_key_reused")
    assert (missing.status_code, missing.json()["error"]) == (400, "idempotency_key_required")
    assert await available(world, setup, household.id) == 45
    assert await stocks(world, setup) == {"香皂": 9}


async def _nothing_moved(
    world: World, setup: VillageSetup, household_id: uuid.UUID, points: int, shelf: Any
) -> None:
    assert await available(world, setup, household_id) == points
    assert await stocks(world, setup) == shelf
    assert await scalar(world, "SELECT count(*) FROM redemptions") == 0
    assert await scalar(world, "SELECT count(*) FROM stock_movements WHERE kind = 'sale'") == 0
    assert await scalar(world, "SELECT count(*) FROM ledger_transactions WHERE kind = 'redemption'") == 0


async def test_refusals_move_no_points_and_no_stock(world: World) -> None:
    setup = await world.setup_village()
    clerk, admin = setup.people["clerk"], setup.people["village_admin"]
    household = setup.households[1]
    await fund(world, setup, household.id, 60)
    soap = await make_item(world, setup, "香皂", 5, 10)
    oil = await make_item(world, setup, "食用油", 85, 5)
    rice = await make_item(world, setup, "大米", 50, 2)
    towel = await make_item(world, setup, "毛巾", 8, 5, limit={"count": 2, "period": "week"})
    retired = await make_item(world, setup, "旧款洗衣粉", 15, 5, active=False)
    other_store = await world.store(setup.village, name="二号超市")
    elsewhere = await make_item(world, setup, "酱油", 10, 5, store_id=other_store.id)
    shelf = await stocks(world, setup)

    cases: list[tuple[list[tuple[str, int]], int, str, str | None]] = [
        ([(soap["id"], 1), (oil["id"], 1)], 409, "insufficient_points", None),  # 90 > 60
        ([(soap["id"], 1), (rice["id"], 3)], 409, "out_of_stock", "大米"),
        ([(towel["id"], 3)], 409, "limit_exceeded", "毛巾"),
        ([(soap["id"], 1), (retired["id"], 1)], 409, "item_inactive", "旧款洗衣粉"),
        ([(elsewhere["id"], 1)], 404, "not_found", None),
        ([(str(uuid.uuid4()), 1)], 404, "not_found", None),
    ]
    for lines, status, error, named in cases:
        response = await redeem(world, clerk, setup.store.id, household.id, lines)
        assert (response.status_code, response.json()["error"]) == (status, error), response.text
        if named:
            assert named in response.json()["detail"]
        await _nothing_moved(world, setup, household.id, 60, shelf)

    # a paused store sells nothing until it opens again
    paused = await world.call("PATCH", f"/stores/{setup.store.id}", admin, json={"active": False})
    assert paused.json()["active"] is False
    response = await redeem(world, clerk, setup.store.id, household.id, [(soap["id"], 1)])
    assert (response.status_code, response.json()["error"]) == (409, "store_paused")
    await _nothing_moved(world, setup, household.id, 60, shelf)
    await world.call("PATCH", f"/stores/{setup.store.id}", admin, json={"active": True})

    # a clerk of another store, and another village's admin, cannot sell here
    other_clerk = await world.person(
        RoleGrantIn(role=Role.clerk, village_id=setup.village.id, store_id=other_store.id)
    )
    response = await redeem(world, other_clerk, setup.store.id, household.id, [(soap["id"], 1)])
    assert response.status_code == 403
    assert (
        await world.call("POST", f"/items/{soap['id']}/restock", other_clerk, json={"quantity": 5})
    ).status_code == 403
    stranger = await world.setup_village()
    response = await redeem(
        world, stranger.people["village_admin"], setup.store.id, household.id, [(soap["id"], 1)]
    )
    assert response.status_code == 404
    # a household of another village cannot be served here
    response = await redeem(world, clerk, setup.store.id, stranger.households[0].id, [(soap["id"], 1)])
    assert response.status_code == 404
    await _nothing_moved(world, setup, household.id, 60, shelf)
    assert await actions(world, setup.village.id, "redemption.") == []


async def test_cancel_gives_points_and_stock_back_once(world: World) -> None:
    setup = await world.setup_village()
    clerk, admin = setup.people["clerk"], setup.people["village_admin"]
    household = setup.households[1]
    await fund(world, setup, household.id, 100)
    oil = await make_item(world, setup, "食用油", 85, 3)
    sale = await redemption_ok(world, setup, household.id, [(oil["id"], 1)])

    key = uuid.uuid4().hex
    cancelled = await cancel(world, clerk, sale["id"], key=key)
    replay = await cancel(world, clerk, sale["id"], key=key)
    twice = await cancel(world, admin, sale["id"])

    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert (body["status"], body["balance_after"], body["cancel_reason"]) == (
        "cancelled",
        100,
        "顾客拿错了商品",
    )
    assert replay.content == cancelled.content
    assert (twice.status_code, twice.json()["error"]) == (409, "already_cancelled")
    assert await available(world, setup, household.id) == 100
    assert await stocks(world, setup) == {"食用油": 3}
    assert await movements(world, oil["id"]) == [("restock", 3, 3), ("sale", -1, 2), ("cancel", 1, 3)]
    back = (await world.call("GET", f"/transactions/{body['cancel_transaction_id']}", admin)).json()
    assert back["kind"] == "redemption_cancel"
    assert sorted((p["account_id"], p["amount"]) for p in back["postings"]) == sorted(
        [(str(household.id), 85), (str(setup.store.id), -85)]
    )
    assert await actions(world, setup.village.id, "redemption.") == [
        "redemption.complete",
        "redemption.cancel",
    ]
    # the sale's record is kept: the ledger shows both
    entries = (await world.call("GET", f"/households/{household.id}/entries", admin)).json()["items"]
    assert [e["kind"] for e in entries[:2]] == ["redemption_cancel", "redemption"]


async def redemption_ok(
    world: World, setup: VillageSetup, household_id: uuid.UUID, lines: list[tuple[str, int]]
) -> dict[str, Any]:
    response = await redeem(world, setup.people["clerk"], setup.store.id, household_id, lines)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_a_clerk_cancels_only_within_the_window_an_admin_later(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = await world.setup_village()
    clerk, admin = setup.people["clerk"], setup.people["village_admin"]
    household = setup.households[1]
    await fund(world, setup, household.id, 100)
    soap = await make_item(world, setup, "香皂", 5, 10)
    sale = await redemption_ok(world, setup, household.id, [(soap["id"], 2)])

    real_now = timeutil.utcnow
    monkeypatch.setattr(timeutil, "utcnow", lambda: real_now() + timedelta(hours=25))  # default window: 24 h
    late = await cancel(world, clerk, sale["id"])
    assert (late.status_code, late.json()["error"]) == (403, "cancel_window_closed")
    assert await available(world, setup, household.id) == 90
    assert await stocks(world, setup) == {"香皂": 8}

    by_admin = await cancel(world, admin, sale["id"])
    assert by_admin.status_code == 200, by_admin.text
    assert await available(world, setup, household.id) == 100
    assert await stocks(world, setup) == {"香皂": 10}


async def test_cancel_refused_to_others(world: World) -> None:
    setup = await world.setup_village()
    household = setup.households[1]
    await fund(world, setup, household.id, 100)
    soap = await make_item(world, setup, "香皂", 5, 10)
    sale = await redemption_ok(world, setup, household.id, [(soap["id"], 2)])
    other_store = await world.store(setup.village, name="二号超市")
    other_clerk = await world.person(
        RoleGrantIn(role=Role.clerk, village_id=setup.village.id, store_id=other_store.id)
    )
    assert (await cancel(world, other_clerk, sale["id"])).status_code == 403
    assert (await cancel(world, setup.people["cadre"], sale["id"])).status_code == 403
    assert (await cancel(world, setup.people["clerk"], str(uuid.uuid4()))).status_code == 404
    assert await available(world, setup, household.id) == 90


LOCAL = timeutil.LOCAL_TZ


async def test_a_monthly_limit_turns_over_at_local_midnight(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """30 Nov 23:59 and 1 Dec 00:00 in Asia/Shanghai are 15:59 and 16:00 UTC on 30 Nov: one UTC day, two
    local months."""
    setup = await world.setup_village()
    household = setup.households[1]
    await fund(world, setup, household.id, 500)
    oil = await make_item(world, setup, "食用油", 85, 10, limit={"count": 1, "period": "month"})
    clock = {"now": datetime(2026, 11, 30, 23, 59, tzinfo=LOCAL).astimezone(UTC)}
    monkeypatch.setattr(timeutil, "utcnow", lambda: clock["now"])

    assert (
        await redeem(world, setup.people["clerk"], setup.store.id, household.id, [(oil["id"], 1)])
    ).status_code == 201
    clock["now"] = datetime(2026, 11, 30, 23, 59, 59, tzinfo=LOCAL).astimezone(UTC)
    refused = await redeem(world, setup.people["clerk"], setup.store.id, household.id, [(oil["id"], 1)])
    assert (refused.status_code, refused.json()["error"]) == (409, "limit_exceeded")
    clock["now"] = datetime(2026, 12, 1, 0, 0, tzinfo=LOCAL).astimezone(UTC)
    december = await redeem(world, setup.people["clerk"], setup.store.id, household.id, [(oil["id"], 1)])
    assert december.status_code == 201, december.text
    refused = await redeem(world, setup.people["clerk"], setup.store.id, household.id, [(oil["id"], 1)])
    assert refused.status_code == 409
    # a cancelled sale no longer counts against the limit
    assert (await cancel(world, setup.people["clerk"], december.json()["id"])).status_code == 200
    again = await redeem(world, setup.people["clerk"], setup.store.id, household.id, [(oil["id"], 1)])
    assert again.status_code == 201, again.text
    assert await available(world, setup, household.id) == 500 - 2 * 85  # three sales, one cancelled
    assert await stocks(world, setup) == {"食用油": 8}


async def test_a_restock_sent_twice_with_one_key_restocks_once(world: World) -> None:
    """A clerk's double tap on 入库 (the form sends its own key) adds the goods once; a new key adds again."""
    setup = await world.setup_village()
    clerk = setup.people["clerk"]
    rice = await make_item(world, setup, "大米", 50, 3)

    async def restock(key: str, quantity: int = 5) -> Any:
        return await world.call(
            "POST",
            f"/items/{rice['id']}/restock",
            clerk,
            json={"quantity": quantity},
            headers={"Idempotency-Key": key},
        )

    first, second = await asyncio.gather(restock("tap-1"), restock("tap-1"))
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json() == second.json()
    assert first.json()["stock"] == 8
    assert (await restock("tap-1", 7)).json()["error"] == "idempotency_key_reused"
    assert (await restock("tap-2")).json()["stock"] == 13
