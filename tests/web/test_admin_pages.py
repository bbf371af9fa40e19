"""The village admin's and the town admin's pages, driven like a browser: sign in through /login with the
CSRF cookie and field, open pages, post forms, and see the result where a person would look for it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response

from tests.factories import PASSWORD, Person, VillageSetup, World
from tests.helpers import login

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


class Browser:
    """One person's browser: a cookie jar, and the CSRF token of the last page it read."""

    def __init__(self, http: AsyncClient) -> None:
        self.http = http
        self.csrf = ""

    async def get(self, path: str) -> Response:
        response = await self.http.get(path)
        if found := CSRF.search(response.text):
            self.csrf = found.group(1)
        return response

    async def post(
        self, path: str, form: dict[str, str], *, csrf: bool = True, key: bool = False
    ) -> Response:
        data = dict(form)
        if csrf:
            data["csrf_token"] = self.csrf
        if key:
            data["idempotency_key"] = KEY.findall((await self.http.get(path.rsplit("/", 2)[0])).text)[0]
        response = await self.http.post(path, data=data)
        if found := CSRF.search(response.text):
            self.csrf = found.group(1)
        return response


@asynccontextmanager
async def browser(app: FastAPI, person: Person | None = None) -> AsyncIterator[Browser]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://jifen.test") as http:
        page = Browser(http)
        if person is not None:
            form = await http.get("/login")
            token = CSRF.search(form.text)
            assert token, form.text
            done = await http.post(
                "/login",
                data={
                    "username": person.username,
                    "password": PASSWORD,
                    "csrf_token": token.group(1),
                    "next": "/",
                },
            )
            assert done.status_code == 303, done.text
        yield page


async def _rule(world: World, setup: VillageSetup, **fields: Any) -> dict[str, Any]:
    body = {"code": "MQSB", "name": "门前三包", "category": "人居环境", "points": 15} | fields
    response = await world.call(
        "POST", f"/villages/{setup.village.id}/rules", setup.people["village_admin"], json=body
    )
    assert response.status_code == 201, response.text
    rule: dict[str, Any] = response.json()
    return rule


async def _item(world: World, setup: VillageSetup) -> dict[str, Any]:
    response = await world.call(
        "POST",
        f"/stores/{setup.store.id}/items",
        setup.people["village_admin"],
        json={"name": "食用油", "price_points": 85, "stock": 3, "unit": "桶"},
    )
    assert response.status_code == 201, response.text
    item: dict[str, Any] = response.json()
    return item


def _admin_paths(setup: VillageSetup, rule: dict[str, Any]) -> list[str]:
    return [
        "/admin",
        "/admin/households",
        f"/admin/households/{setup.households[0].id}",
        "/admin/users",
        "/admin/rules",
        f"/admin/rules/{rule['id']}",
        "/admin/stores",
        f"/admin/stores/{setup.store.id}",
        "/admin/notice-board",
    ]


async def test_every_admin_page_opens_for_the_village_admin(world: World, app: FastAPI) -> None:
    setup = await world.setup_village()
    rule = await _rule(world, setup)
    await _item(world, setup)
    headings = [
        "村务管理",
        "农户花名册",
        "家庭成员",
        "用户与角色",
        "积分细则",
        "历史版本",
        "积分超市",
        "食用油",
        "积分公示栏",
    ]

    async with browser(app, setup.people["village_admin"]) as admin:
        for path, heading in zip(_admin_paths(setup, rule), headings, strict=True):
            response = await admin.get(path)
            assert response.status_code == 200, (path, response.text[:500])
            assert heading in response.text, path
        rankings = await admin.get("/admin/rankings")
        users = await admin.get("/admin/users")

    assert rankings.status_code == 303
    assert rankings.headers["location"] == "/rankings"
    for person in setup.people.values():
        assert person.username in users.text


