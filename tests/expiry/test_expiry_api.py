"""Expiry (清零) through the API: the policy and its history, refusals, the yearly clearing at the village's
midnight with a carry-over cap, held points, the preview and the household's own view."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from fastapi import FastAPI

from jifen.auth.actor import console_actor
from jifen.expiry.service import run_due
from jifen.ledger import service as ledger
from jifen.settings import Settings
from tests.expiry.helpers import backdate, db_now, local, set_policy
from tests.factories import World
from tests.helpers import assert_error
from tests.ledger.helpers import award, balance, make_rule


class Clock:
    """The expiry code's clock (policies take effect at it; the preview looks ahead from it)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, start: datetime) -> None:
        self.now = start
        monkeypatch.setattr("jifen.expiry.service.utcnow", lambda: self.now)


async def test_policy_is_set_by_the_admin_read_by_the_village_and_kept_as_history(world: World) -> None:
    setup = await world.setup_village()
    admin, villager, cadre = (setup.people[r] for r in ("village_admin", "villager", "cadre"))
    path = f"/villages/{setup.village.id}/expiry-policy"

    default = await world.call("GET", path, villager)
    assert default.status_code == 200, default.text
    assert default.json()["mode"] == "none"
    assert default.json()["id"] is None
    assert default.json()["summary"] == "积分长期有效，不清零"

    yearly = await set_policy(
        world, admin, setup.village.id, mode="yearly", clearing_date="12-31", carry_over_cap=50
    )
    assert yearly.status_code == 200, yearly.text
    body = yearly.json()
    assert (body["mode"], body["clearing_date"], body["carry_over_cap"]) == ("yearly", "12-31", 50)
    assert body["summary"] == "每年 12 月 31 日结束时清零（超过部分清零，最多结转 50 分）"
    assert body["next_cutoff"].endswith("+00:00") or body["next_cutoff"].endswith("Z")
    assert datetime.fromisoformat(body["next_cutoff"]).astimezone(local("2026-01-01 00:00").tzinfo) == local(
        "2027-01-01 00:00:00"
    )

    rolling = await set_policy(
        world, admin, setup.village.id, mode="rolling", months=12, reason="改为滚动有效期"
    )
    assert rolling.status_code == 200, rolling.text
    seen = (await world.call("GET", path, villager)).json()
    assert (seen["mode"], seen["months"], seen["reason"]) == ("rolling", 12, "改为滚动有效期")
    assert seen["summary"] == "每笔积分自获得之日起 12 个月内有效，先得先用，到期清零"

    history = await world.call("GET", f"{path}/history?limit=1", cadre)
    assert history.status_code == 200, history.text
    first = history.json()
    assert [i["mode"] for i in first["items"]] == ["rolling"]
    second = (await world.call("GET", f"{path}/history?limit=1&cursor={first['next_cursor']}", cadre)).json()
    assert [i["mode"] for i in second["items"]] == ["yearly"]
    assert second["items"][0]["actor_id"] == str(admin.id)
    assert second["next_cursor"] is None

    audit = await world.call("GET", f"/audit?village_id={setup.village.id}&action=expiry_policy.set", admin)
    assert audit.status_code == 200, audit.text
    assert len(audit.json()["items"]) == 2


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"mode": "yearly"}, "需要填写清零日期"),
        ({"mode": "yearly", "clearing_date": "13-01"}, "月份 13 不存在"),
        ({"mode": "yearly", "clearing_date": "04-31"}, "4 月没有 31 日"),
        ({"mode": "yearly", "clearing_date": "02-29"}, "2 月 29 日不是每年都有"),
        ({"mode": "yearly", "clearing_date": "12/31"}, "格式应为"),
        ({"mode": "yearly", "clearing_date": "12-31", "carry_over_cap": -1}, "结转上限"),
        ({"mode": "yearly", "clearing_date": "12-31", "months": 12}, "不填写有效月数"),
        ({"mode": "rolling"}, "1 到 120"),
        ({"mode": "rolling", "months": 0}, "1 到 120"),
        ({"mode": "rolling", "months": 121}, "1 到 120"),
        ({"mode": "rolling", "months": 12, "carry_over_cap": 5}, "不填写清零日期或结转上限"),
        ({"mode": "none", "months": 12}, "不能填写"),
    ],
)
async def test_bad_policies_are_refused_in_chinese_and_change_nothing(
    world: World, body: dict[str, Any], fragment: str
) -> None:
    setup = await world.setup_village(households=1)
    admin = setup.people["village_admin"]
    refused = assert_error(
        await set_policy(world, admin, setup.village.id, **body), 422, "invalid_expiry_policy"
    )
    assert fragment in refused["detail"], refused
    current = (await world.call("GET", f"/villages/{setup.village.id}/expiry-policy", admin)).json()
    assert current["mode"] == "none"


