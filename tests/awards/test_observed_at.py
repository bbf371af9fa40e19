"""Awards scored offline carry `observed_at`, when the deed was seen: the server takes it up to
JIFEN_OBSERVED_MAX_AGE_DAYS old (3 here) and a few minutes ahead of its own clock, counts caps in the local
period it was observed in (a rule with a daily cap: yesterday's deed uses yesterday's cap), records both the
observed and the received time in the audit trail, and refuses it to whoever may not award at all. The
pages' forms take it as well, and /staff/offline.json gives the phone a cadre's grid and the rules to keep.

One database for the module (each test has its own village).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jifen.kit.timeutil import to_local
from jifen.models import Role
from jifen.users.schemas import RoleGrantIn
from tests import db
from tests.conftest import own_world
from tests.factories import VillageSetup, World
from tests.helpers import assert_error
from tests.ledger.helpers import award, balance, key, make_rule, open_sheet
from tests.web.test_admin_pages import browser

MAX_AGE_DAYS = 3


@pytest.fixture(scope="module")
async def world(template: db.TestCluster) -> AsyncIterator[World]:
    async with own_world(template, observed_max_age_days=MAX_AGE_DAYS) as world:
        yield world


def ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


async def _posted(world: World, setup: VillageSetup, household: Any) -> int:
    return (await balance(world, setup.people["village_admin"], household.id))["posted"]


async def _submitted(world: World, setup: VillageSetup, award_id: str) -> dict[str, Any]:
    """What the audit trail recorded of the award's submission."""
    events = await world.call(
        "GET",
        "/audit",
        setup.people["village_admin"],
        params={"village_id": str(setup.village.id), "record_id": award_id},
    )
    [event] = [e for e in events.json()["items"] if e["action"] == "award.submit"]
    return event["after"]  # type: ignore[no-any-return]


async def test_an_award_observed_within_the_limit_posts_and_an_older_or_future_one_is_refused(
    world: World,
) -> None:
    setup = await world.setup_village()
    cadre, household = setup.people["cadre"], setup.households[1]
    rule = await make_rule(world, setup, 5)

    seen = ago(days=MAX_AGE_DAYS, minutes=-5)  # just inside the limit
    made = await award(world, cadre, household.id, rule, observed_at=seen)
    assert made.status_code == 201, made.text
    assert made.json()["status"] == "posted"
    assert datetime.fromisoformat(made.json()["observed_at"]) == seen
    assert datetime.fromisoformat(made.json()["created_at"]) > seen + timedelta(days=MAX_AGE_DAYS - 1)

    too_old = ago(days=MAX_AGE_DAYS, minutes=5)
    refused = await award(world, cadre, household.id, rule, observed_at=too_old)
    assert_error(refused, 409, "observed_too_long_ago")
    local = to_local(too_old).strftime("%Y-%m-%d %H:%M")
    assert refused.json()["detail"] == (
        f"这条评分记录于 {local}，已超过 {MAX_AGE_DAYS} 天的补录期限，不能再上传；如情况仍在，请现场重新评分"
    )

    # a phone's clock a few minutes fast is fine; a deed seen tomorrow is a wrong clock
    assert (await award(world, cadre, household.id, rule, observed_at=ago(minutes=-5))).status_code == 201
    future = await award(world, cadre, household.id, rule, observed_at=ago(hours=-2))
    assert_error(future, 400, "observed_in_future")
    assert "请检查手机的日期和时间" in future.json()["detail"]

    # a time without its offset is no moment
    naive = {"household_id": str(household.id), "rule_id": rule["id"], "observed_at": "2026-11-30T09:00:00"}
    assert (await world.call("POST", "/awards", cadre, json=naive, headers=key())).status_code == 422
    assert await _posted(world, setup, household) == 10


async def test_caps_count_in_the_local_day_the_deed_was_observed(world: World) -> None:
    setup = await world.setup_village()
    cadre, admin, household = setup.people["cadre"], setup.people["village_admin"], setup.households[1]
    rule = await make_rule(world, setup, 10, cap={"count": 10, "period": "day"})
    yesterday = ago(days=1)

    assert (await award(world, cadre, household.id, rule, observed_at=yesterday)).status_code == 201
    # today's cap is untouched by yesterday's deed
    today = await award(world, cadre, household.id, rule)
    assert today.status_code == 201, today.text
    # a second deed seen yesterday meets yesterday's cap, and says which day
    refused = await award(world, cadre, household.id, rule, observed_at=yesterday + timedelta(minutes=1))
    assert_error(refused, 409, "cap_exceeded")
    day = to_local(yesterday).strftime("%Y-%m-%d")
    assert refused.json()["detail"] == f"超出“门前三包”的上限：{day} 当天最多 10 分，还可得 0 分"
    # the caps the household page shows are today's
    caps = (await world.call("GET", f"/households/{household.id}/caps", admin)).json()["items"]
    assert [(c["used"], c["left"]) for c in caps] == [(10, 0)]

    # an inspection sheet scored offline: its scores count in the day they were seen, as one batch
    other = setup.households[0]  # 一组, like households[2]
    sheet = await open_sheet(world, setup, cadre, [rule], day=to_local(yesterday).date().isoformat())
    assert sheet.status_code == 201, sheet.text
    scores = [
        {"household_id": str(h.id), "rule_id": rule["id"], "observed_at": yesterday.isoformat()}
        for h in (other, setup.households[2])
    ]
    submitted = await world.call(
        "POST", f"/inspections/{sheet.json()['id']}/submit", cadre, json={"scores": scores}, headers=key()
    )
    assert submitted.status_code == 201, submitted.text
    assert {a["observed_at"] for a in submitted.json()["awards"]} == {
        yesterday.isoformat().replace("+00:00", "Z")
    }
    assert [await _posted(world, setup, h) for h in setup.households] == [10, 20, 10]