@pytest.mark.parametrize("role", ["villager", "clerk", "cadre"])
async def test_admin_pages_are_refused_to_other_roles(world: World, app: FastAPI, role: str) -> None:
    setup = await world.setup_village()
    rule = await _rule(world, setup)

    async with browser(app, setup.people[role]) as someone:
        for path in [*_admin_paths(setup, rule), "/town"]:
            response = await someone.get(path)
            assert response.status_code == 403, (path, response.status_code)
            assert "没有权限" in response.text
            assert "门前三包" not in response.text
        posted = await someone.post(
            "/admin/rules", {"code": "X1", "name": "偷加", "category": "甲", "points": "5"}
        )

    assert posted.status_code == 403
    rules = await world.call("GET", f"/villages/{setup.village.id}/rules", setup.people["village_admin"])
    assert [r["code"] for r in rules.json()["items"]] == ["MQSB"]


async def test_signed_out_visitors_are_sent_to_login(world: World, app: FastAPI) -> None:
    setup = await world.setup_village()
    rule = await _rule(world, setup)

    async with browser(app) as stranger:
        for path in [*_admin_paths(setup, rule), "/town"]:
            response = await stranger.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/login?next=")


async def test_creating_a_rule_through_the_form_shows_it_and_the_api_has_it(
    world: World, app: FastAPI
) -> None:
    setup = await world.setup_village()
    form = {
        "code": "JQSY",
        "name": "家禽散养",
        "category": "人居环境",
        "points": "-8",
        "cap_count": "",
        "cap_period": "",
        "review": "single",
        "evidence_required": "on",
        "rectification_share": "50",
        "active_from": "2026-01-01",
        "active_until": "",
    }

    async with browser(app, setup.people["village_admin"]) as admin:
        await admin.get("/admin/rules")
        created = await admin.post("/admin/rules", form)
        shown = await admin.get(created.headers["location"])

    assert created.status_code == 303
    assert "已添加细则：JQSY" in shown.text
    assert "家禽散养" in shown.text
    assert "整改返还 50%" in shown.text
    rules = await world.call("GET", f"/villages/{setup.village.id}/rules", setup.people["cadre"])
    [rule] = rules.json()["items"]
    assert (rule["points"], rule["review"], rule["evidence_required"], rule["rectification_share"]) == (
        -8,
        "single",
        True,
        50,
    )
    assert rule["active_from"] == "2026-01-01"


async def test_a_bad_rule_comes_back_with_chinese_errors_beside_the_fields_and_what_was_typed(
    world: World, app: FastAPI
) -> None:
    setup = await world.setup_village()
    form = {
        "code": "HAOREN",
        "name": "",
        "category": "好人好事",
        "points": "0",
        "cap_count": "20",
        "review": "none",
    }

    async with browser(app, setup.people["village_admin"]) as admin:
        await admin.get("/admin/rules")
        response = await admin.post("/admin/rules", form)
        duplicate_first = await admin.post(
            "/admin/rules", form | {"name": "好人好事", "points": "5", "cap_count": ""}
        )
        duplicate = await admin.post(
            "/admin/rules", form | {"name": "又一条", "points": "5", "cap_count": ""}
        )

    assert response.status_code == 422
    html = response.text
    assert re.search(r'id="f-name"[^>]*aria-invalid="true"', html.replace("\n", " "))
    assert '<p class="error" id="e-name">请填写细则名称</p>' in html
    assert '<p class="error" id="e-points">分值不能为 0：加分填正数，扣分填负数，例如 -5</p>' in html
    assert '<p class="error" id="e-cap_period">填写了上限，请选择上限的周期</p>' in html
    assert 'value="HAOREN"' in html
    assert 'value="好人好事"' in html
    assert duplicate_first.status_code == 303
    assert duplicate.status_code == 409
    assert 'id="e-code"' in duplicate.text
    assert 'value="又一条"' in duplicate.text
    rules = await world.call("GET", f"/villages/{setup.village.id}/rules", setup.people["village_admin"])
    assert [r["name"] for r in rules.json()["items"]] == ["好人好事"]


