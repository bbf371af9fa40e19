"""Pickup codes (预约兑换): reserve on the phone (points held, goods set aside), redeem at the counter (核销),
cancel, and expiry released by the due job exactly once; every refusal moves nothing."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from jifen.kit import timeutil
from jifen.models import Role
from jifen.settings import Settings
from jifen.store import reservations
from jifen.users.schemas import RoleGrantIn
from tests.factories import Person, VillageSetup, World
from tests.ledger.helpers import balance
from tests.store.helpers import fund, make_item, movements, redeem, scalar


async def reserve(
    world: World,
    who: Person | None,
    store_id: uuid.UUID,
    lines: list[tuple[str, int]],
    *,
    key: str | None = None,
    household_id: uuid.UUID | None = None,
) -> Any:
    body: dict[str, Any] = {
        "store_id": str(store_id),
        "lines": [{"item_id": item_id, "quantity": quantity} for item_id, quantity in lines],
    }
    if household_id is not None:
        body["household_id"] = str(household_id)
    return await world.call(
        "POST", "/reservations", who, json=body, headers={"Idempotency-Key": key or uuid.uuid4().hex}
    )


async def redeem_code(
    world: World, who: Person | None, store_id: uuid.UUID, code: str, *, key: str | None = None
) -> Any:
    return await world.call(
        "POST",
        "/reservations/redeem",
        who,
        json={"store_id": str(store_id), "code": code},
        headers={"Idempotency-Key": key or uuid.uuid4().hex},
    )


async def cancel_reservation(world: World, who: Person | None, reservation_id: str) -> Any:
    return await world.call(
        "POST",
        f"/reservations/{reservation_id}/cancel",
        who,
        json={"reason": "不要了"},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )


async def shelf(
    world: World, setup: VillageSetup, store_id: uuid.UUID | None = None
) -> dict[str, tuple[int, int]]:
    """(stock, reserved) by item name."""
    response = await world.call("GET", f"/stores/{store_id or setup.store.id}/items", setup.people["clerk"])
    assert response.status_code == 200, response.text
    return {i["name"]: (i["stock"], i["reserved"]) for i in response.json()["items"]}


async def points(world: World, setup: VillageSetup, household_id: uuid.UUID) -> tuple[int, int]:
    """(posted, held)."""
    b = await balance(world, setup.people["village_admin"], household_id)
    return b["posted"], b["held"]


async def actions(world: World, village_id: uuid.UUID, prefix: str) -> list[str]:
    async with world.session() as session:
        rows = await session.execute(
            text("SELECT action FROM audit_events WHERE scope = :v AND action LIKE :p ORDER BY id"),
            {"v": village_id, "p": prefix + "%"},
        )
        return [row[0] for row in rows.all()]


async def scene(world: World, points_each: int = 100) -> tuple[VillageSetup, dict[str, Any]]:
    setup = await world.setup_village()
    oil = await make_item(world, setup, "食用油", 30, 5, unit="桶")
    await fund(world, setup, setup.households[0].id, points_each)
    return setup, oil


async def test_reserve_then_redeem_at_the_counter(world: World) -> None:
    setup, oil = await scene(world)
    villager, clerk = setup.people["villager"], setup.people["clerk"]
    household = setup.households[0].id
    before = timeutil.utcnow()

    made = await reserve(world, villager, setup.store.id, [(oil["id"], 2)], key="r-1")
    assert made.status_code == 201, made.text
    body = made.json()
    assert len(body["code"]) == 6
    assert body["code"].isdigit()
    assert body["status"] == "active"
    assert body["household_id"] == str(household)
    assert body["total_points"] == 60
    assert [(line["name"], line["quantity"], line["line_points"]) for line in body["lines"]] == [
        ("食用油", 2, 60)
    ]
    expires = datetime.fromisoformat(body["expires_at"])
    assert before + timedelta(days=7) <= expires <= timeutil.utcnow() + timedelta(days=7)
    assert body["code"] in body["qr_payload"]
    # points held, goods set aside: the shelf still has 5, of which 2 are promised
    assert await points(world, setup, household) == (100, 60)
    assert await shelf(world, setup) == {"食用油": (5, 2)}
    # the same key replays, changing nothing
    again = await reserve(world, villager, setup.store.id, [(oil["id"], 2)], key="r-1")
    assert (again.status_code, again.json()) == (201, body)
    assert await points(world, setup, household) == (100, 60)

    sold = await redeem_code(world, clerk, setup.store.id, body["code"], key="k-1")
    assert sold.status_code == 201, sold.text
    receipt = sold.json()
    assert receipt["status"] == "completed"
    assert receipt["total_points"] == 60
    assert receipt["balance_after"] == 40
    assert receipt["household_id"] == str(household)
    assert receipt["clerk_id"] == str(clerk.id)
    assert [(line["item_id"], line["quantity"]) for line in receipt["lines"]] == [(oil["id"], 2)]
    assert await points(world, setup, household) == (40, 0)
    assert await shelf(world, setup) == {"食用油": (3, 0)}
    assert await movements(world, oil["id"]) == [("restock", 5, 5), ("sale", -2, 3)]
    replay = await redeem_code(world, clerk, setup.store.id, body["code"], key="k-1")
    assert (replay.status_code, replay.json()) == (201, receipt)

    # the receipt is a redemption like any other, and the reservation says how it ended
    got = await world.call("GET", f"/redemptions/{receipt['id']}", villager)
    assert got.status_code == 200
    assert got.json()["total_points"] == 60
    shown = (await world.call("GET", f"/reservations/{body['id']}", villager)).json()
    assert (shown["status"], shown["redemption_id"]) == ("redeemed", receipt["id"])
    used = await redeem_code(world, clerk, setup.store.id, body["code"])
    assert (used.status_code, used.json()["error"]) == (409, "reservation_used")
    assert await points(world, setup, household) == (40, 0)
    assert await actions(world, setup.village.id, "reservation.") == [
        "reservation.create",
        "reservation.redeem",
    ]
    assert await actions(world, setup.village.id, "hold.") == ["hold.place", "hold.posted"]
    transaction = await world.call(
        "GET", f"/transactions/{receipt['transaction_id']}", setup.people["village_admin"]
    )
    assert sorted(p["amount"] for p in transaction.json()["postings"]) == [-60, 60]

    # a completed pickup can be cancelled like a counter sale: points and goods come back
    back = await world.call(
        "POST",
        f"/redemptions/{receipt['id']}/cancel",
        clerk,
        json={"reason": "退货"},
        headers={"Idempotency-Key": "c-1"},
    )
    assert back.status_code == 200, back.text
    assert await points(world, setup, household) == (100, 0)
    assert await shelf(world, setup) == {"食用油": (5, 0)}


async def test_reservation_days_is_a_village_setting(world: World) -> None:
    setup, oil = await scene(world)
    admin = setup.people["village_admin"]
    changed = await world.call("PATCH", f"/villages/{setup.village.id}", admin, json={"reservation_days": 3})
    assert changed.status_code == 200, changed.text
    assert changed.json()["reservation_days"] == 3
    for bad in (0, 91, "x"):
        refused = await world.call(
            "PATCH", f"/villages/{setup.village.id}", admin, json={"reservation_days": bad}
        )
        assert refused.status_code == 422
    made = (await reserve(world, setup.people["villager"], setup.store.id, [(oil["id"], 1)])).json()
    created = datetime.fromisoformat(made["created_at"])
    assert datetime.fromisoformat(made["expires_at"]) - created == timedelta(days=3)


async def test_reservation_refusals_move_nothing(world: World) -> None:
    setup, oil = await scene(world, points_each=100)
    villager, clerk, admin = (setup.people[r] for r in ("villager", "clerk", "village_admin"))
    household = setup.households[0].id
    soap = await make_item(world, setup, "香皂", 5, 10, limit={"count": 2, "period": "month"})
    gone = await make_item(world, setup, "旧货", 1, 10, active=False)
    rice = await make_item(world, setup, "大米", 20, 10)
    assert (await reserve(world, villager, setup.store.id, [(oil["id"], 3)])).status_code == 201
    state = (await points(world, setup, household), await shelf(world, setup))
    assert state == ((100, 90), {"食用油": (5, 3), "香皂": (10, 0), "旧货": (10, 0), "大米": (10, 0)})

    async def refused(lines: list[tuple[str, int]], status: int, error: str) -> None:
        answer = await reserve(world, villager, setup.store.id, lines)
        assert answer.status_code == status, answer.text
        assert answer.json()["error"] == error
        assert (await points(world, setup, household), await shelf(world, setup)) == state

    await refused([(rice["id"], 1)], 409, "insufficient_points")  # 20 > the 10 still available
    await refused([(oil["id"], 3)], 409, "out_of_stock")  # 5 on the shelf, 3 promised
    await refused([(gone["id"], 1)], 409, "item_inactive")
    await refused([(str(uuid.uuid4()), 1)], 404, "not_found")
    assert (await reserve(world, villager, setup.store.id, [(soap["id"], 2)])).status_code == 201
    state = (await points(world, setup, household), await shelf(world, setup))
    await refused([(soap["id"], 1)], 409, "limit_exceeded")  # 2 a month, both on a reservation
    # the counter can't sell what is promised either
    await fund(world, setup, setup.households[1].id, 500)
    counter = await redeem(world, clerk, setup.store.id, setup.households[1].id, [(oil["id"], 3)])
    assert (counter.status_code, counter.json()["error"]) == (409, "out_of_stock")
    assert counter.json()["stock"] == 2
    # no key, a malformed basket
    no_key = await world.call(
        "POST",
        "/reservations",
        villager,
        json={"store_id": str(setup.store.id), "lines": [{"item_id": oil["id"], "quantity": 1}]},
    )
    assert (no_key.status_code, no_key.json()["error"]) == (400, "idempotency_key_required")
    assert (await reserve(world, villager, setup.store.id, [])).status_code == 422
    assert (await reserve(world, villager, setup.store.id, [(oil["id"], 0)])).status_code == 422
    # a paused store takes no reservations
    paused = await world.call("PATCH", f"/stores/{setup.store.id}", admin, json={"active": False})
    assert paused.status_code == 200
    await refused([(oil["id"], 1)], 409, "store_paused")
    assert (await points(world, setup, household), await shelf(world, setup)) == state


async def test_redeem_refusals_move_nothing(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    setup, oil = await scene(world)
    villager, clerk = setup.people["villager"], setup.people["clerk"]
    household = setup.households[0].id
    other_store = await world.store(setup.village, name="二号店")
    other_clerk = await world.person(
        RoleGrantIn(role=Role.clerk, village_id=setup.village.id, store_id=other_store.id)
    )
    made = (await reserve(world, villager, setup.store.id, [(oil["id"], 1)])).json()
    state = (await points(world, setup, household), await shelf(world, setup))

    async def refused(who: Person | None, store_id: uuid.UUID, code: str, status: int, error: str) -> None:
        answer = await redeem_code(world, who, store_id, code)
        assert answer.status_code == status, answer.text
        assert answer.json()["error"] == error
        assert (await points(world, setup, household), await shelf(world, setup)) == state

    wrong = f"{(int(made['code']) + 1) % 1_000_000:06d}"
    await refused(clerk, setup.store.id, wrong, 404, "reservation_not_found")
    await refused(other_clerk, other_store.id, made["code"], 404, "reservation_not_found")  # another store's
    assert (await redeem_code(world, clerk, setup.store.id, "12345")).status_code == 422
    assert (await redeem_code(world, clerk, setup.store.id, "abcdef")).status_code == 422
    # past its expiry, before the job ran: refused as expired
    later = timeutil.utcnow() + timedelta(days=7, seconds=1)
    monkeypatch.setattr(reservations, "utcnow", lambda: later)
    await refused(clerk, setup.store.id, made["code"], 409, "reservation_expired")
    monkeypatch.undo()
    # a cancelled one
    assert (await cancel_reservation(world, villager, made["id"])).status_code == 200
    state = (await points(world, setup, household), await shelf(world, setup))
    assert state == ((100, 0), {"食用油": (5, 0)})
    await refused(clerk, setup.store.id, made["code"], 409, "reservation_cancelled")
    assert await actions(world, setup.village.id, "reservation.") == [
        "reservation.create",
        "reservation.cancel",
    ]


async def test_cancel_by_villager_clerk_or_admin_once(world: World) -> None:
    setup, oil = await scene(world)
    household = setup.households[0].id
    for who in ("villager", "clerk", "village_admin"):
        made = (await reserve(world, setup.people["villager"], setup.store.id, [(oil["id"], 2)])).json()
        assert await points(world, setup, household) == (100, 60)
        assert await shelf(world, setup) == {"食用油": (5, 2)}
        cancelled = await cancel_reservation(world, setup.people[who], made["id"])
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        assert cancelled.json()["end_reason"] == "不要了"
        assert await points(world, setup, household) == (100, 0)
        assert await shelf(world, setup) == {"食用油": (5, 0)}
        twice = await cancel_reservation(world, setup.people[who], made["id"])
        assert (twice.status_code, twice.json()["error"]) == (409, "reservation_cancelled")
        assert await points(world, setup, household) == (100, 0)
    # the stock history only shows the shelf: nothing was sold
    assert await movements(world, oil["id"]) == [("restock", 5, 5)]
    assert await actions(world, setup.village.id, "hold.") == ["hold.place", "hold.released"] * 3


async def test_expired_reservations_release_themselves_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup, oil = await scene(world)
    villager, clerk = setup.people["villager"], setup.people["clerk"]
    household = setup.households[0].id
    made = (await reserve(world, villager, setup.store.id, [(oil["id"], 2)])).json()
    expires = datetime.fromisoformat(made["expires_at"])
    sessionmaker = world.app.state.sessionmaker
    # not yet due
    assert await reservations.release_expired(sessionmaker, now=expires - timedelta(seconds=1)) == 0
    assert await points(world, setup, household) == (100, 60)

    assert await reservations.release_expired(sessionmaker, now=expires) == 1
    assert await points(world, setup, household) == (100, 0)
    assert await shelf(world, setup) == {"食用油": (5, 0)}
    assert await reservations.release_expired(sessionmaker, now=expires + timedelta(days=1)) == 0
    assert await points(world, setup, household) == (100, 0)
    shown = (await world.call("GET", f"/reservations/{made['id']}", villager)).json()
    assert (shown["status"], shown["end_reason"]) == ("expired", "预约超时未取货")
    late = await redeem_code(world, clerk, setup.store.id, made["code"])
    assert (late.status_code, late.json()["error"]) == (409, "reservation_expired")
    gone = await cancel_reservation(world, villager, made["id"])
    assert (gone.status_code, gone.json()["error"]) == (409, "reservation_expired")
    assert await points(world, setup, household) == (100, 0)
    assert await actions(world, setup.village.id, "reservation.") == [
        "reservation.create",
        "reservation.expire",
    ]

    # by default the job runs on the clock its module reads
    again = (await reserve(world, villager, setup.store.id, [(oil["id"], 1)])).json()
    monkeypatch.setattr(reservations, "utcnow", lambda: datetime.fromisoformat(again["expires_at"]))
    assert await reservations.release_expired(sessionmaker) == 1
    assert await points(world, setup, household) == (100, 0)


async def test_two_release_runs_race_and_release_each_once(world: World) -> None:
    setup, oil = await scene(world, points_each=300)
    household = setup.households[0].id
    oil_big = await make_item(world, setup, "大米", 1, 100)
    made = [
        (await reserve(world, setup.people["villager"], setup.store.id, [(oil_big["id"], 1)])).json()
        for _ in range(12)
    ]
    assert await points(world, setup, household) == (300, 12)
    moment = max(datetime.fromisoformat(m["expires_at"]) for m in made)
    sessionmaker = world.app.state.sessionmaker
    counts = await asyncio.gather(
        reservations.release_expired(sessionmaker, now=moment),
        reservations.release_expired(sessionmaker, now=moment),
    )
    assert sum(counts) == 12, counts
    assert await points(world, setup, household) == (300, 0)
    assert (await shelf(world, setup))["大米"] == (100, 0)
    assert await actions(world, setup.village.id, "reservation.expire") == ["reservation.expire"] * 12
    assert await scalar(world, "SELECT count(*) FROM holds WHERE status = 'released'") == 12
    assert oil["name"] == "食用油"


async def test_codes_are_unique_among_active_reservations(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup, oil = await scene(world)
    draws = iter([123456, 123456, 123456, 654321])
    monkeypatch.setattr(reservations.secrets, "randbelow", lambda _: next(draws))
    first = (await reserve(world, setup.people["villager"], setup.store.id, [(oil["id"], 1)])).json()
    second = (await reserve(world, setup.people["villager"], setup.store.id, [(oil["id"], 1)])).json()
    assert (first["code"], second["code"]) == ("123456", "654321")
    # once the first has ended its code may come back
    assert (await cancel_reservation(world, setup.people["villager"], first["id"])).status_code == 200
    monkeypatch.setattr(reservations.secrets, "randbelow", lambda _: 123456)
    third = (await reserve(world, setup.people["villager"], setup.store.id, [(oil["id"], 1)])).json()
    assert third["code"] == "123456"
    # and the clerk's code finds the active one, not the cancelled one
    sold = await redeem_code(world, setup.people["clerk"], setup.store.id, "123456")
    assert sold.status_code == 201, sold.text


async def test_who_may_reserve_redeem_and_cancel(world: World) -> None:
    setup, oil = await scene(world)
    await fund(world, setup, setup.households[1].id, 100)
    villager, clerk, admin = (setup.people[r] for r in ("villager", "clerk", "village_admin"))
    neighbour = await world.person(
        RoleGrantIn(role=Role.villager, village_id=setup.village.id, household_id=setup.households[1].id)
    )
    other_store = await world.store(setup.village, name="二号店")
    other_clerk = await world.person(
        RoleGrantIn(role=Role.clerk, village_id=setup.village.id, store_id=other_store.id)
    )
    elsewhere = await world.setup_village()
    town = await world.town_admin()
    household = setup.households[0].id
    state = (await points(world, setup, household), await shelf(world, setup))

    # reserving: only for one's own household
    for who, status in (
        (None, 401),
        (clerk, 403),
        (admin, 403),
        (setup.people["cadre"], 403),
        (town, 403),
        (elsewhere.people["villager"], 404),
        (elsewhere.people["village_admin"], 404),
    ):
        answer = await reserve(world, who, setup.store.id, [(oil["id"], 1)])
        assert answer.status_code == status, (who, answer.text)
    answer = await reserve(world, neighbour, setup.store.id, [(oil["id"], 1)], household_id=household)
    assert answer.status_code == 403
    assert (await points(world, setup, household), await shelf(world, setup)) == state
    own = await reserve(
        world, neighbour, setup.store.id, [(oil["id"], 1)], household_id=setup.households[1].id
    )
    assert own.status_code == 201, own.text

    made = (await reserve(world, villager, setup.store.id, [(oil["id"], 1)])).json()
    state = (await points(world, setup, household), await shelf(world, setup))
    # redeeming: the store's clerk or the village admin
    for who, status in (
        (None, 401),
        (villager, 403),
        (neighbour, 403),
        (setup.people["cadre"], 403),
        (town, 403),
        (elsewhere.people["clerk"], 404),
        (elsewhere.people["village_admin"], 404),
    ):
        answer = await redeem_code(world, who, setup.store.id, made["code"])
        assert answer.status_code == status, (who, answer.text)
    answer = await redeem_code(world, other_clerk, setup.store.id, made["code"])
    assert answer.status_code == 403
    # cancelling and reading: the household's villager or the store's staff
    for who, status in (
        (None, 401),
        (neighbour, 404),
        (other_clerk, 403),
        (setup.people["cadre"], 403),
        (elsewhere.people["villager"], 404),
        (elsewhere.people["village_admin"], 404),
        (town, 403),
    ):
        answer = await cancel_reservation(world, who, made["id"])
        assert answer.status_code == status, (who, answer.text)
    for who, status in (
        (None, 401),
        (neighbour, 404),
        (elsewhere.people["villager"], 404),
        (other_clerk, 403),
    ):
        assert (await world.call("GET", f"/reservations/{made['id']}", who)).status_code == status
    assert (await world.call("GET", f"/reservations/{made['id']}", town)).status_code == 200
    assert (await world.call("GET", f"/reservations/{uuid.uuid4()}", admin)).status_code == 404
    assert (await points(world, setup, household), await shelf(world, setup)) == state
    # the village admin may redeem too
    sold = await redeem_code(world, admin, setup.store.id, made["code"])
    assert sold.status_code == 201, sold.text


async def test_a_household_lists_its_reservations(world: World) -> None:
    setup, oil = await scene(world)
    villager = setup.people["villager"]
    household = setup.households[0].id
    made = [(await reserve(world, villager, setup.store.id, [(oil["id"], 1)])).json() for _ in range(3)]
    assert (await cancel_reservation(world, villager, made[0]["id"])).status_code == 200
    path = f"/households/{household}/reservations"
    listed = (await world.call("GET", path, villager)).json()
    assert [r["id"] for r in listed["items"]] == [m["id"] for m in reversed(made)]
    active = (await world.call("GET", path + "?status=active", villager)).json()
    assert {r["code"] for r in active["items"]} == {made[1]["code"], made[2]["code"]}
    first = (await world.call("GET", path + "?limit=2", setup.people["clerk"])).json()
    rest = (await world.call("GET", path + f"?limit=2&cursor={first['next_cursor']}", villager)).json()
    assert [r["id"] for r in first["items"] + rest["items"]] == [m["id"] for m in reversed(made)]
    assert rest["next_cursor"] is None
    neighbour = await world.person(
        RoleGrantIn(role=Role.villager, village_id=setup.village.id, household_id=setup.households[1].id)
    )
    assert (await world.call("GET", path, neighbour)).status_code == 404
    assert (await world.call("GET", path)).status_code == 401
    assert (await world.call("GET", path + "?cursor=bad")).status_code in (400, 401)
    assert (await world.call("GET", path + "?cursor=bad", villager)).status_code == 400


async def test_jobs_run_releases_expired_reservations_once(
    world: World, settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests.test_cli import JIFEN, _env, _run

    setup, oil = await scene(world)
    household = setup.households[0].id
    # reserved eight days ago: a week's validity has run out
    past = timeutil.utcnow() - timedelta(days=8)
    monkeypatch.setattr(reservations, "utcnow", lambda: past)
    for _ in range(3):
        made = await reserve(world, setup.people["villager"], setup.store.id, [(oil["id"], 1)])
        assert made.status_code == 201, made.text
    monkeypatch.undo()
    assert await points(world, setup, household) == (100, 90)
    env = _env(settings, tmp_path)
    first, second, in_process = await asyncio.gather(
        _run(str(JIFEN), "jobs", "run", env=env),
        _run(str(JIFEN), "jobs", "run", env=env),
        reservations.release_expired(world.app.state.sessionmaker),
    )
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    released = [
        int(line.rsplit(" ", 1)[-1])
        for r in (first, second)
        for line in r.stdout.splitlines()
        if line.startswith("expired reservations released:")
    ]
    assert len(released) == 2
    assert sum(released) + in_process == 3
    assert await points(world, setup, household) == (100, 0)
    assert await shelf(world, setup) == {"食用油": (5, 0)}
