"""Each role's main journey, end to end, in headless Chromium on a 390×844 phone against a real server with
the demo village. Screenshots land in test-artifacts/screenshots/<journey>/."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from playwright.async_api import Browser, Page, expect

from tests.web.browser import Phone, accessibility_problems

pytestmark = pytest.mark.browser


def _png() -> bytes:
    image = Image.new("RGB", (64, 48), (200, 160, 40))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
async def phone(browser: Browser, live_server: str, request: pytest.FixtureRequest) -> AsyncIterator[Phone]:
    device = await Phone(browser, live_server, request.node.name.removeprefix("test_")).open()
    yield device
    await device.close()


async def _double_post(page: Page, form_selector: str) -> list[str]:
    """Send the same form twice at once, as a double tap on a slow connection does; the final URLs."""
    urls: list[str] = await page.evaluate(
        """async (selector) => {
            const form = document.querySelector(selector);
            const body = () => new URLSearchParams(new FormData(form));
            const post = () => fetch(form.action, {method: 'POST', body: body()});
            const sent = await Promise.all([post(), post()]);
            return sent.map((r) => r.url + ' ' + r.status);
        }""",
        form_selector,
    )
    return urls


async def test_villager_checks_balance_objects_and_reserves(phone: Phone) -> None:
    page = await phone.login("villager")
    await expect(page).to_have_url(re.compile(r"/me$"))
    available = page.get_by_test_id("available")
    await expect(available).to_have_text(re.compile(r"^\d+$"))
    await expect(page.get_by_text("本月排名")).to_be_visible()
    assert int(await available.inner_text()) > 0
    await phone.shot("balance")

    await page.get_by_role("link", name="积分明细").first.click()
    await expect(page.get_by_role("heading", name="积分明细")).to_be_visible()
    assert await page.locator("tbody tr").count() >= 3
    await phone.shot("history")

    # the public notice board: an objection needs a reason, then it is filed
    await phone.go("/notices")
    await page.locator("summary", has_text="提出异议").first.click()
    await page.get_by_role("button", name="提交异议").first.click()
    await expect(page.locator(".error").first).to_have_text("请写明异议的理由")
    await phone.shot("objection-needs-reason")
    await page.get_by_label("异议理由").first.fill("这户门前其实已经清理干净了，请再核实")
    await page.get_by_role("button", name="提交异议").first.click()
    await expect(page.get_by_role("status")).to_contain_text("异议已提交")
    await expect(page.get_by_text("条异议待处理").first).to_be_visible()
    await phone.shot("objection-filed")

    # reserve soap in the store: a pickup code and its QR
    await phone.go("/me/store")
    # what cannot be reserved says why on its greyed-out button (the demo household cannot afford the oil)
    greyed = page.locator("button[disabled]")
    assert await greyed.count() >= 1
    for text in await greyed.all_inner_texts():
        assert text in ("积分不够", "已售完"), text
    await phone.shot("store")
    soap = page.locator("li", has_text="香皂")
    await soap.get_by_role("button", name="预约").click()
    await expect(page.get_by_text("取货码")).to_be_visible()
    code = await page.locator(".big").inner_text()
    assert re.fullmatch(r"\d{6}", code)
    assert await page.locator("svg").count() == 1
    await phone.shot("pickup-code")

    await phone.go("/me")
    await expect(page.get_by_text(code)).to_be_visible()  # the reservation waits on the first screen

    # report a good deed with a photo; a file that is not a photo is refused next to the field
    await phone.go("/me/report")
    note = "11月20日帮邻居张大爷收玉米"
    await page.get_by_label("申报事项 *").select_option(label="志愿服务（+10 分）")
    await page.get_by_label("做了什么 *").fill(note)
    await page.get_by_label(re.compile("照片")).set_input_files(
        files=[{"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": b"not really a photo"}]
    )
    await page.get_by_role("button", name="提交申报").click()
    await expect(page.locator("#e-photos")).to_contain_text("photo.jpg")
    await expect(page.get_by_label("做了什么 *")).to_have_value(note)
    await phone.shot("report-not-a-photo")
    await page.get_by_label(re.compile("照片")).set_input_files(
        files=[{"name": "corn.png", "mimeType": "image/png", "buffer": _png()}]
    )
    await page.get_by_role("button", name="提交申报").click()
    await expect(page.get_by_role("status")).to_contain_text("申报已提交")
    await expect(page.locator(".list li").first).to_contain_text("待审核")
    await expect(page.locator(".list li").first).to_contain_text("1 张照片")
    await phone.shot("report-filed")
    await phone.go("/me/card")
    await expect(page.get_by_text("XF-001")).to_be_visible()
    await phone.shot("household-card")


async def _on_notice(phone: Phone, household: str, rule: str) -> int:
    await phone.go("/notices")
    return await phone.page.locator(".card", has_text=household).filter(has_text=rule).count()


async def test_cadre_awards_and_scores_a_grid_inspection(phone: Phone) -> None:
    page = await phone.login("cadre")
    noticed = await _on_notice(phone, "XF-008", "垃圾分类")
    await phone.go("/staff/households")
    await page.get_by_label("户号或户主姓名").fill("XF-008")
    await page.get_by_role("button", name="查找").click()
    await page.get_by_role("link", name="评分", exact=True).first.click()
    await expect(page.get_by_role("heading", name=re.compile("XF-008"))).to_be_visible()
    await phone.shot("household")

    # bad input: a Chinese message next to the field, and what was typed stays
    rule = page.get_by_label("积分细则 *")
    sorting = await rule.locator("option", has_text="垃圾分类").first.get_attribute("value")
    assert sorting
    await expect(rule.locator("option", has_text="垃圾分类").first).to_contain_text("还可得")  # the cap left
    await rule.select_option(sorting)
    await page.get_by_label("次数").fill("两次")
    await page.get_by_label("说明（可不填）").fill("分类做得好")
    await page.get_by_role("button", name="提交").click()
    await expect(page.locator("#e-quantity")).to_have_text("次数请填 1 到 1000 的整数")
    await expect(page.get_by_label("说明（可不填）")).to_have_value("分类做得好")
    await expect(page.get_by_label("次数")).to_have_value("两次")
    await phone.shot("bad-quantity")

    await page.get_by_label("次数").fill("1")
    await page.get_by_role("button", name="提交").click()
    await expect(page.get_by_role("status")).to_contain_text(
        "提交成功：已进入公示"
    )  # the demo village has 3 days
    await phone.shot("awarded")
    household_url = page.url.split("?")[0]

    # a double tap posts once: two identical posts of one rendered form make one award
    await page.get_by_label("积分细则 *").select_option(sorting)
    results = await _double_post(page, "form.stack")
    assert all(r.endswith(" 200") and "done=public_notice" in r for r in results), results
    assert await _on_notice(phone, "XF-008", "垃圾分类") == noticed + 2
    await phone.shot("notice-board")
    await phone.go(household_url.removeprefix(phone.base))

    # the grid inspection sheet: households × rules, one submit
    await phone.go("/staff/inspections")
    await page.get_by_label("网格 *").select_option("第一网格")
    # the demo inspected every grid today; this sheet is for yesterday's walk
    yesterday = (datetime.now(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=1)).isoformat()
    await page.get_by_label("检查日期 *").fill(yesterday)
    await page.get_by_label(re.compile("门前三包")).first.check()
    await page.get_by_label(re.compile("乱堆乱放|乱扔垃圾|占道")).first.check()
    await phone.shot("inspection-new")
    await page.get_by_role("button", name="下一步：逐户打分").click()
    await expect(page.get_by_role("heading", name=re.compile("检查表"))).to_be_visible()
    cells = page.locator("input.qty")
    assert await cells.count() >= 10
    await cells.nth(0).fill("1")
    await cells.nth(2).fill("1")
    await cells.nth(5).fill("1")
    await phone.shot("inspection-sheet")
    await page.get_by_role("button", name="提交整张表").click()
    await expect(page.get_by_role("status")).to_contain_text("已提交，共 3 条")
    await phone.shot("inspection-submitted")


async def test_reviewer_approves_and_rejection_needs_a_reason(phone: Phone) -> None:
    page = await phone.login("reviewer")
    await expect(page).to_have_url(re.compile(r"/staff/reviews"))
    cards = page.locator(".card", has=page.get_by_role("button", name="通过"))
    waiting = await cards.count()
    assert waiting >= 1
    await phone.shot("queue")

    first = cards.first
    await first.locator("summary").click()
    await first.get_by_role("button", name="确认驳回").click()
    await expect(page.locator(".error").first).to_have_text("驳回时请写明理由")
    await phone.shot("reject-needs-reason")

    await cards.first.get_by_role("button", name="通过").click()
    await expect(page.get_by_role("status")).to_have_text("已审核通过")
    assert await page.locator(".card", has=page.get_by_role("button", name="通过")).count() == waiting - 1
    await phone.shot("approved")


async def test_clerk_sells_a_basket_prints_and_cancels(phone: Phone) -> None:
    page = await phone.login("clerk")
    await expect(page).to_have_url(re.compile(r"/counter$"))
    await page.get_by_label(re.compile("户号")).fill("xf-011")
    await page.get_by_role("button", name="查找农户").click()
    await expect(page.get_by_role("heading", name=re.compile("XF-011"))).to_be_visible()
    assert int(await page.locator("#available").inner_text()) >= 25

    # out of stock: the message sits next to the item, the basket is kept
    await page.get_by_label("大米").fill("500")
    await page.get_by_label("香皂").fill("2")
    await page.get_by_role("button", name="确认兑换").click()
    await expect(page.locator(".error").first).to_contain_text("库存不足")
    await expect(page.get_by_label("香皂")).to_have_value("2")
    await phone.shot("out-of-stock")

    await page.get_by_label("大米").fill("")
    await page.get_by_label("洗衣粉").fill("1")
    await expect(page.locator("#total")).to_have_text("25")
    await phone.shot("basket")
    await page.get_by_role("button", name="确认兑换").click()
    await expect(page.get_by_text("兑换小票")).to_be_visible()
    await expect(page.get_by_text("合计 25 分")).to_be_visible()
    await phone.shot("receipt")
    # the print button (app.js, no inline handler) opens the browser's print dialog
    await page.evaluate("() => { window.__printed = 0; window.print = () => { window.__printed += 1; }; }")
    await page.get_by_role("button", name="打印小票").click()
    assert await page.evaluate("window.__printed") == 1
    await page.emulate_media(media="print")
    await phone.shot("receipt-printed")
    await page.emulate_media(media="screen")

    await page.locator("summary", has_text="撤销这笔兑换").click()
    await page.get_by_role("button", name=re.compile("确认撤销")).click()
    await expect(page.locator("#e-reason")).to_have_text("请写明撤销的原因")
    await page.get_by_label("撤销原因 *").fill("村民拿错了商品")
    await page.get_by_role("button", name=re.compile("确认撤销")).click()
    await expect(page.get_by_role("status")).to_contain_text("已撤销")
    await expect(page.get_by_text("村民拿错了商品")).to_be_visible()
    await phone.shot("cancelled")

    # a double tap on 确认兑换 sells once
    await phone.go("/counter/sales")
    sales_before = await page.locator(".list li a").count()
    await phone.go("/counter?code=XF-011")
    await page.get_by_label("香皂").fill("1")
    results = await _double_post(page, "#basket")
    receipts = {r.split(" ")[0] for r in results}
    assert len(receipts) == 1, results
    assert "/counter/receipts/" in next(iter(receipts)), results
    await phone.go("/counter/sales")
    assert await page.locator(".list li a").count() == sales_before + 1
    await phone.shot("sales")


async def test_admin_creates_a_rule_and_restocks_an_item(phone: Phone) -> None:
    page = await phone.login("admin")
    await expect(page).to_have_url(re.compile(r"/admin$"))
    await phone.shot("dashboard")

    # a rule with points 0 is refused next to the field, and the form keeps what was typed
    await phone.go("/admin/rules")
    form = page.locator("form", has=page.get_by_role("button", name="添加细则"))
    await form.get_by_label(re.compile("编号")).fill("HJWS")
    await form.get_by_label(re.compile("名称")).fill("环境卫生示范户")
    await form.get_by_label(re.compile("分类")).fill("人居环境")
    await form.get_by_label(re.compile("分值")).fill("0")
    await form.get_by_role("button", name="添加细则").click()
    await expect(page.locator("#e-points")).to_be_visible()
    await expect(page.get_by_label(re.compile("名称")).last).to_have_value("环境卫生示范户")
    await phone.shot("rule-points-zero")
    form = page.locator("form", has=page.get_by_role("button", name="添加细则"))
    await form.get_by_label(re.compile("分值")).fill("12")
    await form.get_by_role("button", name="添加细则").click()
    await expect(page.get_by_text("环境卫生示范户").first).to_be_visible()
    await phone.shot("rule-created")

    # restock rice: the stock rises once even when the form is sent twice
    await phone.go("/admin/stores")
    await page.get_by_role("link", name="商品与库存").first.click()
    rice = page.locator(".card", has_text="大米").first
    before = int(await rice.locator(".stat").nth(1).inner_text())
    await rice.locator("summary", has_text="入库补货").click()
    await rice.get_by_label("入库数量 *").fill("10")
    await rice.get_by_label(re.compile("备注")).fill("镇里送来一批")
    await phone.shot("restock-form")
    item_form = rice.locator("form", has=page.get_by_role("button", name="确认入库"))
    form_id = await item_form.evaluate("f => (f.id = 'restock-rice')")
    results = await _double_post(page, f"#{form_id}")
    assert all(r.endswith(" 200") for r in results), results
    await page.reload()
    rice = page.locator(".card", has_text="大米").first
    assert int(await rice.locator(".stat").nth(1).inner_text()) == before + 10
    await phone.shot("restocked")


@pytest.mark.parametrize("username", ["villager", "cadre", "reviewer", "clerk", "admin", "town"])
async def test_every_tab_passes_the_accessibility_checks(phone: Phone, username: str) -> None:
    """Each role opens every tab of its bar (and the admin every page of 村务管理); each page passes axe-core
    (WCAG 2 A/AA) and the checks an older villager needs (see browser.py), at 390 px and at 320 px."""
    if username == "villager":  # the pages around the tabs: signing in, a refusal, the password
        await phone.go("/login")
        await phone.shot("login")
    page = await phone.login(username)
    if username == "villager":
        await phone.go("/admin")
        await phone.shot("refused")
        await phone.go("/password")
        await phone.shot("password")
    tabs = page.locator("nav.tabs a")
    hrefs = [str(await tabs.nth(i).get_attribute("href")) for i in range(await tabs.count())]
    assert hrefs
    if username == "admin":
        tiles = page.locator("nav.tiles a[href^='/admin/']")
        hrefs += [str(await tiles.nth(i).get_attribute("href")) for i in range(await tiles.count())]
    # pages reached from a page's body rather than the bar: 短信通知, the printable 本周积分变动
    hrefs += {"villager": ["/me/notify"], "cadre": ["/staff/weekly-notice"]}.get(username, [])
    visited: set[str] = set()
    for href in hrefs:
        if href in visited:
            continue
        visited.add(href)
        await phone.go(href)
        await phone.shot(href.strip("/").replace("/", "-") or "home")
        if href == "/rankings":
            # the 红榜 and 黑榜 stack in one column on a phone
            red, black = page.locator(".card", has_text="红榜"), page.locator(".card", has_text="黑榜")
            red_box, black_box = await red.bounding_box(), await black.bounding_box()
            assert red_box
            assert black_box
            assert black_box["y"] >= red_box["y"] + red_box["height"], (red_box, black_box)
    # one page deeper where a list leads on: a household, a store's goods, a receipt
    deeper = {
        "admin": [
            ("/admin/households", "/admin/households/"),
            ("/admin/stores", "/admin/stores/"),
            ("/admin/rules", "/admin/rules/"),
        ],
        "cadre": [("/staff/households", "/staff/households/")],
        "clerk": [("/counter/sales", "/counter/receipts/")],
    }
    for listing, leads_to in deeper.get(username, []):
        await phone.go(listing)
        await page.locator(f"main a[href^='{leads_to}']").first.click()
        await expect(page).to_have_url(re.compile(re.escape(leads_to)))
        await phone.shot(f"{listing.strip('/').replace('/', '-')}-one")


async def test_the_accessibility_checks_catch_what_they_look_for(phone: Phone) -> None:
    """The checks are not vacuous: a page with each fault is reported for each (set_content, no server)."""
    await phone.page.set_content(
        """<!doctype html><html lang="zh-CN"><head><meta name="viewport" content="width=device-width">
        <style>th { font-size:12px } button[disabled] { opacity:.5 }
        nav.tabs { display:flex; overflow-x:auto }
        nav.tabs a { padding:12px 40px; white-space:nowrap; min-height:44px }</style></head><body>
        <nav class="tabs"><a href="/me">我的积分</a><a href="/me/history">积分明细</a>
        <a href="/me/store">积分超市</a><a href="/me/card">户卡</a></nav>
        <main><h2>没有一级标题</h2><img src="/x.png"><ul><li><a href="/h/1">XF-001</a></li></ul>
        <p>正文里的 <a href="/rules">细则</a> 链接可以矮一些。</p>
        <table><tr><th>名次</th></tr></table><button disabled>预约</button>
        <div style="width:400px">宽</div>
        <svg class="chart" viewBox="0 0 640 40" width="100%" font-size="14"><title>小字的图</title>
        <text x="0" y="20">1月</text></svg></main></body></html>"""
    )
    found = "\n".join(await accessibility_problems(phone.page))
    assert "axe image-alt" in found
    assert "tap target" in found
    assert "XF-001" in found
    assert "细则" not in found  # an inline link inside running text is exempt
    assert "no visible <h1>" in found
    assert "px text (< 16)" in found
    assert "faint disabled button" in found
    assert "tab off screen: 户卡" in found
    assert "scrolls sideways at 320 px" in found
    assert "chart text 8." in found, "a chart drawn 640 wide shows 14-unit text at about 8 px on a phone"