async def test_changing_a_rule_makes_a_new_version_and_retiring_keeps_the_history(
    world: World, app: FastAPI
) -> None:
    setup = await world.setup_village()
    rule = await _rule(world, setup, cap={"count": 100, "period": "month"})
    path = f"/admin/rules/{rule['id']}"

    async with browser(app, setup.people["village_admin"]) as admin:
        page = await admin.get(path)
        assert 'value="门前三包"' in page.text
        changed = await admin.post(
            path,
            {
                "name": "门前三包达标",
                "category": "人居环境",
                "points": "20",
                "cap_count": "",
                "cap_period": "",
                "review": "none",
            },
        )
        unchanged = await admin.post(
            path, {"name": "门前三包达标", "category": "人居环境", "points": "20", "review": "none"}
        )
        bad = await admin.post(
            path, {"name": "门前三包达标", "category": "人居环境", "points": "abc", "review": "none"}
        )
        retired = await admin.post(f"{path}/active", {"active": "false"})
        history = await admin.get(path)

    assert changed.status_code == 303
    assert "没有修改任何内容" in unchanged.text
    assert bad.status_code == 422
    assert 'value="abc"' in bad.text
    assert retired.status_code == 303
    assert "第 3 版" in history.text
    assert "重新启用" in history.text
    versions = (
        await world.call("GET", f"/rules/{rule['id']}/versions", setup.people["village_admin"])
    ).json()
    assert [(v["version"], v["points"], v["cap"], v["active"]) for v in versions["items"]] == [
        (3, 20, None, False),
        (2, 20, None, True),
        (1, 15, {"count": 100, "period": "month"}, True),
    ]


async def test_creating_a_household_with_members_and_adding_one_later(world: World, app: FastAPI) -> None:
    setup = await world.setup_village()
    form = {
        "code": "XF-201",
        "head_name": "陈大山",
        "grid": "三组",
        "address": "幸福路 8 号",
        "household_class": "党员户",
        "members": "陈大山 13800001111\n李小花\n\n陈小明 139-0000-2222",
    }

    async with browser(app, setup.people["village_admin"]) as admin:
        await admin.get("/admin/households")
        bad = await admin.post("/admin/households", form | {"members": "陈大山 12ab"})
        created = await admin.post("/admin/households", form)
        shown = await admin.get(created.headers["location"])
        member_path = created.headers["location"].split("?")[0] + "/members"
        no_name = await admin.post(member_path, {"name": "", "phone": "13800000000"})
        added = await admin.post(member_path, {"name": "陈奶奶", "phone": ""})
        listed = await admin.get("/admin/households?grid=三组")

    assert bad.status_code == 422
    assert "第 1 行的电话号码格式不正确" in bad.text
    assert 'value="XF-201"' in bad.text
    assert created.status_code == 303
    assert "陈大山" in shown.text
    assert "李小花" in shown.text
    assert "139-0000-2222" in shown.text
    assert no_name.status_code == 422
    assert '<p class="error" id="e-name">请填写姓名</p>' in no_name.text
    assert added.status_code == 303
    assert "XF-201" in listed.text
    assert setup.households[0].code not in listed.text
    found = await world.call(
        "GET", f"/villages/{setup.village.id}/households", setup.people["cadre"], params={"q": "XF-201"}
    )
    [household] = found.json()["items"]
    full = (await world.call("GET", f"/households/{household['id']}", setup.people["cadre"])).json()
    assert sorted(m["name"] for m in full["members"]) == sorted(["陈大山", "李小花", "陈小明", "陈奶奶"])
    assert full["household_class"] == "党员户"


