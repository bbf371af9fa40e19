"""Helpers for the journeys: a phone-sized page signed in as one of the demo logins, screenshots, and the
accessibility checks (axe-core and what an older villager trips over) run on every page a journey shows."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, expect

from jifen.demo import DEMO_PASSWORD

ROOT = Path(__file__).resolve().parents[2]
# where the journeys' screenshots go (git ignores the default; `make screenshots` sets docs/screenshots)
SHOTS = Path(os.environ.get("JIFEN_SCREENSHOTS") or ROOT / "test-artifacts" / "screenshots")
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
    accessibility: list[str] = field(default_factory=list)

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

    async def shot(self, name: str, *, check: bool = True, full_page: bool = True) -> Path:
        """A screenshot of what the phone shows (the whole page, or what is in view), after checking it."""
        self.shots += 1
        path = SHOTS / self.journey / f"{self.shots:02d}-{name}.png"
        await self.page.wait_for_load_state("networkidle")  # photos and the like are in the picture
        if check:
            await self.check(name)
        await self.page.screenshot(path=str(path), full_page=full_page)
        return path

    async def check(self, name: str) -> None:
        """Run the accessibility checks on the page as it is now; `close` fails listing all they found."""
        where = self.page.url.removeprefix(self.base)
        self.accessibility += [
            f"{where} [{name}] {problem}" for problem in await accessibility_problems(self.page)
        ]

    async def close(self) -> None:
        await self.context.close()
        assert self.csp_violations == [], self.csp_violations
        assert self.accessibility == [], "\n".join(["accessibility problems:", *self.accessibility])


# --- what an older villager trips over, checked on every page a journey visits ---------------------------

# axe-core from the PyPI package axe-playwright-python (pinned in uv.lock), which ships axe.min.js
AXE_SCRIPT = (resources.files("axe_playwright_python") / "axe.min.js").read_text(encoding="utf-8")
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
NARROW = {"width": 320, "height": 640}  # the narrowest phone still sold: nothing may scroll sideways
TAP = 44  # px, a fingertip (WCAG 2.5.5): tabs, buttons, 退出, links in lists and tables

# layout_checks.js: tap targets, <h1>, 16 px table headers and badges, legible disabled buttons, the tab bar,
# chart text of at least 14 px as the chart is scaled to its box.
# The tap-target rule: every visible a[href], button, input[type=submit], summary and select is at least
# 44×44 px, except an inline link inside running text (an `a` displayed inline whose nearest <p> has words
# besides the link — WCAG 2.5.8's inline exception); a link alone in its paragraph, in a list item or a table
# cell is a target and must be 44×44.
LAYOUT_CHECKS = (Path(__file__).parent / "layout_checks.js").read_text(encoding="utf-8")

SIDEWAYS = """() => {
  const page = document.scrollingElement, width = page.clientWidth;
  if (page.scrollWidth <= width) return [];
  const right = (el) => el.getBoundingClientRect().right;
  const wide = [...document.querySelectorAll('body *')]
    .filter((el) => right(el) > width + 0.5 && right(el.parentElement) <= width + 0.5)  // the outermost
    .slice(0, 5)
    .map((el) => `<${el.tagName.toLowerCase()} class="${el.className}"> ${Math.round(right(el))} px`);
  return [`scrolls sideways at 320 px (${page.scrollWidth} > ${width}): ${wide.join('; ')}`];
}"""


async def accessibility_problems(page: Page) -> list[str]:
    """What axe-core (WCAG 2 A and AA) and the checks above find on the page as it is now, one line each."""
    if not await page.evaluate("() => typeof window.axe !== 'undefined'"):
        await page.evaluate(AXE_SCRIPT)  # Playwright's evaluate is not subject to the page's CSP
    results: dict[str, Any] = await page.evaluate(
        "(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        WCAG_TAGS,
    )
    problems = [
        f"axe {v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(" ".join(node["target"]) for node in v["nodes"][:5])
        for v in results["violations"]
    ]
    problems += await page.evaluate(LAYOUT_CHECKS, TAP)
    viewport = page.viewport_size
    await page.set_viewport_size(NARROW)
    try:
        problems += await page.evaluate(SIDEWAYS)
    finally:
        await page.set_viewport_size(viewport or PHONE)
    return problems
