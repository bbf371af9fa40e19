"""自主申报 from the villager's page is one transaction: the photos are kept with the report they came with,
or not at all, and a double tap files it once."""

from __future__ import annotations

import re

from fastapi import FastAPI
from sqlalchemy import text

from tests.awards.evidence_helpers import image_bytes
from tests.factories import World
from tests.ledger.helpers import make_rule
from tests.web.test_admin_pages import CSRF, KEY, browser

PROBLEM = re.compile(r'class="(?:banner bad|error)[^"]*"[^>]*>([^<]+)')


async def _count(app: FastAPI, table: str) -> int:
    async with app.state.sessionmaker() as session:
        return int((await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def test_a_refused_report_keeps_none_of_its_photos(world: World, app: FastAPI) -> None:
    setup = await world.setup_village()
    deduction = await make_rule(world, setup, -5)  # not a thing a villager may report of themselves
    async with browser(app, setup.people["villager"]) as villager:
        form = await villager.http.get("/me/report")
        refused = await villager.http.post(
            "/me/report",
            data={
                "csrf_token": CSRF.findall(form.text)[0],
                "idempotency_key": KEY.findall(form.text)[0],
                "rule_id": deduction["id"],
                "note": "帮邻居收玉米",
            },
            files=[
                ("photos", ("a.png", image_bytes(seed=1), "image/png")),
                ("photos", ("b.png", image_bytes(seed=2), "image/png")),
            ],
        )

    assert refused.status_code == 409, refused.text
    assert "自主申报只能申报加分项目" in refused.text  # the villager sees why, on the form
    assert await _count(app, "photos") == 0  # the two photos went with the refused report
    assert await _count(app, "awards") == 0


async def test_a_report_with_photos_is_filed_once_with_them(world: World, app: FastAPI) -> None:
    setup = await world.setup_village()
    rule = await make_rule(world, setup, 5)
    async with browser(app, setup.people["villager"]) as villager:
        form = await villager.http.get("/me/report")
        fields = {
            "csrf_token": CSRF.findall(form.text)[0],
            "idempotency_key": KEY.findall(form.text)[0],
            "rule_id": rule["id"],
            "note": "帮邻居收玉米",
        }
        photo = [("photos", ("a.png", image_bytes(seed=3), "image/png"))]
        first = await villager.http.post("/me/report", data=fields, files=photo)
        again = await villager.http.post("/me/report", data=fields, files=photo)  # a double tap
        shown = await villager.http.get("/me/report")

    assert (first.status_code, again.status_code) == (303, 303), PROBLEM.findall(again.text)
    assert await _count(app, "awards") == 1
    assert await _count(app, "award_photos") == 1
    assert "1 张照片" in shown.text
