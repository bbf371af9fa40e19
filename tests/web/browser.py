"""Helpers for the journeys: a phone-sized page signed in as one of the demo logins, and screenshots."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, expect

from jifen.demo import DEMO_PASSWORD

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}


@dataclass
class Phone:
    """One person's phone: a browser context of its own (cookies), 390×844, zh-CN, Asia/Shanghai."""

    browser: Browser
    base: str
    journey: str
    context: BrowserContext = field(init=False)
    page: Page = field(init=False)
    shots: int = 0
    csp_violations: list[str] = field(default_factory=list)

    async def open(self) -> Phone:
        self.context = await self.browser.new_context(
            viewport=PHONE, device_scale_factor=1, locale="zh-CN", timezone_id="Asia/Shanghai"
        )
        self.context.set_default_timeout(15_000)
        # every Content-Security-Policy violation (a blocked inline script, style or handler) is reported
        await self.context.add_init_script(
            "document.addEventListener('securitypolicyviolation', (e) => console.error("
            "'CSP violation: ' + e.violatedDirective + ' ' + (e.blockedURI || 'inline')));"
        )
        self.page = await self.context.new_page()
        self.page.on("console", self._console)
        (SHOTS / self.journey).mkdir(parents=True, exist_ok=True)
        for old in (SHOTS / self.journey).glob("*.png"):
            old.unlink()
        return self

    def _console(self, message: ConsoleMessage) -> None:
        text = message.text
        if "CSP violation" in text or "Content Security Policy" in text:
            self.csp_violations.append(f"{self.page.url}: {text}")

    async def go(self, path: str) -> Page:
        response = await self.page.goto(self.base + path)
        assert response is not None, path
        assert response.status < 500, path
        return self.page

    async def login(self, username: str, password: str = DEMO_PASSWORD) -> Page:
        await self.go("/login")
        await self.page.get_by_label("用户名").fill(username)
        await self.page.get_by_label("密码").fill(password)
        await self.page.get_by_role("button", name="登录").click()
        await expect(self.page).not_to_have_url(re.compile(r"/login"))
        return self.page

    async def shot(self, name: str) -> Path:
        self.shots += 1
        path = SHOTS / self.journey / f"{self.shots:02d}-{name}.png"
        await self.page.wait_for_load_state("networkidle")  # photos and the like are in the picture
        await self.page.screenshot(path=str(path), full_page=True)
        return path

    async def close(self) -> None:
        await self.context.close()
        assert self.csp_violations == [], self.csp_violations
