"""The clerk's counter and pickup pages say, in Chinese, why a basket over the household's limit was
refused and how many are left this period; nothing moves."""

from __future__ import annotations

import re

from tests.factories import World
from tests.store.helpers import fund, make_item
from tests.store.test_reservations import points, reserve, shelf
from tests.web.test_admin_pages import KEY, browser

WEEKLY_2 = {"count": 2, "period": "week"}


async def test_the_counter_page_refuses_what_a_reservation_already_promised(world: World) -> None:
    setup = await world.setup_village()
    household = setup.households[0].id
    await fund(world, setup, household, 100)
    soap = await make_item(world, setup, "香皂", 10, 20, limit=WEEKLY_2)
    made = await reserve(world, setup.people["villager"], setup.store.id, [(soap["id"], 2)])
    assert made.status_code == 201, made.text

    async with browser(world.app, setup.people["clerk"]) as clerk:
        page = await clerk.get(f"/counter/h/{household}")
        assert page.status_code == 200, page.text
        key = KEY.findall(page.text)[0]
        refused = await clerk.post(
            f"/counter/h/{household}", {f"q-{soap['id']}": "1", "idempotency_key": key}
        )
        assert refused.status_code == 409, refused.text
        assert re.search(r"每户每周限兑 2，本期已兑 0、已预约 2，还可兑 0", refused.text), refused.text
    assert (await points(world, setup, household), await shelf(world, setup)) == (
        (100, 20),
        {"香皂": (20, 2)},
    )


async def test_the_pickup_page_says_how_many_are_left_under_a_lowered_limit(world: World) -> None:
    setup = await world.setup_village()
    household = setup.households[0].id
    await fund(world, setup, household, 100)
    soap = await make_item(world, setup, "香皂", 10, 20, limit=WEEKLY_2)
    made = (await reserve(world, setup.people["villager"], setup.store.id, [(soap["id"], 2)])).json()
    lowered = await world.call(
        "PATCH",
        f"/items/{soap['id']}",
        setup.people["village_admin"],
        json={"limit": {"count": 1, "period": "week"}},
    )
    assert lowered.status_code == 200, lowered.text

    async with browser(world.app, setup.people["clerk"]) as clerk:
        page = await clerk.get("/counter/pickup")
        key = KEY.findall(page.text)[0]
        refused = await clerk.post("/counter/pickup", {"code": made["code"], "idempotency_key": key})
        assert refused.status_code == 422, refused.text
        assert "每户每周限兑 1，本期已兑 0，还可兑 1" in refused.text, refused.text
    assert (await points(world, setup, household), await shelf(world, setup)) == (
        (100, 20),
        {"香皂": (20, 2)},
    )
