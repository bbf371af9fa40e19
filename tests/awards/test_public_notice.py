"""Public notice (公示): awards wait out the village's notice period; objections; the due job posts once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from jifen.awards.notice import run_due
from jifen.kit.timeutil import utcnow
from jifen.models import Role
from jifen.settings import Settings
from jifen.users.schemas import RoleGrantIn
from tests.factories import VillageSetup, World
from tests.helpers import assert_error
from tests.ledger.helpers import award, balance, make_rule


async def noticed_village(world: World, days: int = 3) -> VillageSetup:
    setup = await world.setup_village(households=3)
    response = await world.call(
        "PATCH", f"/villages/{setup.village.id}", setup.people["village_admin"], json={"notice_days": days}
    )
    assert response.status_code == 200, response.text
    assert response.json()["notice_days"] == days
    return setup


async def test_an_award_waits_out_its_notice_and_a_deduction_holds_at_once(
    world: World, app: FastAPI
) -> None:
    setup = await noticed_village(world)
    cadre, admin = setup.people["cadre"], setup.people["village_admin"]
    household = setup.households[1]
    start = await make_rule(world, setup, 10)
    # an opening balance, before the village turned notice on
    plus = await make_rule(world, setup, 20)
    minus = await make_rule(world, setup, -5)

    first = (await award(world, cadre, household.id, plus)).json()
    assert first["status"] == "public_notice"
    assert first["transaction_id"] is None
    assert first["notice_until"]
    assert (await balance(world, admin, household.id))["posted"] == 0  # visible, not yet spendable
    assert await run_due(app.state.sessionmaker, now=utcnow() + timedelta(days=3, seconds=1)) == 1
    assert (await balance(world, admin, household.id))["posted"] == 20

    deduction = (await award(world, cadre, household.id, minus)).json()
    assert deduction["status"] == "public_notice"
    held = await balance(world, admin, household.id)
    assert (held["posted"], held["held"], held["available"]) == (20, 5, 15)
    assert await run_due(app.state.sessionmaker, now=utcnow() + timedelta(days=2)) == 0  # not yet
    assert await run_due(app.state.sessionmaker, now=utcnow() + timedelta(days=4)) == 1
    after = await balance(world, admin, household.id)
    assert (after["posted"], after["held"], after["available"]) == (15, 0, 15)
    assert start  # the rule without awards stays unused
    fetched = (await world.call("GET", f"/awards/{deduction['id']}", admin)).json()
    assert fetched["status"] == "posted"
    assert fetched["transaction_id"]


@pytest.mark.parametrize(
    ("outcome", "points", "expected"), [("upheld", None, 20), ("revised", 12, 12), ("revoked", None, 0)]
)
async def test_an_objection_stops_the_clock_until_a_reviewer_resolves_it(
    world: World, app: FastAPI, outcome: str, points: int | None, expected: int
) -> None:
    setup = await noticed_village(world)
    cadre, reviewer, admin = setup.people["cadre"], setup.people["reviewer"], setup.people["village_admin"]
    household = setup.households[1]
    plus = await make_rule(world, setup, 20)
    pending = (await award(world, cadre, household.id, plus)).json()

    objection = await world.call(
        "POST",
        f"/awards/{pending['id']}/objections",
        setup.people["villager"],
        json={"reason": "他家门前并不干净"},
    )
    assert objection.status_code == 201, objection.text
    assert objection.json()["status"] == "open"
    # the period ends, but an open objection holds the award back
    assert await run_due(app.state.sessionmaker, now=utcnow() + timedelta(days=5)) == 0
    assert (await balance(world, admin, household.id))["posted"] == 0

    body: dict[str, Any] = {"outcome": outcome, "reason": "复核后决定"}
    if points is not None:
        body["points"] = points
    resolved = await world.call("POST", f"/awards/{pending['id']}/resolve", reviewer, json=body)
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["status"] == ("revoked" if outcome == "revoked" else "posted")
    assert (await balance(world, admin, household.id))["posted"] == expected
    again = await world.call("POST", f"/awards/{pending['id']}/resolve", reviewer, json=body)
    assert_error(again, 409, "no_open_objection")


async def test_a_revoked_deduction_releases_its_hold(world: World) -> None:
    setup = await world.setup_village(households=2)
    cadre, reviewer, admin = setup.people["cadre"], setup.people["reviewer"], setup.people["village_admin"]
    household = setup.households[1]
    plus = await make_rule(world, setup, 30)
    minus = await make_rule(world, setup, -8)
    assert (await award(world, cadre, household.id, plus)).status_code == 201
    await world.call("PATCH", f"/villages/{setup.village.id}", admin, json={"notice_days": 2})
    deduction = (await award(world, cadre, household.id, minus)).json()
    assert (await balance(world, admin, household.id))["available"] == 22
    objected = await world.call(
        "POST",
        f"/awards/{deduction['id']}/objections",
        setup.people["villager"],
        json={"reason": "鸡不是他家的"},
    )
    assert objected.status_code == 201
    revoked = await world.call(
        "POST",
        f"/awards/{deduction['id']}/resolve",
        reviewer,
        json={"outcome": "revoked", "reason": "查实无误扣"},
    )
    assert revoked.json()["status"] == "revoked"
    assert await balance(world, admin, household.id) == {
        "household_id": str(household.id),
        "posted": 30,
        "held": 0,
        "available": 30,
        "lifetime_earned": 30,
    }


async def test_objections_close_with_the_notice_and_stay_inside_the_village(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = await noticed_village(world, days=1)
    cadre = setup.people["cadre"]
    plus = await make_rule(world, setup, 10)
    pending = (await award(world, cadre, setup.households[1].id, plus)).json()
    path = f"/awards/{pending['id']}/objections"
    other = await world.village()
    stranger = await world.person(
        RoleGrantIn(role=Role.villager, village_id=other.id, household_id=(await world.household(other)).id)
    )
    assert_error(await world.call("POST", path, stranger, json={"reason": "x"}), 404, "not_found")
    assert_error(await world.call("POST", path, None, json={"reason": "x"}), 401, "not_authenticated")
    later = utcnow() + timedelta(days=1, seconds=1)
    monkeypatch.setattr("jifen.awards.notice.utcnow", lambda: later)
    assert_error(
        await world.call("POST", path, setup.people["villager"], json={"reason": "晚了"}),
        409,
        "notice_closed",
    )
    assert (
        await world.call(
            "POST",
            f"/awards/{pending['id']}/resolve",
            setup.people["cadre"],
            json={"outcome": "upheld", "reason": "x"},
        )
    ).status_code == 403


async def test_two_processes_racing_the_due_job_post_each_award_once(
    world: World, app: FastAPI, settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests.test_cli import JIFEN, _env, _run

    setup = await noticed_village(world, days=1)
    cadre, admin = setup.people["cadre"], setup.people["village_admin"]
    plus = await make_rule(world, setup, 3)
    # awards noticed two days ago: their notice has ended
    past = utcnow() - timedelta(days=2)
    monkeypatch.setattr("jifen.awards.service.utcnow", lambda: past)
    items = [{"household_id": str(h.id), "rule_id": plus["id"]} for h in setup.households for _ in range(10)]
    from tests.ledger.helpers import key

    batch = await world.call("POST", "/awards/batch", cadre, json={"items": items}, headers=key())
    assert batch.status_code == 201, batch.text
    env = _env(settings, tmp_path)
    first, second, in_process = await asyncio.gather(
        _run(str(JIFEN), "jobs", "run", env=env),
        _run(str(JIFEN), "jobs", "run", env=env),
        run_due(app.state.sessionmaker),
    )
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    counted = [int(r.stdout.strip().rsplit(" ", 1)[-1]) for r in (first, second)]
    assert sum(counted) + in_process == len(items)
    for household in setup.households:
        assert (await balance(world, admin, household.id))["posted"] == 30
