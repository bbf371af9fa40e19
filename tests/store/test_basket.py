"""One basket check for every sale path: a counter sale, a reservation (预约兑换) and its pickup (核销) all
count the household's past sales in the limit's local period, its active reservations and this basket, so
no order of the three and no race lets a household take more than the limit or the shop more than its
stock."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jifen.kit import timeutil
from jifen.store import reservations
from tests.factories import VillageSetup, World
from tests.store.helpers import cancel, fund, make_item, redeem, scalar
from tests.store.test_reservations import cancel_reservation, points, redeem_code, reserve, shelf

LOCAL = timeutil.LOCAL_TZ
WEEKLY_2 = {"count": 2, "period": "week"}
# Wednesday 2 December 2026, 10:00 in the village: the middle of a local week (Mon 30 Nov – Sun 6 Dec)
MIDWEEK = datetime(2026, 12, 2, 10, 0, tzinfo=LOCAL).astimezone(UTC)
# Sunday 29 November 23:00 local is 15:00 UTC; Monday 30 November 00:00 local is 16:00 UTC the same day
SUNDAY_NIGHT = datetime(2026, 11, 29, 23, 0, tzinfo=LOCAL).astimezone(UTC)
MONDAY_MIDNIGHT = datetime(2026, 11, 30, 0, 0, tzinfo=LOCAL).astimezone(UTC)


class Clock:
    """The store's clock, for the counter and the pickup-code paths alike."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, start: datetime) -> None:
        self.now = start
        now: Callable[[], datetime] = lambda: self.now  # noqa: E731
        monkeypatch.setattr(timeutil, "utcnow", now)
        monkeypatch.setattr(reservations, "utcnow", now)


async def soap_scene(
    world: World, *, stock: int = 20, limit: dict[str, Any] | None = None, funds: int = 1000
) -> tuple[VillageSetup, dict[str, Any], uuid.UUID]:
    """The villager's household with `funds` points and soap at 10 points a bar, 2 a week by default."""
    setup = await world.setup_village()
    household = setup.households[0].id  # the villager's own household
    if funds:
        await fund(world, setup, household, funds)
    soap = await make_item(world, setup, "香皂", 10, stock, limit=limit or WEEKLY_2)
    return setup, soap, household


async def sold_to(world: World, household: uuid.UUID, item_id: str) -> int:
    """Units of the item in the household's completed sales, whatever path they came by."""
    return int(
        await scalar(
            world,
            "SELECT coalesce(sum(rl.quantity), 0) FROM redemption_lines rl"
            " JOIN redemptions r ON r.id = rl.redemption_id"
            " WHERE r.household_id = :h AND r.status = 'completed' AND rl.item_id = :i",
            h=household,
            i=uuid.UUID(item_id),
        )
    )


async def counter(
    world: World, setup: VillageSetup, household: uuid.UUID, item_id: str, quantity: int
) -> Any:
    return await redeem(world, setup.people["clerk"], setup.store.id, household, [(item_id, quantity)])


def refused_for_limit(answer: Any, left: int) -> None:
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"] == "limit_exceeded"
    assert f"还可兑 {left}" in answer.json()["detail"], answer.json()["detail"]


@pytest.mark.parametrize(
    "order",
    [("reserve", "counter", "pickup"), ("reserve", "pickup", "counter"), ("counter", "reserve", "pickup")],
)
async def test_reserve_counter_and_pickup_never_pass_the_limit_in_any_order(
    world: World, monkeypatch: pytest.MonkeyPatch, order: tuple[str, str, str]
) -> None:
    setup, soap, household = await soap_scene(world)
    Clock(monkeypatch, MIDWEEK)
    code: str | None = None
    answers: dict[str, Any] = {}
    for step in order:
        if step == "reserve":
            answers[step] = await reserve(world, setup.people["villager"], setup.store.id, [(soap["id"], 2)])
            if answers[step].status_code == 201:
                code = answers[step].json()["code"]
        elif step == "counter":
            answers[step] = await counter(world, setup, household, soap["id"], 2)
        elif code is not None:
            answers[step] = await redeem_code(world, setup.people["clerk"], setup.store.id, code)

    # whoever came first got the two bars; the other path was told none are left this week
    first = order[0]
    assert answers[first].status_code == 201, answers[first].text
    second = "counter" if first == "reserve" else "reserve"
    refused_for_limit(answers[second], 0)
    if "pickup" in answers:
        assert answers["pickup"].status_code == 201, answers["pickup"].text
    assert await sold_to(world, household, soap["id"]) == 2
    assert await points(world, setup, household) == (1000 - 20, 0)
    assert await shelf(world, setup) == {"香皂": (18, 0)}


