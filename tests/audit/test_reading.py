"""Reading the audit trail: filters, keyset pagination newest first, who sees which village's record, and
the audit endpoints in the role matrix (in the manner of tests/ledger/test_ledger_role_matrix.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from jifen.models import Role
from jifen.users.schemas import RoleGrantIn
from tests.audit.audit_helpers import TOWN, trail
from tests.factories import Person, VillageSetup, World
from tests.helpers import assert_error
from tests.ledger.helpers import award, make_rule
from tests.role_matrix import Operation, build_scene, check_matrix

SHANGHAI = timezone(timedelta(hours=8))


@dataclass
class Activity:
    setup: VillageSetup
    town: Person
    other_admin: Person  # the admin of village B
    other_village: Any
    rule: dict[str, Any]
    award_ids: list[str] = field(default_factory=list)


@pytest.fixture
async def activity(world: World) -> Activity:
    """Village A with a rule made and changed twice by its admin and three awards by its cadre; village B
    with an admin; a town admin."""
    setup = await world.setup_village(households=2)
    admin, cadre = setup.people["village_admin"], setup.people["cadre"]
    other_village = await world.village(code="B-1", name="乙村")
    other_admin = await world.person(RoleGrantIn(role=Role.village_admin, village_id=other_village.id))
    town = await world.town_admin()
    rule = await make_rule(world, setup, 5, code="R-READ")
    for points in (6, 7):
        patched = await world.call("PATCH", f"/rules/{rule['id']}", admin, json={"points": points})
        assert patched.status_code == 200, patched.text
    done = Activity(setup, town, other_admin, other_village, rule)
    for household in (setup.households[0], setup.households[1], setup.households[1]):
        response = await award(world, cadre, household.id, rule)
        assert response.status_code == 201, response.text
        done.award_ids.append(response.json()["id"])
    return done


async def test_filters_by_actor_record_and_action(world: World, activity: Activity) -> None:
    setup = activity.setup
    admin, cadre = setup.people["village_admin"], setup.people["cadre"]

    by_cadre = await trail(world, admin, actor_id=cadre.id)
    rule_history = await trail(world, admin, record_type="rule", record_id=activity.rule["id"])
    changes = await trail(world, admin, action="rule.change")
    nobody = await trail(world, admin, actor_id=activity.other_admin.id)

    assert [(e["action"], e["record_id"]) for e in by_cadre] == [
        ("award.submit", award_id) for award_id in reversed(activity.award_ids)
    ]
    assert {e["actor_id"] for e in by_cadre} == {str(cadre.id)}
    assert [(e["action"], e["after"]["points"]) for e in rule_history] == [
        ("rule.change", 7),
        ("rule.change", 6),
        ("rule.create", 5),
    ]
    assert [(e["before"]["points"], e["after"]["points"]) for e in changes] == [(6, 7), (5, 6)]
    assert nobody == []  # the other village's admin did nothing here


async def test_since_and_until_bound_the_time_range(world: World, activity: Activity) -> None:
    admin = activity.setup.people["village_admin"]
    everything = await trail(world, admin)
    rule_events = await trail(world, admin, record_type="rule", record_id=activity.rule["id"])
    first_change, last_change = rule_events[1], rule_events[0]
    first_award = (await trail(world, admin, action="award.submit"))[-1]

    def at(event: dict[str, Any]) -> datetime:
        return datetime.fromisoformat(event["occurred_at"])

    # given in Beijing time: the offset counts, not the wall clock
    since = at(first_change).astimezone(SHANGHAI).isoformat()
    until = at(first_award).astimezone(SHANGHAI).isoformat()
    window = await trail(world, admin, since=since, until=until)
    from_then_on = await trail(world, admin, since=at(last_change).isoformat())
    before_then = await trail(world, admin, until=at(first_change).isoformat())

    assert [e["id"] for e in window] == [last_change["id"], first_change["id"]]  # until is exclusive
    # a time without an offset is Beijing time (the villages' local time), whatever zone the server is in
    wall_clock = {"since": since[:-6], "until": until[:-6]}
    assert await trail(world, admin, **wall_clock) == window
    assert [e["action"] for e in from_then_on] == ["award.submit"] * 3 + ["rule.change"]
    assert before_then == [e for e in everything if at(e) < at(first_change)]
    assert len(before_then) + len(window) + 3 == len(everything)


async def test_keyset_pages_return_every_event_once_newest_first(world: World, activity: Activity) -> None:
    admin, cadre = activity.setup.people["village_admin"], activity.setup.people["cadre"]
    everything = await trail(world, activity.town)  # every scope, one page of up to 200
    assert len(everything) > 12

    seen: list[int] = []
    pages = 0
    query: dict[str, str] = {"limit": "5"}
    while True:
        response = await world.call("GET", "/audit", activity.town, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        pages += 1
        assert len(page["items"]) <= 5
        seen += [e["id"] for e in page["items"]]
        if pages == 1:
            # new events while someone is paging do not shift or repeat what they read
            extra = await award(world, cadre, activity.setup.households[1].id, activity.rule)
            assert extra.status_code == 201, extra.text
        if page["next_cursor"] is None:
            break
        query["cursor"] = page["next_cursor"]

    assert seen == [e["id"] for e in everything]
    assert seen == sorted(seen, reverse=True)
    assert len(set(seen)) == len(seen)
    assert pages == -(-len(everything) // 5)
    # and a fresh read starts with the newest
    newest = (await world.call("GET", "/audit", admin, params={"limit": "1"})).json()
    assert newest["items"][0]["action"] == "award.submit"
    assert newest["items"][0]["id"] > seen[0]
    assert_error(await world.call("GET", "/audit", admin, params={"cursor": "not-a-cursor"}), 400)
    assert (await world.call("GET", "/audit", admin, params={"limit": "201"})).status_code == 422


async def test_a_village_admin_reads_only_their_village(world: World, activity: Activity) -> None:
    setup = activity.setup
    admin, village_id = setup.people["village_admin"], str(setup.village.id)
    other_id = str(activity.other_village.id)

    own = await trail(world, admin)
    explicit = await trail(world, admin, village_id=village_id)
    other = await world.call("GET", "/audit", admin, params={"village_id": other_id})
    town_scope = await world.call("GET", "/audit", admin, params={"village_id": TOWN})
    everything = await trail(world, activity.town)
    just_b = await trail(world, activity.town, village_id=other_id)

    assert own == explicit
    assert {e["village_id"] for e in own} == {village_id}
    assert {"village.create", "household.create", "user.create", "rule.change", "award.submit"} <= {
        e["action"] for e in own
    }
    assert_error(other, 404)
    assert_error(town_scope, 404)
    assert {e["village_id"] for e in everything} == {village_id, other_id, None}
    assert [e for e in everything if e["village_id"] == village_id] == own
    assert just_b
    assert {e["village_id"] for e in just_b} == {other_id}
    # an admin of two villages must say which
    both = await world.person(
        RoleGrantIn(role=Role.village_admin, village_id=setup.village.id),
        RoleGrantIn(role=Role.village_admin, village_id=activity.other_village.id),
    )
    assert_error(await world.call("GET", "/audit", both), 400, "village_required")
    assert await trail(world, both, village_id=other_id) == await trail(
        world, activity.town, village_id=other_id
    )


async def test_the_rest_of_the_village_may_not_read_the_trail(world: World, activity: Activity) -> None:
    setup = activity.setup
    for role in ("cadre", "reviewer", "clerk", "villager"):
        who = setup.people[role]
        assert_error(await world.call("GET", "/audit", who), 403)
        assert_error(
            await world.call("GET", "/audit", who, params={"village_id": str(setup.village.id)}), 403
        )
    assert_error(await world.call("GET", "/audit", None), 401)


# --- the role matrix (see tests/role_matrix.py) ---------------------------------------------------------

AUDITORS = frozenset({"town_admin", "village_admin"})

OPERATIONS = [
    Operation("village A's trail", "GET", "/audit?village_id={village_a}", AUDITORS),
    # without village_id, each admin reads their own village: B's admin is answered, with nothing of A's
    Operation("own trail", "GET", "/audit", AUDITORS | {"other_village_admin"}),
    Operation("verify village A", "GET", "/audit/verify?village_id={village_a}", AUDITORS),
    Operation("verify own", "GET", "/audit/verify", AUDITORS | {"other_village_admin"}),
    Operation("seal checkpoint", "POST", "/villages/{village_a}/checkpoints", AUDITORS),
    Operation("list checkpoints", "GET", "/villages/{village_a}/checkpoints", AUDITORS),
]


async def test_audit_role_matrix(world: World) -> None:
    scene = await build_scene(world)
    await check_matrix(world, scene, OPERATIONS)

    # what the allowed calls answered is village A's record: its events, a clean chain, the sealed heads
    admin = scene.people["village_admin"]
    assert admin is not None
    events = await trail(world, admin)
    assert "SECRET-R7" in {(e["after"] or {}).get("code") for e in events}
    verdict = (await world.call("GET", "/audit/verify", admin)).json()
    assert verdict["ok"] is True
    assert verdict["village_id"] == str(scene.village_a.id)
    checkpoints = (await world.call("GET", f"/villages/{scene.village_a.id}/checkpoints", admin)).json()
    assert len(checkpoints["items"]) == 2  # sealed once by the town admin, once by the village admin
    assert checkpoints["items"][0]["digest"] == verdict["head"]
