"""What an older villager (or cadre) needs to find their way, checked on the rendered pages without a browser:
the tab of the page marked wherever one is below it, a way back from every /admin/* page, and a greyed-out
button that says why. The browser journeys check the same with axe-core and the layout (test_journeys.py)."""

from __future__ import annotations

import re

from fastapi import FastAPI

from tests.factories import World
from tests.web.test_admin_pages import _admin_paths, _item, _rule, browser

CURRENT = re.compile(r'<a href="([^"]+)" aria-current="page">([^<]+)</a>')
CRUMBS = re.compile(r'<nav class="crumbs[^"]*" aria-label="所在位置">(.*?)</nav>', re.S)


async def test_every_admin_page_marks_village_admin_and_leads_back_to_the_dashboard(
    world: World, app: FastAPI
) -> None:
    setup = await world.setup_village()
    rule = await _rule(world, setup)
    await _item(world, setup)
    paths = [*_admin_paths(setup, rule), "/admin/funding", "/admin/expiry", "/admin/notify"]

    async with browser(app, setup.people["village_admin"]) as admin:
        for path in paths:
            shown = await admin.get(path)
            assert shown.status_code == 200, path
            assert CURRENT.findall(shown.text) == [("/admin", "村务管理")], path
            crumbs = CRUMBS.search(shown.text)
            if path == "/admin":
                assert crumbs is None
            else:
                assert crumbs, path
                assert '<a href="/admin">' in crumbs.group(1), path
        household = await admin.get(f"/admin/households/{setup.households[0].id}")
        crumbs = CRUMBS.search(household.text)
        assert crumbs
        assert '<a href="/admin/households">农户花名册</a>' in crumbs.group(1)


async def test_a_page_below_a_tab_marks_that_tab(world: World, app: FastAPI) -> None:
    setup = await world.setup_village()
    household = setup.households[0].id

    async with browser(app, setup.people["cadre"]) as cadre:
        shown = await cadre.get(f"/staff/households/{household}")
    async with browser(app, setup.people["villager"]) as villager:
        history = await villager.get("/me/history")

    assert CURRENT.findall(shown.text) == [("/staff/households", "找农户")]
    assert CURRENT.findall(history.text) == [("/me/history", "积分明细")]  # not 我的积分 as well


async def test_the_store_says_why_an_item_cannot_be_reserved(world: World, app: FastAPI) -> None:
    setup = await world.setup_village()
    await _item(world, setup)  # 食用油, 85 points: the new household has none
    sold_out = await world.call(
        "POST",
        f"/stores/{setup.store.id}/items",
        setup.people["village_admin"],
        json={"name": "挂面", "price_points": 1, "stock": 0, "unit": "把"},
    )
    assert sold_out.status_code == 201, sold_out.text

    async with browser(app, setup.people["villager"]) as villager:
        store = await villager.get("/me/store")
        me = await villager.get("/me")

    buttons = re.findall(r"<button[^>]*>([^<]+)</button>", store.text)
    assert "积分不够" in buttons
    assert "已售完" in buttons
    assert "预约" not in buttons
    assert re.search(r"<button[^>]*disabled[^>]*>积分不够</button>", store.text)
    assert re.search(r"<h1[^>]*>[^<]*家的积分", me.text)
