"""Offline field scoring in headless Chromium against a real server: the cadre opens the household list and
an inspection sheet with signal, loses it, scores 5 households, one award beyond its cap and a 20-household
sheet, closes the page and opens it again (the 7 items are still 待上传), and gets signal back: the 25 good
awards post once each (the server's awards and ledger say so) and the one beyond the cap stays listed with
the server's reason until the cadre removes it. Then again with the connection cut after the server
committed the sheet but before the phone heard back: the resend is replayed, nothing posts twice. And an
award kept while the page is closed goes out by itself (the service worker's Background Sync).

One world (the demo village, 10 more households in 第一网格, two rules) for the module. The three tests take
about 30 s together after the live server's start.
Screenshots: test-artifacts/screenshots/offline_scoring/."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, Route, expect

from jifen.demo import DEMO_PASSWORD
from jifen.kit.periods import local_today
from tests.web.browser import Phone

pytestmark = pytest.mark.browser

GRID = "第一网格"


@dataclass
class Field:
    """The demo village as the test left it: who's who, the grid's 20 households, the two rules."""

    base: str
    admin: dict[str, str]
    cadre: dict[str, str]
    village_id: str
    households: list[dict[str, Any]]  # 第一网格, by code
    plain: dict[str, Any]  # 离线评分 +2, no cap
    capped: dict[str, Any]  # 每日巡查 +5, at most 5 a day

    async def api(self, method: str, path: str, who: dict[str, str], **kwargs: Any) -> Any:
        async with httpx.AsyncClient(base_url=self.base + "/api/v1", headers=who) as client:
            response = await client.request(method, path, **kwargs)
        assert response.status_code < 300, response.text
        return response.json()

    async def open_sheet(self, days_ago: int) -> str:
        day = (local_today() - timedelta(days=days_ago)).isoformat()
        body = {"grid": GRID, "inspected_on": day, "rule_ids": [self.plain["id"]], "judges": ["网格员小李"]}
        sheet = await self.api("POST", f"/villages/{self.village_id}/inspections", self.cadre, json=body)
        return str(sheet["id"])

    async def awards(self, rule: dict[str, Any]) -> list[dict[str, Any]]:
        found = await self.api(
            "GET", f"/villages/{self.village_id}/awards", self.admin, params={"limit": 200}
        )
        return [a for a in found["items"] if a["rule_id"] == rule["id"]]


async def _token(base: str, username: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=base + "/api/v1") as client:
        response = await client.post("/auth/token", data={"username": username, "password": DEMO_PASSWORD})
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture(scope="module")
async def field(live_server: str) -> Field:
    admin, cadre = await _token(live_server, "admin"), await _token(live_server, "cadre")
    me = Field(live_server, admin, cadre, "", [], {}, {})
    me.village_id = (await me.api("GET", "/villages", admin))["items"][0]["id"]
    for number in range(31, 41):  # the demo's grid has 10 households; a sheet of 20
        body = {"code": f"XF-{number:03d}", "head_name": f"新户{number}", "grid": GRID}
        await me.api("POST", f"/villages/{me.village_id}/households", admin, json=body)
    # awards post at once (the demo village puts them on public notice first): the ledger shows them
    await me.api("PATCH", f"/villages/{me.village_id}", admin, json={"notice_days": 0})
    rules = f"/villages/{me.village_id}/rules"
    me.plain = await me.api(
        "POST", rules, admin, json={"code": "LXPF", "name": "离线评分", "category": "测试", "points": 2}
    )
    me.capped = await me.api(
        "POST",
        rules,
        admin,
        json={
            "code": "MRXC",
            "name": "每日巡查",
            "category": "测试",
            "points": 5,
            "cap": {"count": 5, "period": "day"},
        },
    )
    listed = await me.api(
        "GET", f"/villages/{me.village_id}/households", admin, params={"grid": GRID, "limit": 200}
    )
    me.households = listed["items"]
    assert len(me.households) == 20
    return me


@pytest.fixture
async def phone(browser: Browser, live_server: str) -> AsyncIterator[Phone]:
    device = await Phone(browser, live_server, "offline_scoring").open()
    yield device
    await device.close()


async def _ready_offline(phone: Phone, sheet_id: str) -> Page:
    """Signed in with signal: the household list (its pages kept on the phone) and the sheet opened, then
    the signal goes."""
    page = await phone.login("cadre")
    await phone.go("/staff/households")
    await expect(page.locator("#offline-ready")).to_be_visible()
    await phone.go(f"/staff/inspections/{sheet_id}")
    await phone.context.set_offline(True)
    return page


async def _award(
    page: Page, base: str, household: dict[str, Any], rule: dict[str, Any], *, kept: int, quantity: int = 1
) -> None:
    """Score one household offline; the cadre sees it counted (`kept` waiting) before moving on."""
    await page.goto(f"{base}/staff/households/{household['id']}")
    await page.get_by_label("积分细则").select_option(value=rule["id"])
    await page.get_by_label("次数").fill(str(quantity))
    await page.get_by_role("button", name="提交").click()
    await expect(page.locator("#outbox-count")).to_have_text(str(kept))


async def _score_sheet(page: Page, base: str, sheet_id: str, *, kept: int) -> None:
    await page.goto(f"{base}/staff/inspections/{sheet_id}")
    cells = page.locator("input.qty")
    assert await cells.count() == 20
    for index in range(20):
        await cells.nth(index).fill("1")
    await page.get_by_role("button", name="提交整张表").click()
    await expect(page.locator("#outbox-count")).to_have_text(str(kept))


async def _posted_once(field: Field, expected: Counter[str]) -> list[dict[str, Any]]:
    """The awards of the plain rule: posted, each with its own transaction, as many per household as
    `expected` (by household id), each with the moment it was observed on the phone."""
    awards = await field.awards(field.plain)
    assert Counter(a["household_id"] for a in awards) == expected
    assert {a["status"] for a in awards} == {"posted"}
    assert len({a["transaction_id"] for a in awards}) == len(awards)
    assert all(a["observed_at"] and a["observed_at"] <= a["created_at"] for a in awards)
    return awards


async def test_awards_scored_offline_post_once_each_when_the_signal_returns(
    phone: Phone, field: Field
) -> None:
    base, households = phone.base, field.households
    sheet_id = await field.open_sheet(days_ago=1)
    before = await field.api("GET", f"/households/{households[0]['id']}/balance", field.admin)
    page = await _ready_offline(phone, sheet_id)

    for n, household in enumerate(households[:5], start=1):
        await _award(page, base, household, field.plain, kept=n)
    await _award(page, base, households[5], field.capped, kept=6, quantity=2)  # 10 > the cap of 5 a day
    await _score_sheet(page, base, sheet_id, kept=7)
    await expect(page.locator("#outbox")).to_contain_text("现在没有网络")
    await phone.shot("seven-waiting-offline")

    await page.close()  # the phone's browser closed, and opened again later, still without signal
    page = phone.page = await phone.context.new_page()
    await page.goto(f"{base}/staff/households")
    await expect(page.locator("#outbox-count")).to_have_text("7")
    await expect(page.locator("#outbox li")).to_have_count(7)

    await phone.context.set_offline(False)
    await expect(page.locator("#outbox-count")).to_have_text("0")
    # the page loaded before the upload: the cadre is told what went and to look again
    await expect(page.locator("#outbox-sent")).to_contain_text("已上传 6 条评分。刷新本页 可看到最新积分。")
    refused = page.locator("#outbox li")
    await expect(refused).to_have_count(1)
    await expect(refused).to_contain_text("XF-006 杨志强：每日巡查 +5分 ×2")
    await expect(refused.locator(".error")).to_have_text("超出“每日巡查”的上限：今天最多 5 分，还可得 5 分")
    await phone.shot("one-refused-with-its-reason")

    expected = Counter(h["id"] for h in households) + Counter(h["id"] for h in households[:5])
    await _posted_once(field, expected)
    assert await field.awards(field.capped) == []
    after = await field.api("GET", f"/households/{households[0]['id']}/balance", field.admin)
    assert after["posted"] == before["posted"] + 4  # one award and one sheet score, +2 each
    verified = await field.api("GET", "/audit/verify", field.admin, params={"village_id": field.village_id})
    assert verified["ok"], verified

    await refused.get_by_role("button", name="删除").click()
    await expect(page.locator("#outbox")).to_be_hidden()


async def test_an_upload_cut_after_the_server_committed_is_replayed_not_posted_twice(
    phone: Phone, field: Field
) -> None:
    base, households = phone.base, field.households
    before = {a["id"] for a in await field.awards(field.plain)}
    sheet_id = await field.open_sheet(days_ago=2)
    page = await _ready_offline(phone, sheet_id)
    await _award(page, base, households[6], field.plain, kept=1)
    await _score_sheet(page, base, sheet_id, kept=2)
    await _award(page, base, households[7], field.plain, kept=3)

    cut: list[int] = []

    async def cut_the_sheets_answer(route: Route) -> None:
        """The sheet reaches the server, which commits it; its answer never reaches the phone."""
        if route.request.method == "POST" and not cut:
            answer = await route.fetch(max_redirects=0)
            cut.append(answer.status)
            await route.abort("connectionreset")
        else:
            await route.fallback()

    await phone.context.route(f"**/staff/inspections/{sheet_id}", cut_the_sheets_answer)
    await phone.context.set_offline(False)
    await expect(page.locator("#outbox-count")).to_have_text("0", timeout=20_000)
    await expect(page.locator("#outbox")).to_be_hidden()
    assert cut == [303]  # the server took the sheet the first time

    awards = await field.awards(field.plain)
    new = sorted((a for a in awards if a["id"] not in before), key=lambda a: a["created_at"])
    assert len(new) == 22
    assert len({a["transaction_id"] for a in new}) == 22
    # in the order they were scored: one award, the sheet's 20 (as one batch), the other award
    assert [a["household_id"] for a in (new[0], new[-1])] == [households[6]["id"], households[7]["id"]]
    assert Counter(a["household_id"] for a in new[1:-1]) == Counter(h["id"] for h in households)
    assert len({a["created_at"] for a in new[1:-1]}) == 1
    assert new[0]["created_at"] < new[1]["created_at"] < new[-1]["created_at"]


async def test_what_waits_is_sent_when_the_signal_returns_with_every_page_closed(
    phone: Phone, field: Field
) -> None:
    """Background Sync: the service worker posts the outbox by itself."""
    household = field.households[8]
    before = {a["id"] for a in await field.awards(field.plain)}
    page = await _ready_offline(phone, await field.open_sheet(days_ago=3))
    await _award(page, phone.base, household, field.plain, kept=1)
    await page.close()
    await phone.context.set_offline(False)
    for _ in range(50):
        new = [a for a in await field.awards(field.plain) if a["id"] not in before]
        if new:
            break
        await asyncio.sleep(0.2)
    assert [a["household_id"] for a in new] == [household["id"]]
    phone.page = page = await phone.context.new_page()
    await page.goto(f"{phone.base}/staff/households")
    await expect(page.locator("#outbox")).to_be_hidden()