async def test_a_reservation_from_last_week_counts_until_it_is_picked_up(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reserved on Sunday night, the two bars are still promised on Monday: the counter can't sell two
    more, and the pickup on Monday is the week's two bars."""
    setup, soap, household = await soap_scene(world)
    clock = Clock(monkeypatch, SUNDAY_NIGHT)
    made = await reserve(world, setup.people["villager"], setup.store.id, [(soap["id"], 2)])
    assert made.status_code == 201, made.text
    clock.now = MONDAY_MIDNIGHT
    refused_for_limit(await counter(world, setup, household, soap["id"], 2), 0)
    refused_for_limit(await counter(world, setup, household, soap["id"], 1), 0)
    again = await reserve(world, setup.people["villager"], setup.store.id, [(soap["id"], 2)])
    refused_for_limit(again, 0)
    assert (await points(world, setup, household), await shelf(world, setup)) == (
        (1000, 20),
        {"香皂": (20, 2)},
    )
    picked = await redeem_code(world, setup.people["clerk"], setup.store.id, made.json()["code"])
    assert picked.status_code == 201, picked.text
    refused_for_limit(await counter(world, setup, household, soap["id"], 1), 0)
    assert await sold_to(world, household, soap["id"]) == 2
    # the next Monday, a new week
    clock.now = MONDAY_MIDNIGHT + timedelta(days=7)
    assert (await counter(world, setup, household, soap["id"], 2)).status_code == 201
    assert await sold_to(world, household, soap["id"]) == 4


async def test_counter_then_reserve_and_reserve_twice(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    setup, soap, household = await soap_scene(world)
    Clock(monkeypatch, MIDWEEK)
    villager = setup.people["villager"]
    assert (await counter(world, setup, household, soap["id"], 1)).status_code == 201
    refused_for_limit(await reserve(world, villager, setup.store.id, [(soap["id"], 2)]), 1)
    assert (await reserve(world, villager, setup.store.id, [(soap["id"], 1)])).status_code == 201
    refused_for_limit(await reserve(world, villager, setup.store.id, [(soap["id"], 1)]), 0)
    refused_for_limit(await counter(world, setup, household, soap["id"], 1), 0)
    # the same item twice in one basket is one line of two
    twice = await redeem(
        world,
        setup.people["clerk"],
        setup.store.id,
        setup.households[1].id,
        [(soap["id"], 2), (soap["id"], 1)],
    )
    assert twice.status_code == 409
    assert twice.json()["error"] in ("limit_exceeded", "insufficient_points")
    assert await points(world, setup, household) == (1000 - 10, 10)
    assert await shelf(world, setup) == {"香皂": (19, 1)}


async def test_a_pickup_counts_its_own_lines_once_and_the_limit_in_force(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reservation's own units are not counted twice (and are on the shelf for it even when nothing
    else is); but when the village lowered the limit since, the pickup is held to it."""
    setup, soap, household = await soap_scene(world, stock=2)
    Clock(monkeypatch, MIDWEEK)
    villager, clerk, admin = (setup.people[r] for r in ("villager", "clerk", "village_admin"))
    made = (await reserve(world, villager, setup.store.id, [(soap["id"], 2)])).json()
    assert await shelf(world, setup) == {"香皂": (2, 2)}
    picked = await redeem_code(world, clerk, setup.store.id, made["code"])
    assert picked.status_code == 201, picked.text
    assert await shelf(world, setup) == {"香皂": (0, 0)}

    restocked = await world.call("POST", f"/items/{soap['id']}/restock", admin, json={"quantity": 10})
    assert restocked.status_code == 200, restocked.text
    assert (await cancel(world, clerk, picked.json()["id"])).status_code == 200  # the limit comes back
    made = (await reserve(world, villager, setup.store.id, [(soap["id"], 2)])).json()
    lowered = await world.call(
        "PATCH", f"/items/{soap['id']}", admin, json={"limit": {"count": 1, "period": "week"}}
    )
    assert lowered.status_code == 200, lowered.text
    state = (await points(world, setup, household), await shelf(world, setup))
    assert state == ((1000, 20), {"香皂": (12, 2)})
    refused = await redeem_code(world, clerk, setup.store.id, made["code"])
    refused_for_limit(refused, 1)
    assert (await points(world, setup, household), await shelf(world, setup)) == state
    assert await sold_to(world, household, soap["id"]) == 0


async def test_cancelled_expired_and_released_reservations_give_the_limit_back(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup, soap, household = await soap_scene(world)
    days = await world.call(
        "PATCH", f"/villages/{setup.village.id}", setup.people["village_admin"], json={"reservation_days": 1}
    )
    assert days.status_code == 200, days.text
    clock = Clock(monkeypatch, MIDWEEK - timedelta(days=1))  # Tuesday
    villager = setup.people["villager"]
    # cancelled by the villager: two may be bought at once
    made = (await reserve(world, villager, setup.store.id, [(soap["id"], 2)])).json()
    assert (await cancel_reservation(world, villager, made["id"])).status_code == 200
    sale = await counter(world, setup, household, soap["id"], 2)
    assert sale.status_code == 201, sale.text
    # a cancelled sale gives its two back, to a reservation as well
    assert (await cancel(world, setup.people["village_admin"], sale.json()["id"])).status_code == 200
    made = (await reserve(world, villager, setup.store.id, [(soap["id"], 2)])).json()
    assert made["status"] == "active"
    refused_for_limit(await counter(world, setup, household, soap["id"], 1), 0)
    # a day on (Wednesday, the same week) the reservation has lapsed, even before the job released it
    clock.now = MIDWEEK + timedelta(seconds=1)
    assert (await counter(world, setup, household, soap["id"], 1)).status_code == 201
    assert await reservations.release_expired(world.app.state.sessionmaker, now=clock.now) == 1
    assert (await counter(world, setup, household, soap["id"], 1)).status_code == 201
    refused_for_limit(await counter(world, setup, household, soap["id"], 1), 0)
    assert await sold_to(world, household, soap["id"]) == 2
    assert await points(world, setup, household) == (1000 - 20, 0)
    assert await shelf(world, setup) == {"香皂": (18, 0)}


async def test_the_week_turns_at_local_midnight_for_every_path(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup, soap, household = await soap_scene(world)
    clock = Clock(monkeypatch, SUNDAY_NIGHT + timedelta(minutes=59))  # Sunday 23:59 local
    villager = setup.people["villager"]
    assert (await counter(world, setup, household, soap["id"], 2)).status_code == 201
    clock.now = MONDAY_MIDNIGHT - timedelta(seconds=1)
    refused_for_limit(await reserve(world, villager, setup.store.id, [(soap["id"], 1)]), 0)
    clock.now = MONDAY_MIDNIGHT  # 16:00 UTC on the same UTC day: a new local week
    made = await reserve(world, villager, setup.store.id, [(soap["id"], 2)])
    assert made.status_code == 201, made.text
    picked = await redeem_code(world, setup.people["clerk"], setup.store.id, made.json()["code"])
    assert picked.status_code == 201, picked.text
    refused_for_limit(await counter(world, setup, household, soap["id"], 1), 0)
    assert await sold_to(world, household, soap["id"]) == 4


async def test_stock_then_limit_then_points_on_every_path(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A household with no points asking for more than the shelf and the limit hears about the shelf
    first, then the limit, then its points; nothing moves."""
    setup, soap, household = await soap_scene(world, stock=3, funds=0)
    Clock(monkeypatch, MIDWEEK)
    villager = setup.people["villager"]
    for path in ("counter", "reserve"):
        for quantity, error in ((4, "out_of_stock"), (3, "limit_exceeded"), (2, "insufficient_points")):
            if path == "counter":
                answer = await counter(world, setup, household, soap["id"], quantity)
            else:
                answer = await reserve(world, villager, setup.store.id, [(soap["id"], quantity)])
            assert (answer.status_code, answer.json()["error"]) == (409, error), answer.text
    assert (await points(world, setup, household), await shelf(world, setup)) == ((0, 0), {"香皂": (3, 0)})


# ---------------------------------------------------------------------------------------------- races


async def test_two_counters_and_a_reservation_race_for_the_last_units_of_the_limit(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup, soap, household = await soap_scene(world)
    Clock(monkeypatch, MIDWEEK)
    villager = setup.people["villager"]
    for _ in range(3):
        answers = await asyncio.gather(
            counter(world, setup, household, soap["id"], 2),
            counter(world, setup, household, soap["id"], 2),
            reserve(world, villager, setup.store.id, [(soap["id"], 2)]),
        )
        assert Counter(a.status_code for a in answers) == {201: 1, 409: 2}, [a.text for a in answers]
        assert {a.json()["error"] for a in answers if a.status_code == 409} == {"limit_exceeded"}
        won = next(a.json() for a in answers if a.status_code == 201)
        # give it back for the next round
        if "code" in won:
            assert (await cancel_reservation(world, villager, won["id"])).status_code == 200
        else:
            assert (await cancel(world, setup.people["clerk"], won["id"])).status_code == 200
    assert await sold_to(world, household, soap["id"]) == 0
    assert await points(world, setup, household) == (1000, 0)


async def test_a_pickup_races_two_counters_for_the_same_weeks_limit(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup, soap, household = await soap_scene(world)
    Clock(monkeypatch, MIDWEEK)
    made = (await reserve(world, setup.people["villager"], setup.store.id, [(soap["id"], 2)])).json()
    answers = await asyncio.gather(
        counter(world, setup, household, soap["id"], 2),
        redeem_code(world, setup.people["clerk"], setup.store.id, made["code"]),
        counter(world, setup, household, soap["id"], 1),
    )
    assert [a.status_code for a in answers] == [409, 201, 409], [a.text for a in answers]
    assert await sold_to(world, household, soap["id"]) == 2
    assert await points(world, setup, household) == (1000 - 20, 0)
    assert await shelf(world, setup) == {"香皂": (18, 0)}


async def test_counters_a_reservation_and_a_pickup_race_for_the_last_units_of_stock(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five bars: two promised to the villager's household, three free. Its pickup, two counter sales of
    two to neighbours and a second reservation of two race: the pickup goes through and only one of the
    others gets two of the three free bars."""
    setup = await world.setup_village(households=4)
    for household in setup.households:
        await fund(world, setup, household.id, 100)
    soap = await make_item(world, setup, "香皂", 10, 5)
    Clock(monkeypatch, MIDWEEK)
    made = (await reserve(world, setup.people["villager"], setup.store.id, [(soap["id"], 2)])).json()
    answers = await asyncio.gather(
        redeem_code(world, setup.people["clerk"], setup.store.id, made["code"]),
        counter(world, setup, setup.households[1].id, soap["id"], 2),
        counter(world, setup, setup.households[2].id, soap["id"], 2),
        counter(world, setup, setup.households[3].id, soap["id"], 2),
        reserve(world, setup.people["villager"], setup.store.id, [(soap["id"], 2)]),
    )
    assert answers[0].status_code == 201, answers[0].text
    assert Counter(a.status_code for a in answers[1:]) == {201: 1, 409: 3}, [a.text for a in answers]
    assert {a.json()["error"] for a in answers if a.status_code == 409} == {"out_of_stock"}
    stock, reserved = (await shelf(world, setup))["香皂"]
    assert stock - reserved == 1
    sold = int(await scalar(world, "SELECT coalesce(sum(quantity), 0) FROM redemption_lines"))
    assert (sold, stock) in ((4, 1), (2, 3))  # the pickup and a sale, or the pickup and a reservation
    assert sold + reserved == 4


async def test_baskets_naming_the_same_items_in_any_order_queue_and_never_deadlock(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = await world.setup_village(households=3)
    for household in setup.households:
        await fund(world, setup, household.id, 1000)
    soap = await make_item(world, setup, "香皂", 10, 100)
    oil = await make_item(world, setup, "食用油", 30, 100)
    Clock(monkeypatch, MIDWEEK)
    villager, clerk = setup.people["villager"], setup.people["clerk"]
    made = (await reserve(world, villager, setup.store.id, [(oil["id"], 1), (soap["id"], 1)])).json()
    answers = await asyncio.gather(
        *(
            redeem(world, clerk, setup.store.id, setup.households[i % 2 + 1].id, lines)
            for i in range(8)
            for lines in ([(soap["id"], 1), (oil["id"], 1)], [(oil["id"], 1), (soap["id"], 1)])
        ),
        reserve(world, villager, setup.store.id, [(oil["id"], 2), (soap["id"], 2)]),
        redeem_code(world, clerk, setup.store.id, made["code"]),
    )
    assert [a.status_code for a in answers] == [201] * 18, [a.text for a in answers if a.status_code != 201]
    assert await shelf(world, setup) == {"香皂": (100 - 17, 2), "食用油": (100 - 17, 2)}