async def test_restocking_creating_items_and_pausing_the_store(world: World, app: FastAPI) -> None:
    setup = await world.setup_village()
    item = await _item(world, setup)
    store_path = f"/admin/stores/{setup.store.id}"

    async with browser(app, setup.people["village_admin"]) as admin:
        page = await admin.get(store_path)
        key = KEY.findall(page.text)[0]
        form = {"store_id": str(setup.store.id), "quantity": "10", "note": "乡贤捐赠", "idempotency_key": key}
        restocked = await admin.post(f"/admin/items/{item['id']}/restock", form)
        bad = await admin.post(f"/admin/items/{item['id']}/restock", form | {"quantity": "0"})
        new_item = await admin.post(
            f"{store_path}/items",
            {
                "name": "大米",
                "price_points": "50",
                "stock": "20",
                "unit": "袋",
                "limit_count": "2",
                "limit_period": "month",
            },
        )
        no_price = await admin.post(f"{store_path}/items", {"name": "香皂", "price_points": "", "stock": "5"})
        off = await admin.post(
            f"/admin/items/{item['id']}/active", {"store_id": str(setup.store.id), "active": "false"}
        )
        paused = await admin.post(f"{store_path}/active", {"active": "false", "back": "store"})
        shown = await admin.get(store_path)

    assert restocked.status_code == 303
    assert bad.status_code == 422
    assert "入库数量请填 1 到 1000000 的整数" in bad.text
    assert new_item.status_code == 303
    assert no_price.status_code == 422
    assert '<p class="error" id="e-price_points">必须填写</p>' in no_price.text
    assert 'value="香皂"' in no_price.text
    assert off.status_code == 303
    assert paused.status_code == 303
    assert "暂停营业" in shown.text
    assert "已下架" in shown.text
    assert "每户每月限 2" in shown.text
    items = (await world.call("GET", f"/stores/{setup.store.id}/items", setup.people["clerk"])).json()[
        "items"
    ]
    by_name = {i["name"]: i for i in items}
    assert by_name["食用油"]["stock"] == 13
    assert by_name["食用油"]["active"] is False
    assert by_name["大米"]["limit"] == {"count": 2, "period": "month"}
    stores = (await world.call("GET", f"/villages/{setup.village.id}/stores", setup.people["clerk"])).json()
    assert stores["items"][0]["active"] is False


async def test_creating_users_with_roles_through_the_form(world: World, app: FastAPI) -> None:
    setup = await world.setup_village()
    household = setup.households[1]
    base = {
        "display_name": "张大爷",
        "username": "zhangdaye",
        "password": "a-long-password",
        "store_id": "",
        "grid": "",
    }

    async with browser(app, setup.people["village_admin"]) as admin:
        await admin.get("/admin/users")
        unknown = await admin.post("/admin/users", base | {"role": "villager", "household_code": "NOPE-1"})
        no_store = await admin.post("/admin/users", base | {"role": "clerk", "household_code": ""})
        created = await admin.post(
            "/admin/users", base | {"role": "villager", "household_code": household.code}
        )
        again = await admin.post(
            "/admin/users", base | {"role": "villager", "household_code": household.code}
        )
        listed = await admin.get("/admin/users")

    assert unknown.status_code == 422
    assert "本村没有户号 NOPE-1" in unknown.text
    assert "a-long-password" not in unknown.text
    assert no_store.status_code == 422
    assert "店员需要选择所在的积分超市" in no_store.text
    assert created.status_code == 303
    assert again.status_code == 409
    assert 'id="e-username"' in again.text
    assert "张大爷" in listed.text
    assert (await login(world.client, "zhangdaye", "a-long-password")).status_code == 200
    users = await world.call(
        "GET",
        f"/villages/{setup.village.id}/users",
        setup.people["village_admin"],
        params={"role": "villager"},
    )
    grants = {u["username"]: u["roles"] for u in users.json()["items"]}
    assert grants["zhangdaye"][0]["household_id"] == str(household.id)


