"""Separation of duties on objections (异议): a revision only lowers an award, the resolver is neither the
submitter, an approver nor an objector, a `double` rule needs two resolvers who agree; and an objection to a
*posted* award compensates its transaction once (revise+reverse end with one)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from jifen.kit.timeutil import utcnow
from jifen.models import Role
from jifen.users.schemas import RoleGrantIn
from tests.awards.test_public_notice import noticed_village
from tests.factories import Person, VillageSetup, World
from tests.helpers import assert_error
from tests.ledger.helpers import award, balance, key, make_rule


async def object_to(world: World, who: Person, award_id: str, reason: str = "评分不公") -> Any:
    return await world.call("POST", f"/awards/{award_id}/objections", who, json={"reason": reason})


async def resolve(world: World, who: Person, award_id: str, outcome: str, points: int | None = None) -> Any:
    body: dict[str, Any] = {"outcome": outcome, "reason": "复核后决定"}
    if points is not None:
        body["points"] = points
    return await world.call("POST", f"/awards/{award_id}/resolve", who, json=body)


async def second_reviewer(world: World, setup: VillageSetup) -> Person:
    return await world.person(RoleGrantIn(role=Role.reviewer, village_id=setup.village.id))


async def on_notice(world: World, points: int = 20, **rule: Any) -> tuple[VillageSetup, dict[str, Any]]:
    """A village with a 3-day notice and an award of `points` on notice for its second household, objected to
    by the villager of the first."""
    setup = await noticed_village(world)
    plus = await make_rule(world, setup, points, **rule)
    pending = (await award(world, setup.people["cadre"], setup.households[1].id, plus)).json()
    assert (await object_to(world, setup.people["villager"], pending["id"])).status_code == 201
    return setup, pending


@pytest.mark.parametrize("points", [10_000_000, 21, -5])
async def test_a_revision_may_only_lower_the_award(world: World, points: int) -> None:
    setup, pending = await on_notice(world)
    admin = setup.people["village_admin"]
    refused = assert_error(
        await resolve(world, setup.people["reviewer"], pending["id"], "revised", points),
        400,
        "invalid_revision",
    )
    assert "20" in refused["detail"]  # says what the limit is
    fetched = (await world.call("GET", f"/awards/{pending['id']}", admin)).json()
    assert (fetched["status"], fetched["points"]) == ("public_notice", 20)
    assert await balance(world, admin, setup.households[1].id) == {
        "household_id": str(setup.households[1].id),
        "posted": 0,
        "held": 0,
        "available": 0,
        "lifetime_earned": 0,
    }


async def test_a_revision_of_a_deduction_lowers_it_and_keeps_its_sign(world: World) -> None:
    setup = await noticed_village(world)
    admin, household = setup.people["village_admin"], setup.households[1]
    await world.call("PATCH", f"/villages/{setup.village.id}", admin, json={"notice_days": 0})
    plus = await make_rule(world, setup, 30)
    assert (await award(world, setup.people["cadre"], household.id, plus)).status_code == 201
    await world.call("PATCH", f"/villages/{setup.village.id}", admin, json={"notice_days": 3})
    minus = await make_rule(world, setup, -10)
    deduction = (await award(world, setup.people["cadre"], household.id, minus)).json()
    assert (await object_to(world, setup.people["villager"], deduction["id"])).status_code == 201
    reviewer = setup.people["reviewer"]
    for bad in (-11, 4, -10_000_000):
        assert_error(await resolve(world, reviewer, deduction["id"], "revised", bad), 400, "invalid_revision")
    revised = await resolve(world, reviewer, deduction["id"], "revised", -4)
    assert revised.status_code == 200, revised.text
    assert (revised.json()["status"], revised.json()["points"]) == ("posted", -4)
    assert (await balance(world, admin, household.id))["posted"] == 26


async def test_the_submitter_may_not_resolve_objections_to_their_award(world: World) -> None:
    setup = await noticed_village(world)
    admin = setup.people["village_admin"]
    plus = await make_rule(world, setup, 20)
    pending = (await award(world, admin, setup.households[1].id, plus)).json()
    assert (await object_to(world, setup.people["villager"], pending["id"])).status_code == 201
    refused = assert_error(await resolve(world, admin, pending["id"], "upheld"), 403, "separation_of_duties")
    assert "提交" in refused["detail"]
    assert (await resolve(world, setup.people["reviewer"], pending["id"], "upheld")).status_code == 200


async def test_an_approver_may_not_resolve_objections_to_the_award_they_approved(world: World) -> None:
    setup = await noticed_village(world)
    reviewer = setup.people["reviewer"]
    plus = await make_rule(world, setup, 20, review="single")
    pending = (await award(world, setup.people["cadre"], setup.households[1].id, plus)).json()
    approved = await world.call("POST", f"/awards/{pending['id']}/approve", reviewer, json={})
    assert approved.json()["status"] == "public_notice", approved.text
    assert (await object_to(world, setup.people["villager"], pending["id"])).status_code == 201
    refused = assert_error(
        await resolve(world, reviewer, pending["id"], "revoked"), 403, "separation_of_duties"
    )
    assert "审核" in refused["detail"]
    other = await second_reviewer(world, setup)
    assert (await resolve(world, other, pending["id"], "revoked")).json()["status"] == "revoked"


async def test_an_objector_may_not_resolve_their_own_objection(world: World) -> None:
    setup = await noticed_village(world)
    reviewer = setup.people["reviewer"]
    plus = await make_rule(world, setup, 20)
    pending = (await award(world, setup.people["cadre"], setup.households[1].id, plus)).json()
    assert (await object_to(world, reviewer, pending["id"], "我看到他家门前有垃圾")).status_code == 201
    refused = assert_error(
        await resolve(world, reviewer, pending["id"], "revised", 5), 403, "separation_of_duties"
    )
    assert "异议" in refused["detail"]
    assert (await balance(world, setup.people["village_admin"], setup.households[1].id))["posted"] == 0


async def test_a_double_review_rule_needs_two_resolvers_who_agree(world: World) -> None:
    setup = await noticed_village(world)
    admin, reviewer = setup.people["village_admin"], setup.people["reviewer"]
    other = await second_reviewer(world, setup)
    household = setup.households[1]
    plus = await make_rule(world, setup, 20, review="double")
    pending = (await award(world, setup.people["cadre"], household.id, plus)).json()
    for approver in (reviewer, other):
        await world.call("POST", f"/awards/{pending['id']}/approve", approver, json={})
    assert (await object_to(world, setup.people["villager"], pending["id"])).status_code == 201
    # the approvers are out; two more resolvers are needed
    third = await second_reviewer(world, setup)
    fourth = admin

    first = await resolve(world, third, pending["id"], "revised", 8)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "public_notice"  # pending: nothing takes effect yet
    assert first.json()["pending_resolution"]["outcome"] == "revised"
    assert (await balance(world, admin, household.id))["posted"] == 0
    assert_error(await resolve(world, third, pending["id"], "revised", 8), 409, "second_resolver_required")

    # a second resolver who disagrees does not complete it: their view becomes the pending one
    disagreeing = await resolve(world, fourth, pending["id"], "upheld")
    assert disagreeing.json()["status"] == "public_notice"
    assert disagreeing.json()["pending_resolution"]["outcome"] == "upheld"
    assert (await balance(world, admin, household.id))["posted"] == 0

    agreed = await resolve(world, third, pending["id"], "upheld")
    assert agreed.status_code == 200, agreed.text
    assert agreed.json()["status"] == "posted"
    assert agreed.json()["pending_resolution"] is None
    assert (await balance(world, admin, household.id))["posted"] == 20


# ------------------------------------------------------------------------ objections to a posted award


async def posted_award(world: World, points: int = 20) -> tuple[VillageSetup, dict[str, Any]]:
    """A village without a notice period and an award already posted to its second household."""
    setup = await world.setup_village(households=2)
    rule = await make_rule(world, setup, points)
    posted = (await award(world, setup.people["cadre"], setup.households[1].id, rule)).json()
    assert posted["status"] == "posted"
    return setup, posted


async def reverse(world: World, who: Person, transaction_id: str) -> Any:
    return await world.call(
        "POST", f"/transactions/{transaction_id}/reverse", who, json={"reason": "录入错误"}, headers=key()
    )


@pytest.mark.parametrize(("outcome", "points", "expected"), [("revised", 5, 5), ("revoked", None, 0)])
async def test_an_objection_to_a_posted_award_posts_the_difference_once(
    world: World, outcome: str, points: int | None, expected: int
) -> None:
    setup, posted = await posted_award(world)
    admin, household = setup.people["village_admin"], setup.households[1]
    assert (await object_to(world, setup.people["villager"], posted["id"])).status_code == 201
    resolved = await resolve(world, setup.people["reviewer"], posted["id"], outcome, points)
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["status"] == ("posted" if outcome == "revised" else "revoked")
    after = await balance(world, admin, household.id)
    assert (after["posted"], after["lifetime_earned"]) == (expected, expected)
    shown = (await world.call("GET", f"/transactions/{posted['transaction_id']}", admin)).json()
    assert shown["compensated_by"]["kind"] == ("revision" if outcome == "revised" else "revocation")
    refused = assert_error(await reverse(world, admin, posted["transaction_id"]), 409, "already_compensated")
    assert ("已按异议修改" if outcome == "revised" else "已撤销") in refused["detail"]
    assert (await balance(world, admin, household.id))["posted"] == expected
    ranking = (await world.call("GET", f"/villages/{setup.village.id}/rankings", admin)).json()["items"]
    assert {r["household_id"]: r["points"] for r in ranking}[str(household.id)] == expected
    # the household row still agrees with its postings, lifetime earned included
    verified = (await world.call("GET", f"/audit/verify?village_id={setup.village.id}", admin)).json()
    assert verified["ok"], verified
    assert verified["first_bad_account"] is None, verified


async def test_a_reversed_award_cannot_then_be_revised(world: World) -> None:
    setup, posted = await posted_award(world)
    admin = setup.people["village_admin"]
    assert (await object_to(world, setup.people["villager"], posted["id"])).status_code == 201
    assert (await reverse(world, admin, posted["transaction_id"])).status_code == 201
    refused = assert_error(
        await resolve(world, setup.people["reviewer"], posted["id"], "revised", 5), 409, "already_compensated"
    )
    assert "已冲正" in refused["detail"]
    assert (await balance(world, admin, setup.households[1].id))["posted"] == 0


async def test_objections_to_a_posted_award_close_after_seven_days(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup, posted = await posted_award(world)
    later = utcnow() + timedelta(days=7, seconds=1)
    monkeypatch.setattr("jifen.awards.notice.utcnow", lambda: later)
    assert_error(await object_to(world, setup.people["villager"], posted["id"]), 409, "notice_closed")


async def test_raced_revise_and_reverse_end_with_one(world: World) -> None:
    for round_ in range(4):
        setup, posted = await posted_award(world)
        admin, household = setup.people["village_admin"], setup.households[1]
        assert (await object_to(world, setup.people["villager"], posted["id"])).status_code == 201
        pair = [
            resolve(world, setup.people["reviewer"], posted["id"], "revised", 5),
            reverse(world, admin, posted["transaction_id"]),
        ]
        answers = await asyncio.gather(*(pair if round_ % 2 else reversed(pair)))
        assert sorted(a.status_code for a in answers) in ([200, 409], [201, 409]), [a.text for a in answers]
        assert_error(next(a for a in answers if a.status_code == 409), 409, "already_compensated")
        revised = any(a.status_code == 200 for a in answers)
        assert (await balance(world, admin, household.id))["posted"] == (5 if revised else 0)


async def test_a_posted_award_revised_upwards_is_refused_and_nothing_moves(world: World) -> None:
    setup, posted = await posted_award(world)
    admin, household = setup.people["village_admin"], setup.households[1]
    assert (await object_to(world, setup.people["villager"], posted["id"])).status_code == 201
    refused = await resolve(world, setup.people["reviewer"], posted["id"], "revised", 10_000_000)
    assert_error(refused, 400, "invalid_revision")
    assert (await balance(world, admin, household.id))["posted"] == 20
    shown = (await world.call("GET", f"/transactions/{posted['transaction_id']}", admin)).json()
    assert shown["compensated_by"] is None
    assert (await world.call("GET", f"/awards/{posted['id']}", admin)).json()["points"] == 20