async def test_the_audit_trail_records_when_the_deed_was_seen_and_when_it_arrived(world: World) -> None:
    setup = await world.setup_village()
    cadre, household = setup.people["cadre"], setup.households[1]
    rule = await make_rule(world, setup, 5)
    seen = ago(hours=20)
    made = (await award(world, cadre, household.id, rule, observed_at=seen)).json()

    after = await _submitted(world, setup, made["id"])
    assert datetime.fromisoformat(after["observed_at"]) == seen
    assert datetime.fromisoformat(after["received_at"]) == datetime.fromisoformat(made["created_at"])
    # an award made online has neither: it was seen when it arrived
    online = (await award(world, cadre, household.id, rule)).json()
    assert {"observed_at", "received_at"}.isdisjoint(await _submitted(world, setup, online["id"]))


async def test_an_observed_award_is_refused_to_whoever_may_not_award(world: World) -> None:
    setup = await world.setup_village()
    household = setup.households[1]  # 二组
    rule = await make_rule(world, setup, 5)
    other_grid = await world.person(RoleGrantIn(role=Role.cadre, village_id=setup.village.id, grid="一组"))
    elsewhere = await world.setup_village()
    refusals = {
        "reviewer": (setup.people["reviewer"], 403),
        "clerk": (setup.people["clerk"], 403),
        "villager": (setup.people["villager"], 403),
        "cadre of another grid": (other_grid, 403),
        "cadre of another village": (elsewhere.people["cadre"], 404),  # the household does not leak
        "town admin": (await world.town_admin(), 403),
    }
    seen = ago(hours=1)
    answers = {
        name: (await award(world, who, household.id, rule, observed_at=seen)).status_code
        for name, (who, _) in refusals.items()
    }
    assert answers == {name: status for name, (_, status) in refusals.items()}
    unauthenticated = await world.call(
        "POST",
        "/awards",
        json={"household_id": str(household.id), "rule_id": rule["id"], "observed_at": seen.isoformat()},
        headers=key(),
    )
    assert unauthenticated.status_code == 401
    assert await _posted(world, setup, household) == 0


async def test_the_pages_take_observed_at_and_keep_the_cadres_grid_for_offline(world: World) -> None:
    """The award form's hidden `observed_at` (the outbox script fills it in) follows the same rules, the
    refusal in the page's alert where the outbox reads it; /staff/offline.json is the cadre's grid and the
    rules, for the cadre and the admin only; the service worker is served from the root, never cached."""
    setup = await world.setup_village(households=4)
    household = setup.households[1]  # 二组
    rule = await make_rule(world, setup, 5)
    cadre = await world.person(RoleGrantIn(role=Role.cadre, village_id=setup.village.id, grid="二组"))
    form = {"rule_id": rule["id"], "quantity": "1", "note": ""}

    def once(**fields: str) -> dict[str, str]:
        return {**form, **fields, "idempotency_key": uuid.uuid4().hex}

    path = f"/staff/households/{household.id}/award"
    async with browser(world.app, cadre) as phone:
        await phone.get(f"/staff/households/{household.id}")
        seen = ago(hours=2)
        posted = await phone.post(path, once(observed_at=seen.isoformat()))
        assert posted.status_code == 303, posted.text
        old = await phone.post(path, once(observed_at=ago(days=MAX_AGE_DAYS + 1).isoformat()))
        assert old.status_code == 409
        assert re.search(r'role="alert">这条评分记录于 [0-9: -]+，已超过 3 天的补录期限', old.text), old.text
        garbled = await phone.post(path, once(observed_at="昨天下午"))
        assert garbled.status_code == 422
        assert "评分时间格式不正确" in garbled.text

        kit = (await phone.get("/staff/offline.json")).json()
        assert [h["code"] for h in kit["households"]] == [
            h.code for h in setup.households if h.grid == "二组"
        ]
        assert [r["id"] for r in kit["rules"]] == [rule["id"]]
        assert kit["pages"] == [
            "/staff/households",
            *(f"/staff/households/{h['id']}" for h in kit["households"]),
        ]

        worker = await phone.get("/sw.js")
        assert worker.headers["content-type"].startswith("text/javascript")
        assert worker.headers["cache-control"] == "no-cache"
        assert (await phone.get("/manifest.webmanifest")).json()["start_url"] == "/"
    awards = (
        await world.call("GET", f"/villages/{setup.village.id}/awards", setup.people["village_admin"])
    ).json()
    assert [datetime.fromisoformat(a["observed_at"]) for a in awards["items"]] == [seen]

    for name in ("reviewer", "villager", "clerk"):
        async with browser(world.app, setup.people[name]) as other:
            assert (await other.get("/staff/offline.json")).status_code == 403, name
