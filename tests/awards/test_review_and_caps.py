"""The award workflow: caps per household and local period, single and double review."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from jifen.models import Role
from jifen.users.schemas import RoleGrantIn
from tests.factories import World
from tests.helpers import assert_error
from tests.ledger.helpers import award, balance, key, make_rule

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(local: str) -> datetime:
    """A moment given in village time."""
    return datetime.fromisoformat(local).replace(tzinfo=SHANGHAI)


async def test_a_daily_cap_refuses_the_award_beyond_it_and_says_what_is_left(world: World) -> None:
    setup = await world.setup_village()
    cadre, admin = setup.people["cadre"], setup.people["village_admin"]
    household = setup.households[1]
    rule = await make_rule(world, setup, 15, cap={"count": 40, "period": "day"})
    assert (await award(world, cadre, household.id, rule, quantity=2)).status_code == 201
    refused = await award(world, cadre, household.id, rule, quantity=1)
    assert_error(refused, 409, "cap_exceeded")
    assert "还可得 10 分" in refused.json()["detail"]
    assert refused.json()["left"] == 10
    assert (await balance(world, admin, household.id))["posted"] == 30
    # another household has its own cap
    assert (await award(world, cadre, setup.households[2].id, rule, quantity=2)).status_code == 201
    # in a batch, the item that crosses the cap is named and nothing posts
    items = [{"household_id": str(setup.households[2].id), "rule_id": rule["id"]}]
    response = await world.call("POST", "/awards/batch", cadre, json={"items": items * 2}, headers=key())
    assert_error(response, 409, "cap_exceeded")
    assert response.json()["index"] == 0
    assert (await balance(world, admin, setup.households[2].id))["posted"] == 30


@pytest.mark.parametrize(
    ("period", "last_moment", "next_moment"),
    [
        ("day", "2026-11-30 23:59:59", "2026-12-01 00:00:00"),
        ("month", "2026-11-30 23:59:59", "2026-12-01 00:00:00"),
        ("year", "2026-12-31 23:59:59", "2027-01-01 00:00:00"),
    ],
)
async def test_caps_follow_the_village_clock_not_utc(
    world: World, monkeypatch: pytest.MonkeyPatch, period: str, last_moment: str, next_moment: str
) -> None:
    setup = await world.setup_village()
    cadre, admin = setup.people["cadre"], setup.people["village_admin"]
    household = setup.households[1]
    rule = await make_rule(world, setup, 10, cap={"count": 10, "period": period})
    clock = {"now": at(last_moment).replace(second=0)}
    monkeypatch.setattr("jifen.awards.service.utcnow", lambda: clock["now"])

    assert (await award(world, cadre, household.id, rule)).status_code == 201
    clock["now"] = at(last_moment)  # still the same local period (in UTC it is already 16:00 the day before)
    assert_error(await award(world, cadre, household.id, rule), 409, "cap_exceeded")
    clock["now"] = at(next_moment)  # midnight in the village: a new period
    assert (await award(world, cadre, household.id, rule)).status_code == 201
    assert (await balance(world, admin, household.id))["posted"] == 20


async def test_concurrent_awards_never_exceed_a_cap(world: World) -> None:
    setup = await world.setup_village()
    cadre, admin = setup.people["cadre"], setup.people["village_admin"]
    household = setup.households[1]
    rule = await make_rule(world, setup, 5, cap={"count": 25, "period": "month"})
    responses = await asyncio.gather(*(award(world, cadre, household.id, rule) for _ in range(12)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 5 + [409] * 7
    assert (await balance(world, admin, household.id))["posted"] == 25


async def review_rule(world: World, setup: Any, review: str, points: int = 20) -> dict[str, Any]:
    return await make_rule(world, setup, points, review=review)


async def test_single_review_posts_on_approval_and_rejection_posts_nothing(world: World) -> None:
    setup = await world.setup_village()
    cadre, reviewer, admin = setup.people["cadre"], setup.people["reviewer"], setup.people["village_admin"]
    household = setup.households[1]
    rule = await review_rule(world, setup, "single")

    submitted = await award(world, cadre, household.id, rule)
    assert submitted.status_code == 201
    assert submitted.json()["status"] == "pending_review"
    assert submitted.json()["transaction_id"] is None
    queue = await world.call(
        "GET", f"/villages/{setup.village.id}/awards", reviewer, params={"status": "pending_review"}
    )
    assert [a["id"] for a in queue.json()["items"]] == [submitted.json()["id"]]

    approved = await world.call("POST", f"/awards/{submitted.json()['id']}/approve", reviewer)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "posted"
    assert approved.json()["transaction_id"]
    assert (await balance(world, admin, household.id))["posted"] == 20
    again = await world.call("POST", f"/awards/{submitted.json()['id']}/approve", admin)
    assert_error(again, 409, "award_not_pending")

    second = (await award(world, cadre, household.id, rule)).json()
    no_reason = await world.call("POST", f"/awards/{second['id']}/reject", reviewer, json={})
    assert no_reason.status_code == 422
    rejected = await world.call(
        "POST", f"/awards/{second['id']}/reject", reviewer, json={"reason": "照片不清楚"}
    )
    assert rejected.status_code == 200
    assert rejected.json()["status"] == "rejected"
    assert (await balance(world, admin, household.id))["posted"] == 20
    assert_error(await world.call("POST", f"/awards/{second['id']}/approve", admin), 409, "award_not_pending")
    trail = await world.call(
        "GET", "/audit", admin, params={"record_id": second["id"], "action": "award.reject"}
    )
    assert trail.json()["items"][0]["reason"] == "照片不清楚"


async def test_double_review_needs_two_different_approvers_neither_the_submitter(world: World) -> None:
    setup = await world.setup_village()
    reviewer, admin = setup.people["reviewer"], setup.people["village_admin"]
    household = setup.households[1]
    rule = await review_rule(world, setup, "double", points=50)
    submitted = (await award(world, admin, household.id, rule)).json()
    path = f"/awards/{submitted['id']}/approve"

    assert_error(await world.call("POST", path, admin), 403, "own_submission")
    first = await world.call("POST", path, reviewer)
    assert first.status_code == 200
    assert first.json()["status"] == "pending_review"
    assert_error(await world.call("POST", path, reviewer), 409, "already_approved")
    assert (await balance(world, admin, household.id))["posted"] == 0

    second_reviewer = await world.person(RoleGrantIn(role=Role.reviewer, village_id=setup.village.id))
    second = await world.call("POST", path, second_reviewer)
    assert second.status_code == 200
    assert second.json()["status"] == "posted"
    assert (await balance(world, admin, household.id))["posted"] == 50


async def test_two_approvers_at_once_post_once(world: World) -> None:
    setup = await world.setup_village()
    cadre, reviewer, admin = setup.people["cadre"], setup.people["reviewer"], setup.people["village_admin"]
    rule = await review_rule(world, setup, "single", points=30)
    submitted = (await award(world, cadre, setup.households[1].id, rule)).json()
    results = await asyncio.gather(
        world.call("POST", f"/awards/{submitted['id']}/approve", reviewer),
        world.call("POST", f"/awards/{submitted['id']}/approve", admin),
    )
    assert sorted(r.status_code for r in results) == [200, 409]
    assert (await balance(world, admin, setup.households[1].id))["posted"] == 30


async def test_who_may_review(world: World) -> None:
    setup = await world.setup_village()
    cadre = setup.people["cadre"]
    rule = await review_rule(world, setup, "single")
    own = setup.households[0]  # the setup's villager lives here
    pending = (await award(world, cadre, setup.households[1].id, rule)).json()
    path = f"/awards/{pending['id']}/approve"
    assert_error(await world.call("POST", path, None), 401, "not_authenticated")
    for role in ("cadre", "clerk", "villager"):
        assert (await world.call("POST", path, setup.people[role])).status_code == 403
    assert (await world.call("POST", path, await world.town_admin())).status_code == 403
    other = await world.village()
    stranger = await world.person(RoleGrantIn(role=Role.village_admin, village_id=other.id))
    assert (await world.call("POST", path, stranger)).status_code == 404
    # a reviewer who lives in the household may not approve its award
    neighbour = await world.person(
        RoleGrantIn(role=Role.reviewer, village_id=setup.village.id),
        RoleGrantIn(role=Role.villager, village_id=setup.village.id, household_id=own.id),
    )
    mine = (await award(world, cadre, own.id, rule)).json()
    assert_error(
        await world.call("POST", f"/awards/{mine['id']}/approve", neighbour), 403, "conflict_of_interest"
    )


async def test_an_award_is_visible_to_staff_and_its_own_household_only(world: World) -> None:
    setup = await world.setup_village()
    cadre = setup.people["cadre"]
    rule = await make_rule(world, setup, 8)
    own = (await award(world, cadre, setup.households[0].id, rule)).json()
    neighbours = (await award(world, cadre, setup.households[1].id, rule)).json()
    villager = setup.people["villager"]  # lives in households[0]
    seen = await world.call("GET", f"/awards/{own['id']}", villager)
    assert seen.status_code == 200
    assert seen.json()["points"] == 8
    assert_error(await world.call("GET", f"/awards/{neighbours['id']}", villager), 404, "not_found")
    assert (
        await world.call("GET", f"/awards/{neighbours['id']}", setup.people["reviewer"])
    ).status_code == 200
    listed = await world.call("GET", f"/villages/{setup.village.id}/awards", villager)
    assert listed.status_code == 403


async def test_rectification_returns_the_share_once(world: World) -> None:
    setup = await world.setup_village()
    cadre, admin = setup.people["cadre"], setup.people["village_admin"]
    household = setup.households[1]
    plus = await make_rule(world, setup, 30)
    poultry = await make_rule(world, setup, -15, rectification_share=50)
    no_share = await make_rule(world, setup, -4)
    assert (await award(world, cadre, household.id, plus)).status_code == 201
    deduction = (await award(world, cadre, household.id, poultry)).json()
    assert (await balance(world, admin, household.id))["posted"] == 15

    rectified = await world.call(
        "POST", f"/awards/{deduction['id']}/rectify", cadre, json={"note": "已圈养"}, headers=key()
    )
    assert rectified.status_code == 201, rectified.text
    assert (await balance(world, admin, household.id))["posted"] == 22  # 15 + 50% of 15, rounded down
    tx = (await world.call("GET", f"/transactions/{rectified.json()['transaction_id']}", admin)).json()
    assert tx["kind"] == "rectification"
    assert tx["source_id"] == deduction["id"]
    again = await world.call("POST", f"/awards/{deduction['id']}/rectify", admin, headers=key())
    assert_error(again, 409, "already_rectified")
    assert (await balance(world, admin, household.id))["posted"] == 22

    other = (await award(world, cadre, household.id, no_share)).json()
    assert_error(
        await world.call("POST", f"/awards/{other['id']}/rectify", cadre, headers=key()),
        409,
        "not_rectifiable",
    )
    positive = (await award(world, cadre, household.id, plus)).json()
    assert_error(
        await world.call("POST", f"/awards/{positive['id']}/rectify", cadre, headers=key()),
        409,
        "not_rectifiable",
    )
    assert (
        await world.call("POST", f"/awards/{other['id']}/rectify", setup.people["reviewer"], headers=key())
    ).status_code == 403
    bad_rule = await world.call(
        "POST",
        f"/villages/{setup.village.id}/rules",
        admin,
        json={
            "code": "X1",
            "name": "门前三包",
            "category": "人居环境",
            "points": 5,
            "rectification_share": 50,
        },
    )
    assert bad_rule.status_code == 422


async def test_repeat_deductions_escalate_within_the_month(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = await world.setup_village()
    cadre, admin = setup.people["cadre"], setup.people["village_admin"]
    household = setup.households[1]
    plus = await make_rule(world, setup, 100)
    poultry = await make_rule(world, setup, -8, escalation=[8, 15, 20])
    assert (await award(world, cadre, household.id, plus)).status_code == 201
    clock = {"now": at("2026-11-10 09:00:00")}
    monkeypatch.setattr("jifen.awards.service.utcnow", lambda: clock["now"])
    taken = [(await award(world, cadre, household.id, poultry)).json()["points"] for _ in range(4)]
    assert taken == [-8, -15, -20, -20]
    assert (await balance(world, admin, household.id))["posted"] == 100 - 63
    other = setup.households[2]
    assert (await award(world, cadre, other.id, plus)).status_code == 201
    assert (await award(world, cadre, other.id, poultry)).json()[
        "points"
    ] == -8  # every household starts anew
    clock["now"] = at("2026-12-01 00:00:00")  # a new month in the village: back to the first step
    assert (await award(world, cadre, household.id, poultry)).json()["points"] == -8
    bad = await world.call(
        "POST",
        f"/villages/{setup.village.id}/rules",
        admin,
        json={"code": "E1", "name": "门前三包", "category": "人居环境", "points": 5, "escalation": [1, 2]},
    )
    assert bad.status_code == 422


async def test_a_rule_applies_only_within_its_dates(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    setup = await world.setup_village()
    cadre = setup.people["cadre"]
    household = setup.households[1]
    campaign = await make_rule(world, setup, 10, active_from="2026-11-01", active_until="2026-11-30")
    clock = {"now": at("2026-11-30 23:59:00")}
    monkeypatch.setattr("jifen.awards.service.utcnow", lambda: clock["now"])
    assert (await award(world, cadre, household.id, campaign)).status_code == 201
    clock["now"] = at("2026-12-01 00:00:00")  # the campaign ended at midnight, village time
    assert_error(await award(world, cadre, household.id, campaign), 409, "rule_not_in_effect")
    clock["now"] = at("2026-10-31 23:59:59")
    assert_error(await award(world, cadre, household.id, campaign), 409, "rule_not_in_effect")
    backwards = await world.call(
        "POST",
        f"/villages/{setup.village.id}/rules",
        setup.people["village_admin"],
        json={
            "code": "B1",
            "name": "活动",
            "category": "活动",
            "points": 5,
            "active_from": "2026-12-01",
            "active_until": "2026-11-01",
        },
    )
    assert backwards.status_code == 422
