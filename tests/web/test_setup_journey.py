"""A village goes live from nothing, in headless Chromium against a real server: the town admin opens the
village with its first admin, who signs in with the one-time password, chooses their own, uploads the sample
roll of 500 households (sees the bad rows, fixes nothing), confirms the good ones, and finds the checklist
with the roll done. Each step is photographed on a 390×844 phone and a 1280×800 desk, and checked for
accessibility; the server's share of the journey (time to the first byte of every answer) is measured.

Screenshots: test-artifacts/screenshots/village_goes_live/."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Request, expect

from tests.web.browser import SHOTS, Phone

pytestmark = pytest.mark.browser

SAMPLE = Path(__file__).resolve().parents[2] / "docs" / "samples" / "roll-500.xlsx"
DESK = {"width": 1280, "height": 800}
SERVER_SECONDS = 10.0


@pytest.fixture
async def phone(browser: Browser, live_server: str, request: pytest.FixtureRequest) -> AsyncIterator[Phone]:
    device = await Phone(browser, live_server, request.node.name.removeprefix("test_")).open()
    yield device
    await device.close()


async def _both(phone: Phone, name: str) -> None:
    """The step on the phone (checked for accessibility) and on a desk."""
    path = await phone.shot(name)
    await phone.page.set_viewport_size(DESK)
    try:
        await phone.page.screenshot(path=str(path.with_name(path.stem + "-desk.png")), full_page=True)
    finally:
        await phone.page.set_viewport_size({"width": 390, "height": 844})


async def test_village_goes_live(phone: Phone) -> None:
    page = phone.page
    waited: list[float] = []

    def timed(request: Request) -> None:
        timing = request.timing
        if timing["responseStart"] > 0 and timing["requestStart"] >= 0:
            waited.append((timing["responseStart"] - timing["requestStart"]) / 1000)

    page.on("requestfinished", timed)

    await phone.login("town")
    await phone.go("/town/setup")
    await page.get_by_label("村编号").fill("LIVE")
    await page.get_by_label("村名").fill("新风村")
    await page.get_by_label("村管理员登录名").fill("live-admin")
    await _both(phone, "town-opens-a-village")
    await page.get_by_role("button", name="开通").click()
    await expect(page.get_by_role("heading", name="新村已开通")).to_be_visible()
    password = (await page.locator("#one-time-password").inner_text()).strip()
    await _both(phone, "one-time-password")
    await page.get_by_role("button", name="退出").click()

    await phone.login("live-admin", password)
    await expect(page).to_have_url(re.compile(r"/password"))
    await page.get_by_label("原密码").fill(password)
    await page.get_by_label("新密码（至少").fill("xinfeng-2026-admin")
    await page.get_by_label("再输入一次新密码").fill("xinfeng-2026-admin")
    await _both(phone, "admin-chooses-a-password")
    await page.get_by_role("button", name="保存新密码").click()

    await phone.go("/admin/import")
    await expect(page.get_by_role("heading", name="开通清单")).to_be_visible()
    await _both(phone, "checklist-and-upload")
    await page.get_by_label("花名册文件").set_input_files(str(SAMPLE))
    await page.get_by_role("button", name="上传并预览").click()
    await expect(page.get_by_role("heading", name="核对花名册")).to_be_visible()
    await expect(page.get_by_text("缺少户号")).to_be_visible()
    await _both(phone, "preview-with-bad-rows")
    await page.get_by_role("button", name=re.compile("确认导入：新增 499 户")).click()
    await expect(page.get_by_text("花名册已导入：新增 499 户，修改 0 户")).to_be_visible()
    await expect(page.get_by_text("✓ 已完成")).to_have_count(1)  # the roll; the rest is still to do
    await _both(phone, "imported")

    assert sum(waited) < SERVER_SECONDS, f"server time {sum(waited):.1f} s over {len(waited)} answers"
    assert len(list((SHOTS / "village_goes_live").glob("*-desk.png"))) == 6
