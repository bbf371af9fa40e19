"""The village admin's money pages: funds received, the peg, settlement, and the expiry policy."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from tests.factories import World
from tests.web.test_admin_pages import KEY, browser

MONEY_PAGES = ["/admin/funding", "/admin/expiry"]


async def test_recording_a_fund_shows_in_the_overview_and_a_bad_amount_keeps_the_form(
    world: World, app: FastAPI
) -> None:
    setup = await world.setup_village()
    admin = setup.people["village_admin"]

    async with browser(app, admin) as page:
        opened = await page.get("/admin/funding")
        assert opened.status_code == 200
        assert "资金与结算" in opened.text
        key = KEY.findall(opened.text)[0]
        form = {
            "source": "donor",
            "source_name": "富民农业发展有限公司",
            "amount": "两千",
            "received_on": "2026-11-01",
            "idempotency_key": key,
        }
        bad = await page.post("/admin/funding/funds", form)
        assert bad.status_code == 422
        assert 'id="e-amount"' in bad.text
        assert "金额请填大于 0 的数字" in bad.text
        assert 'value="富民农业发展有限公司"' in bad.text

        first = await page.post("/admin/funding/funds", form | {"amount": "2000.50"})
        again = await page.post("/admin/funding/funds", form | {"amount": "2000.50"})  # a double tap
        assert (first.status_code, again.status_code) == (303, 303)
        shown = await page.get("/admin/funding")

    funds = await world.call("GET", f"/villages/{setup.village.id}/funds", admin)
    assert [f["amount_fen"] for f in funds.json()["items"]] == [200050]
    assert "¥2,000.50" in shown.text
    assert "富民农业发展有限公司" in shown.text


async def test_the_expiry_policy_form_checks_values_and_saves(world: World, app: FastAPI) -> None:
    setup = await world.setup_village()
    admin = setup.people["village_admin"]

    async with browser(app, admin) as page:
        opened = await page.get("/admin/expiry")
        assert opened.status_code == 200
        no_reason = await page.post("/admin/expiry", {"mode": "yearly", "clearing_date": "12-31"})
        assert no_reason.status_code == 422
        assert "请写明原因" in no_reason.text
        bad_date = await page.post(
            "/admin/expiry", {"mode": "yearly", "clearing_date": "02-30", "reason": "村民代表大会决议"}
        )
        assert bad_date.status_code == 422
        assert 'value="02-30"' in bad_date.text
        saved = await page.post(
            "/admin/expiry",
            {
                "mode": "yearly",
                "clearing_date": "12-31",
                "carry_over_cap": "50",
                "reason": "村民代表大会决议",
            },
        )
        assert saved.status_code == 303

    policy = await world.call("GET", f"/villages/{setup.village.id}/expiry-policy", admin)
    assert (policy.json()["mode"], policy.json()["clearing_date"], policy.json()["carry_over_cap"]) == (
        "yearly",
        "12-31",
        50,
    )


@pytest.mark.parametrize("role", ["villager", "clerk", "cadre", "reviewer"])
async def test_money_pages_are_refused_to_other_roles(world: World, app: FastAPI, role: str) -> None:
    setup = await world.setup_village()

    async with browser(app, setup.people[role]) as someone:
        for path in [*MONEY_PAGES, f"/admin/stores/{setup.store.id}/settlement"]:
            response = await someone.get(path)
            assert response.status_code == 403, (path, response.status_code)
        posted = await someone.post(
            "/admin/funding/funds",
            {"source": "town", "source_name": "镇", "amount": "100", "received_on": "2026-11-01"},
        )

    assert posted.status_code == 403
    funds = await world.call("GET", f"/villages/{setup.village.id}/funds", setup.people["village_admin"])
    assert funds.json()["items"] == []


async def test_a_settlement_report_renders_for_the_admin(world: World, app: FastAPI) -> None:
    setup = await world.setup_village()
    async with browser(app, setup.people["village_admin"]) as page:
        report = await page.get(f"/admin/stores/{setup.store.id}/settlement?period=2026-10")
        bad = await page.get(f"/admin/stores/{setup.store.id}/settlement?period=十月")
    assert report.status_code == 200
    assert "结算报表" in report.text
    assert bad.status_code == 422


async def test_voiding_a_fund_and_paying_a_store_go_through_once(world: World, app: FastAPI) -> None:
    setup = await world.setup_village()
    admin = setup.people["village_admin"]
    settlement = f"/admin/stores/{setup.store.id}/settlement"

    async with browser(app, admin) as page:
        opened = await page.get("/admin/funding")
        form = {"source": "town", "source_name": "镇人民政府", "amount": "500", "received_on": "2026-11-01"}
        recorded = await page.post(
            "/admin/funding/funds", form | {"idempotency_key": KEY.findall(opened.text)[0]}
        )
        [fund] = (await world.call("GET", f"/villages/{setup.village.id}/funds", admin)).json()["items"]
        voided = await page.post(f"/admin/funding/funds/{fund['id']}/void", {"reason": "金额记错了"})
        again = await page.post(f"/admin/funding/funds/{fund['id']}/void", {"reason": "金额记错了"})
        await page.get(f"{settlement}?period=2026-10")
        paid = {"period": "2026-10", "note": "十月结算", "idempotency_key": "settle-2026-10"}
        first = await page.post(settlement, paid)
        double_tap = await page.post(settlement, paid)

    assert (recorded.status_code, voided.status_code) == (303, 303)
    assert again.status_code == 409  # already voided: said next to the fund, nothing changes
    [shown] = (await world.call("GET", f"/villages/{setup.village.id}/funds", admin)).json()["items"]
    assert shown["voided"]["reason"] == "金额记错了"
    assert (first.status_code, double_tap.status_code) == (303, 303)
    assert first.headers["location"] == f"{settlement}?period=2026-10&done=settled"
    settlements = await world.call("GET", f"/stores/{setup.store.id}/settlements", admin)
    assert [s["note"] for s in settlements.json()["items"]] == ["十月结算"]
