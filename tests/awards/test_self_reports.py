"""Self-reports (自主申报): a villager reports a deed of their own household with photos; it always enters
review, then goes the way of any award (approval, public notice, posting)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from fastapi import FastAPI

from jifen.awards.notice import run_due
from jifen.kit.timeutil import utcnow
from jifen.models import Role
from jifen.users.schemas import RoleGrantIn
from tests.awards.evidence_helpers import self_report, uploaded
from tests.factories import World
from tests.helpers import assert_error
from tests.ledger.helpers import balance, make_rule


async def test_a_self_report_waits_for_review_then_posts(world: World) -> None:
    setup = await world.setup_village()
    villager, reviewer, admin = (
        setup.people["villager"],
        setup.people["reviewer"],
        setup.people["village_admin"],
    )
    home = setup.households[0]  # the villager's own
    volunteering = await make_rule(world, setup, 10)  # needs no review when a cadre awards it
    photo = await uploaded(world, villager, setup.village.id)

    filed = await self_report(world, villager, home.id, volunteering, photo_ids=[photo["id"]])
    assert filed.status_code == 201, filed.text
    report = filed.json()
    assert report["status"] == "pending_review"
    assert report["transaction_id"] is None
    assert report["self_report"] is True
    assert report["submitted_by"] == str(villager.id)
    assert report["photo_ids"] == [photo["id"]]
    assert report["note"] == "帮邻居清理门前垃圾"
    assert (await balance(world, villager, home.id))["posted"] == 0

    # the villager follows it on the household's page; staff find it in the review queue
    mine = await world.call("GET", f"/households/{home.id}/awards", villager)
    assert mine.status_code == 200
    assert [(a["id"], a["status"], a["photo_ids"]) for a in mine.json()["items"]] == [
        (report["id"], "pending_review", [photo["id"]])
    ]
    queue = await world.call(
        "GET",
        f"/villages/{setup.village.id}/awards",
        reviewer,
        params={"status": "pending_review", "self_report": "true"},
    )
    assert [a["id"] for a in queue.json()["items"]] == [report["id"]]
    not_reports = await world.call(
        "GET", f"/villages/{setup.village.id}/awards", reviewer, params={"self_report": "false"}
    )
    assert report["id"] not in [a["id"] for a in not_reports.json()["items"]]

    approved = await world.call("POST", f"/awards/{report['id']}/approve", reviewer, json={"reason": "属实"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "posted"
    assert approved.json()["photo_ids"] == [photo["id"]]
    assert (await balance(world, villager, home.id))["posted"] == 10
    mine = await world.call("GET", f"/households/{home.id}/awards", villager, params={"self_report": "true"})
    assert mine.json()["items"][0]["status"] == "posted"

    # a rejected report posts nothing, and the villager sees why it stands where it does
    second = (await self_report(world, villager, home.id, volunteering)).json()
    rejected = await world.call(
        "POST", f"/awards/{second['id']}/reject", admin, json={"reason": "没有看到照片，请补充后重新申报"}
    )
    assert rejected.json()["status"] == "rejected"
    assert (await balance(world, villager, home.id))["posted"] == 10
    statuses = await world.call("GET", f"/households/{home.id}/awards", villager)
    assert [a["status"] for a in statuses.json()["items"]] == ["rejected", "posted"]


async def test_a_self_report_goes_through_public_notice(world: World, app: FastAPI) -> None:
    setup = await world.setup_village()
    villager, reviewer, admin = (
        setup.people["villager"],
        setup.people["reviewer"],
        setup.people["village_admin"],
    )
    assert (
        await world.call("PATCH", f"/villages/{setup.village.id}", admin, json={"notice_days": 3})
    ).status_code == 200
    home = setup.households[0]
    rule = await make_rule(world, setup, 15)
    report = (await self_report(world, villager, home.id, rule)).json()
    assert report["status"] == "pending_review"  # not straight onto the notice board: a reviewer first
    approved = await world.call("POST", f"/awards/{report['id']}/approve", reviewer)
    assert approved.json()["status"] == "public_notice"
    assert (await balance(world, admin, home.id))["posted"] == 0
    assert await run_due(app.state.sessionmaker, now=utcnow() + timedelta(days=3, seconds=1)) == 1
    assert (await balance(world, admin, home.id))["posted"] == 15
    read = await world.call("GET", f"/awards/{report['id']}", villager)
    assert read.json()["status"] == "posted"


async def test_a_double_review_rule_keeps_two_reviewers_and_the_reporter_never_approves(world: World) -> None:
    setup = await world.setup_village()
    villager, reviewer, admin = (
        setup.people["villager"],
        setup.people["reviewer"],
        setup.people["village_admin"],
    )
    home = setup.households[0]
    model_family = await make_rule(world, setup, 50, review="double")
    report = (await self_report(world, villager, home.id, model_family)).json()
    path = f"/awards/{report['id']}/approve"
    assert (await world.call("POST", path, reviewer)).json()["status"] == "pending_review"
    assert (await world.call("POST", path, admin)).json()["status"] == "posted"
    assert (await balance(world, admin, home.id))["posted"] == 50

    # a reviewer who also lives in the household: files the report, may not approve it
    both = await world.person(
        RoleGrantIn(role=Role.reviewer, village_id=setup.village.id),
        RoleGrantIn(role=Role.villager, village_id=setup.village.id, household_id=home.id),
    )
    own = (await self_report(world, both, home.id, model_family)).json()
    assert_error(await world.call("POST", f"/awards/{own['id']}/approve", both), 403, "own_submission")
    assert own["submitted_by"] == str(both.id)


async def test_self_report_refusals(world: World) -> None:
    setup = await world.setup_village()
    villager, admin = setup.people["villager"], setup.people["village_admin"]
    home, neighbour = setup.households[0], setup.households[1]
    deed = await make_rule(world, setup, 10)
    poultry = await make_rule(world, setup, -8)
    evidence = await make_rule(world, setup, 20, evidence_required=True)

    # a neighbour's household is not the villager's to report for, nor even to see
    assert_error(await self_report(world, villager, neighbour.id, deed), 404, "not_found")
    assert_error(await self_report(world, villager, uuid.uuid4(), deed), 404, "not_found")
    # staff score households through POST /awards, not as self-reports
    assert_error(await self_report(world, setup.people["cadre"], home.id, deed), 403, "forbidden")
    assert_error(await self_report(world, None, home.id, deed), 401, "not_authenticated")
    # only deeds
    assert_error(await self_report(world, villager, home.id, poultry), 409, "not_self_reportable")
    # evidence required: refused without a photo, accepted with one
    assert_error(await self_report(world, villager, home.id, evidence), 409, "evidence_required")
    photo = await uploaded(world, villager, setup.village.id)
    with_photo = await self_report(world, villager, home.id, evidence, photo_ids=[photo["id"]])
    assert with_photo.status_code == 201, with_photo.text
    # another village's photo, another village's rule
    other = await world.setup_village()
    foreign_photo = await uploaded(world, other.people["villager"], other.village.id)
    refused = await self_report(world, villager, home.id, evidence, photo_ids=[foreign_photo["id"]])
    assert_error(refused, 409, "unknown_photo")
    foreign_rule = await make_rule(world, other, 10)
    assert_error(await self_report(world, villager, home.id, foreign_rule), 404, "not_found")
    # a retired rule
    retired = await make_rule(world, setup, 5)
    assert (
        await world.call("PATCH", f"/rules/{retired['id']}", admin, json={"active": False})
    ).status_code == 200
    assert_error(await self_report(world, villager, home.id, retired), 409, "rule_retired")
    # no key, malformed bodies
    no_key = await world.call(
        "POST", f"/households/{home.id}/self-reports", villager, json={"rule_id": deed["id"]}
    )
    assert_error(no_key, 400, "idempotency_key_required")
    assert (await self_report(world, villager, home.id, deed, quantity=0)).status_code == 422
    assert (await self_report(world, villager, home.id, deed, points=999)).status_code == 422
    assert (await balance(world, admin, home.id))["posted"] == 0
    pending = await world.call("GET", f"/households/{home.id}/awards", villager)
    assert len(pending.json()["items"]) == 1  # the one with a photo


async def test_a_double_tap_files_one_report(world: World) -> None:
    setup = await world.setup_village()
    villager, reviewer = setup.people["villager"], setup.people["reviewer"]
    home = setup.households[0]
    rule = await make_rule(world, setup, 10, cap={"count": 10, "period": "day"})
    tap = uuid.uuid4().hex
    first, second = await asyncio.gather(
        self_report(world, villager, home.id, rule, idempotency_key=tap),
        self_report(world, villager, home.id, rule, idempotency_key=tap),
    )
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    listed = await world.call("GET", f"/households/{home.id}/awards", villager)
    assert len(listed.json()["items"]) == 1
    # a pending report counts against the rule's cap like any award
    assert_error(await self_report(world, villager, home.id, rule), 409, "cap_exceeded")
    assert (await world.call("POST", f"/awards/{first.json()['id']}/approve", reviewer)).status_code == 200