async def test_settings_and_checkpoint_on_the_dashboard_and_the_printable_board(
    world: World, app: FastAPI
) -> None:
    setup = await world.setup_village()

    async with browser(app, setup.people["village_admin"]) as admin:
        home = await admin.get("/admin")
        bad = await admin.post(
            "/admin/settings", {"notice_days": "99", "cancel_window_minutes": "60", "reservation_days": "7"}
        )
        saved = await admin.post(
            "/admin/settings", {"notice_days": "5", "cancel_window_minutes": "60", "reservation_days": "3"}
        )
        sealed = await admin.post("/admin/checkpoints", {"back": "board"})
        board = await admin.get("/admin/notice-board")

    assert home.status_code == 200
    assert "✓ 记录完整" in home.text, "the audit verdict, read beside the charts"
    assert "每月积分" in home.text
    assert "用得最多的积分项目" in home.text
    assert bad.status_code == 422
    assert '<p class="error" id="e-notice_days">请填写 0 到 30 之间的整数</p>' in bad.text
    assert 'value="99"' in bad.text
    assert saved.status_code == 303
    villages = (await world.call("GET", "/villages", setup.people["village_admin"])).json()["items"]
    assert (
        villages[0]["notice_days"],
        villages[0]["cancel_window_minutes"],
        villages[0]["reservation_days"],
    ) == (
        5,
        60,
        3,
    )
    assert sealed.status_code == 303
    assert sealed.headers["location"] == "/admin/notice-board?done=sealed"
    checkpoints = await world.call(
        "GET", f"/villages/{setup.village.id}/checkpoints", setup.people["village_admin"]
    )
    digest = checkpoints.json()["items"][0]["digest"]
    assert f'本公示对应的防篡改校验码：<span class="digest">{digest}</span>' in board.text
    assert "data-print" in board.text  # the print button (app.js prints; no inline onclick)


async def test_a_post_without_the_csrf_token_changes_nothing(world: World, app: FastAPI) -> None:
    setup = await world.setup_village()
    item = await _item(world, setup)

    async with browser(app, setup.people["village_admin"]) as admin:
        await admin.get("/admin/rules")
        rule = await admin.post(
            "/admin/rules",
            {"code": "R1", "name": "好", "category": "甲", "points": "5", "review": "none"},
            csrf=False,
        )
        restock = await admin.post(
            f"/admin/items/{item['id']}/restock",
            {"store_id": str(setup.store.id), "quantity": "5"},
            csrf=False,
        )
        forged = await admin.http.post(
            "/admin/households", data={"code": "H1", "head_name": "某", "csrf_token": "forged"}
        )

    for response in (rule, restock, forged):
        assert response.status_code == 403
        assert "页面已过期或来源不明" in response.text
    rules = await world.call("GET", f"/villages/{setup.village.id}/rules", setup.people["village_admin"])
    assert rules.json()["items"] == []
    items = (await world.call("GET", f"/stores/{setup.store.id}/items", setup.people["clerk"])).json()[
        "items"
    ]
    assert items[0]["stock"] == 3


async def test_the_town_sees_every_village_and_creates_one(world: World, app: FastAPI) -> None:
    first = await world.setup_village()
    second = await world.setup_village()
    town_admin = await world.town_admin()

    async with browser(app, town_admin) as town:
        page = await town.get("/town")
        year = await town.get("/town?period=2026")
        bad_period = await town.get("/town?period=someday")
        created = await town.post("/town/villages", {"code": "NEW-V", "name": "新光村"})
        duplicate = await town.post("/town/villages", {"code": "NEW-V", "name": "又一个村"})
        empty = await town.post("/town/villages", {"code": "", "name": ""})
        after = await town.get("/town")

    assert page.status_code == 200
    assert first.village.code in page.text
    assert second.village.code in page.text
    assert "3/3" not in page.text  # no awards yet: nobody is taking part
    assert "0/3" in page.text
    assert year.status_code == 200
    assert "2026 各村对比" in year.text
    assert bad_period.status_code == 422
    assert created.status_code == 303
    assert duplicate.status_code == 409
    assert 'id="e-code"' in duplicate.text
    assert 'value="又一个村"' in duplicate.text
    assert empty.status_code == 422
    assert "请填写村编号" in empty.text
    assert "请填写村名" in empty.text
    assert "新光村" in after.text
    async with browser(app, first.people["village_admin"]) as admin:
        refused = await admin.get("/town")
    assert refused.status_code == 403