async def test_malformed_bodies_and_other_roles_are_refused(world: World) -> None:
    setup = await world.setup_village(households=1)
    admin, cadre = setup.people["village_admin"], setup.people["cadre"]
    vid = setup.village.id
    assert_error(await set_policy(world, admin, vid, mode="monthly"), 422, "validation_error")
    assert_error(
        await set_policy(world, admin, vid, mode="rolling", months="twelve"), 422, "validation_error"
    )
    assert_error(
        await world.call("PUT", f"/villages/{vid}/expiry-policy", admin, json={"mode": "none"}),
        422,
        "validation_error",
    )  # a reason is required
    assert_error(await set_policy(world, cadre, vid, mode="none"), 403, "forbidden")
    town = await world.town_admin()
    assert_error(await set_policy(world, town, vid, mode="none"), 403, "forbidden")
    bad = await world.call("GET", f"/villages/{vid}/expiry/preview?until=2020-01-01", admin)
    assert_error(bad, 422, "invalid_preview_range")


async def test_yearly_clearing_at_the_village_midnight_keeps_the_carry_over_cap(
    world: World, app: FastAPI, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = await world.setup_village(households=3)
    admin, cadre, villager = (setup.people[r] for r in ("village_admin", "cadre", "villager"))
    rich, poor, late = setup.households
    rule = await make_rule(world, setup, 10)
    clock = Clock(monkeypatch, local("2026-06-01 09:00:00"))
    policy = await set_policy(
        world, admin, setup.village.id, mode="yearly", clearing_date="12-31", carry_over_cap=50
    )
    assert policy.status_code == 200, policy.text

    mark = await db_now(settings)
    assert (await award(world, cadre, rich.id, rule, 12)).status_code == 201  # 120
    assert (await award(world, cadre, poor.id, rule, 3)).status_code == 201  # 30: under the cap
    assert (await award(world, cadre, late.id, rule, 8)).status_code == 201  # 80
    await backdate(settings, setup.village.id, mark, local("2026-10-01 10:00:00"))

    # the advance notice: a month before, the preview names who loses what at the village's midnight
    clock.now = local("2026-12-01 08:00:00")
    preview = await world.call("GET", f"/villages/{setup.village.id}/expiry/preview?until=2026-12-31", admin)
    assert preview.status_code == 200, preview.text
    rows = {r["code"]: r for r in preview.json()["items"]}
    assert {code: r["amount"] for code, r in rows.items()} == {rich.code: 70, late.code: 30}
    assert rows[rich.code]["expires_on"] == "2026-12-31"
    assert rows[rich.code]["head_name"] == rich.head_name
    assert datetime.fromisoformat(rows[rich.code]["expires_at"]) == local("2027-01-01 00:00:00")
    nothing_yet = await world.call(
        "GET", f"/villages/{setup.village.id}/expiry/preview?until=2026-12-30", admin
    )
    assert nothing_yet.json()["items"] == []
    own = await world.call("GET", f"/households/{rich.id}/expiring?until=2027-01-31", villager)
    assert own.status_code == 200, own.text
    assert own.json()["expiring"] == [
        {
            "amount": 70,
            "expires_at": own.json()["expiring"][0]["expires_at"],
            "expires_on": "2026-12-31",
            "notice": "70 积分将于 2026-12-31 后清零",
        }
    ]

    # points earned in the first second of the new year are not part of the old year
    mark = await db_now(settings)
    assert (await award(world, cadre, late.id, rule, 1)).status_code == 201
    await backdate(settings, setup.village.id, mark, local("2027-01-01 00:00:01"))

    # 23:59:59 on 12-31 in the village (15:59:59 UTC): nothing yet
    assert await run_due(app.state.sessionmaker, now=local("2026-12-31 23:59:59")) == 0
    assert (await balance(world, admin, rich.id))["posted"] == 120
    # midnight in the village: the clearing, once
    assert await run_due(app.state.sessionmaker, now=local("2027-01-01 00:00:00")) == 2
    assert await run_due(app.state.sessionmaker, now=local("2027-01-01 00:00:05")) == 0
    assert await run_due(app.state.sessionmaker, now=local("2027-06-01 00:00:00")) == 0
    assert (await balance(world, admin, rich.id))["posted"] == 50
    assert (await balance(world, admin, poor.id))["posted"] == 30
    assert (await balance(world, admin, late.id))["posted"] == 50 + 10
    entries = (await world.call("GET", f"/households/{rich.id}/entries", villager)).json()["items"]
    assert (entries[0]["kind"], entries[0]["amount"]) == ("expiry", -70)
    assert entries[0]["memo"] == "2026-12-31 年度积分清零，结转上限 50 分"

    # the next year: the carried-over 50 and the 10 from January clear above the cap once more
    clock.now = local("2027-12-01 00:00:00")
    again = await world.call("GET", f"/villages/{setup.village.id}/expiry/preview?until=2027-12-31", admin)
    assert {r["code"]: r["amount"] for r in again.json()["items"]} == {late.code: 10}
    assert await run_due(app.state.sessionmaker, now=local("2028-01-01 00:00:00")) == 1
    assert (await balance(world, admin, late.id))["posted"] == 50


async def test_held_points_never_expire_below_zero_and_are_collected_once_released(
    world: World, app: FastAPI, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = await world.setup_village(households=2)
    admin, cadre = setup.people["village_admin"], setup.people["cadre"]
    released_one, spent_one = setup.households
    rule = await make_rule(world, setup, 10)
    Clock(monkeypatch, local("2026-06-01 09:00:00"))
    assert (
        await set_policy(world, admin, setup.village.id, mode="yearly", clearing_date="12-31")
    ).status_code == 200
    mark = await db_now(settings)
    for household in setup.households:
        assert (await award(world, cadre, household.id, rule, 8)).status_code == 201  # 80 each
    await backdate(settings, setup.village.id, mark, local("2026-10-01 10:00:00"))
    holds = {}
    async with app.state.sessionmaker() as session, session.begin():
        for household in setup.households:
            holds[household.id] = await ledger.place_hold(
                session,
                console_actor(),
                ledger.HoldTerms(village_id=setup.village.id, household_id=household.id, amount=60),
            )

    # at the clearing only what is not held goes: 20 each; available is 0, never below
    assert await run_due(app.state.sessionmaker, now=local("2027-01-01 00:00:00")) == 2
    for household in setup.households:
        after = await balance(world, admin, household.id)
        assert (after["posted"], after["held"], after["available"]) == (60, 60, 0)

    async with app.state.sessionmaker() as session, session.begin():
        holds = {h: await session.merge(hold) for h, hold in holds.items()}
        # one reservation lapses (its points come back: they are old points, due since the clearing) ...
        await ledger.release_hold(session, console_actor(), holds[released_one.id])
        # ... the other is spent at the counter
        store = (await ledger.system_accounts(session, setup.village.id))[ledger.AccountKind.deductions]
        await ledger.capture_hold(
            session,
            console_actor(),
            holds[spent_one.id],
            ledger.Draft(
                kind=ledger.TransactionKind.redemption,
                lines=[ledger.Line(spent_one.id, -60), ledger.Line(store, 60)],
                memo="兑换",
            ),
        )
    assert await run_due(app.state.sessionmaker, now=local("2027-01-01 00:10:00")) == 1
    assert await run_due(app.state.sessionmaker, now=local("2027-01-01 00:20:00")) == 0
    assert (await balance(world, admin, released_one.id))["posted"] == 0
    assert (await balance(world, admin, spent_one.id))["posted"] == 0
    entries = (await world.call("GET", f"/households/{released_one.id}/entries", admin)).json()["items"]
    assert [(e["kind"], e["amount"]) for e in entries[:2]] == [("expiry", -60), ("expiry", -20)]
    assert entries[0]["memo"].endswith("（冻结释放后补清）")


async def test_a_new_policy_never_expires_what_was_due_before_it(
    world: World, app: FastAPI, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = await world.setup_village(households=1)
    admin, cadre = setup.people["village_admin"], setup.people["cadre"]
    household = setup.households[0]
    rule = await make_rule(world, setup, 10)
    mark = await db_now(settings)
    assert (await award(world, cadre, household.id, rule, 5)).status_code == 201
    await backdate(settings, setup.village.id, mark, local("2024-03-01 10:00:00"))  # long past 12 months
    clock = Clock(monkeypatch, local("2026-06-01 09:00:00"))
    assert (await set_policy(world, admin, setup.village.id, mode="rolling", months=12)).status_code == 200
    # the points were past 12 months before the policy existed: nothing happens on the day it is set ...
    assert await run_due(app.state.sessionmaker, now=local("2026-06-01 23:59:59")) == 0
    # ... the preview gives the village notice that they go at its first midnight
    preview = await world.call("GET", f"/villages/{setup.village.id}/expiry/preview?until=2026-06-02", admin)
    assert [(r["amount"], r["expires_on"]) for r in preview.json()["items"]] == [(50, "2026-06-01")]
    clock.now = local("2026-06-02 00:00:00")
    assert await run_due(app.state.sessionmaker, now=clock.now) == 1
    assert (await balance(world, admin, household.id))["posted"] == 0
