"""Every kind of change leaves an audit event a village admin can read back: who did it, what, to which
record, a compact before/after, the reason where one was given, and the request it came with. A refused
change leaves none (the event is written in the change's own transaction); a failed login is kept."""

from __future__ import annotations

import json

from jifen.models import Role
from jifen.users.schemas import RoleGrantIn
from tests.audit.audit_helpers import (
    CLIENT_ADDR,
    assert_by,
    change,
    login_as,
    of_request,
    trail,
)
from tests.factories import PASSWORD, World
from tests.helpers import assert_error
from tests.ledger.helpers import balance, make_rule


async def test_village_create_is_on_the_new_village_record(world: World) -> None:
    town = await world.town_admin()

    created, rid = await change(world, "POST", "/villages", town, json={"code": "QX-01", "name": "青溪村"})

    assert created.status_code == 201, created.text
    village_id = created.json()["id"]
    [event] = await trail(world, town, village_id=village_id, action="village.create")
    assert_by(event, town, rid)
    assert event["village_id"] == village_id
    assert (event["record_type"], event["record_id"]) == ("village", village_id)
    assert event["after"] == {"code": "QX-01", "name": "青溪村"}
    assert event["before"] is None
    assert event["actor_roles"] == "town_admin"


async def test_household_create_records_members_with_masked_phones(world: World) -> None:
    setup = await world.setup_village(households=1)
    admin = setup.people["village_admin"]
    body = {
        "code": "H-88",
        "head_name": "李秀英",
        "grid": "一组",
        "members": [{"name": "李秀英", "phone": "13856780000"}, {"name": "张小明"}],
    }

    created, rid = await change(world, "POST", f"/villages/{setup.village.id}/households", admin, json=body)

    assert created.status_code == 201, created.text
    household_id = created.json()["id"]
    [event] = of_request(await trail(world, admin, action="household.create"), rid)
    assert_by(event, admin, rid)
    assert event["actor_roles"] == "village_admin"
    assert (event["record_type"], event["record_id"]) == ("household", household_id)
    assert event["after"]["code"] == "H-88"
    assert event["after"]["head_name"] == "李秀英"
    assert event["after"]["members"] == [
        {"name": "李秀英", "phone": "138****0000"},
        {"name": "张小明", "phone": None},
    ]
    assert "13856780000" not in json.dumps(event)


async def test_member_add_is_on_the_households_record(world: World) -> None:
    setup = await world.setup_village(households=1)
    admin, household = setup.people["village_admin"], setup.households[0]

    added, rid = await change(
        world,
        "POST",
        f"/households/{household.id}/members",
        admin,
        json={"name": "王小红", "phone": "13912345678"},
    )

    assert added.status_code == 201, added.text
    [event] = await trail(world, admin, action="member.add")
    assert_by(event, admin, rid)
    assert (event["record_type"], event["record_id"]) == ("household", str(household.id))
    assert event["after"] == {"member_id": added.json()["id"], "name": "王小红", "phone": "139****5678"}
    # the household's whole story, newest first, is one filter away
    story = await trail(world, admin, record_type="household", record_id=household.id)
    assert [e["action"] for e in story] == ["member.add", "household.create"]


async def test_user_create_is_on_every_granted_villages_record_and_never_shows_the_password(
    world: World,
) -> None:
    setup = await world.setup_village(households=1)
    admin = setup.people["village_admin"]
    town = await world.town_admin()
    other = await world.village(code="QT-2", name="其他村")
    password = "Secret-Pass-4711"

    cadre, cadre_rid = await change(
        world,
        "POST",
        "/users",
        admin,
        json={
            "username": "grid.li",
            "password": password,
            "display_name": "李网格",
            "roles": [{"role": "cadre", "village_id": str(setup.village.id), "grid": "一组"}],
        },
    )
    roaming, roaming_rid = await change(
        world,
        "POST",
        "/users",
        town,
        json={
            "username": "two.villages",
            "password": password,
            "display_name": "两村审核",
            "roles": [
                {"role": "reviewer", "village_id": str(setup.village.id)},
                {"role": "reviewer", "village_id": str(other.id)},
            ],
        },
    )
    deputy, deputy_rid = await change(
        world,
        "POST",
        "/users",
        town,
        json={
            "username": "town.deputy",
            "password": password,
            "display_name": "副镇长",
            "roles": [{"role": "town_admin"}],
        },
    )

    for response in (cadre, roaming, deputy):
        assert response.status_code == 201, response.text
    [event] = of_request(await trail(world, admin, action="user.create"), cadre_rid)
    assert_by(event, admin, cadre_rid)
    assert (event["record_type"], event["record_id"]) == ("user", cadre.json()["id"])
    assert event["after"]["username"] == "grid.li"
    assert event["after"]["display_name"] == "李网格"
    assert [(r["role"], r["village_id"], r["grid"]) for r in event["after"]["roles"]] == [
        ("cadre", str(setup.village.id), "一组")
    ]
    # one event on each village's record for a user with roles in two villages
    everywhere = of_request(await trail(world, town, action="user.create"), roaming_rid)
    assert sorted(e["village_id"] for e in everywhere) == sorted([str(setup.village.id), str(other.id)])
    assert {e["record_id"] for e in everywhere} == {roaming.json()["id"]}
    # a town administrator is on the town's record: the town admin sees it, the village admin does not
    [town_event] = of_request(await trail(world, town, action="user.create"), deputy_rid)
    assert_by(town_event, town, deputy_rid)
    assert town_event["village_id"] is None
    assert town_event["record_id"] == deputy.json()["id"]
    village_view = await trail(world, admin, action="user.create")
    assert deputy.json()["id"] not in {e["record_id"] for e in village_view}
    assert password not in json.dumps(await trail(world, town))


async def test_rule_create_and_change_show_the_old_and_new_terms(world: World) -> None:
    setup = await world.setup_village(households=1)
    admin = setup.people["village_admin"]

    created, create_rid = await change(
        world,
        "POST",
        f"/villages/{setup.village.id}/rules",
        admin,
        json={"code": "MQ-1", "name": "门前三包", "category": "人居环境", "points": 5},
    )
    rule_id = created.json()["id"]
    changed, change_rid = await change(
        world, "PATCH", f"/rules/{rule_id}", admin, json={"points": 8, "name": "门前三包（新）"}
    )

    assert created.status_code == 201, created.text
    assert changed.status_code == 200, changed.text
    rule_change, rule_create = await trail(world, admin, record_type="rule", record_id=rule_id)
    assert_by(rule_create, admin, create_rid)
    assert rule_create["action"] == "rule.create"
    assert rule_create["before"] is None
    assert rule_create["after"]["code"] == "MQ-1"
    assert (rule_create["after"]["points"], rule_create["after"]["version"]) == (5, 1)
    assert_by(rule_change, admin, change_rid)
    assert rule_change["action"] == "rule.change"
    before, after = rule_change["before"], rule_change["after"]
    assert (before["version"], before["points"], before["name"]) == (1, 5, "门前三包")
    assert (after["version"], after["points"], after["name"]) == (2, 8, "门前三包（新）")
    assert before["category"] == after["category"] == "人居环境"


async def test_an_award_is_on_the_record(world: World) -> None:
    setup = await world.setup_village(households=2)
    cadre, admin, household = setup.people["cadre"], setup.people["village_admin"], setup.households[1]
    rule = await make_rule(world, setup, 5)

    awarded, rid = await change(
        world,
        "POST",
        "/awards",
        cadre,
        json={"household_id": str(household.id), "rule_id": rule["id"], "quantity": 2, "note": "清扫巷道"},
        money=True,
    )

    assert awarded.status_code == 201, awarded.text
    [event] = await trail(world, admin, action="award.submit")
    assert_by(event, cadre, rid)
    assert event["actor_roles"] == "cadre"
    assert (event["record_type"], event["record_id"]) == ("award", awarded.json()["id"])
    after = event["after"]
    assert after["household_id"] == str(household.id)
    assert after["rule_id"] == rule["id"]
    assert (after["quantity"], after["points"], after["status"]) == (2, 10, "posted")
    assert after["transaction_id"] == awarded.json()["transaction_id"]
    assert after["note"] == "清扫巷道"


async def test_a_batch_leaves_one_event_per_award(world: World) -> None:
    setup = await world.setup_village(households=3)
    cadre, admin = setup.people["cadre"], setup.people["village_admin"]
    rule = await make_rule(world, setup, 3)
    items = [{"household_id": str(h.id), "rule_id": rule["id"]} for h in setup.households]

    batch, rid = await change(world, "POST", "/awards/batch", cadre, json={"items": items}, money=True)

    assert batch.status_code == 201, batch.text
    events = await trail(world, admin, action="award.submit")
    assert len(events) == 3
    for event in events:
        assert_by(event, cadre, rid)
    awards = {a["id"]: a for a in batch.json()["items"]}
    assert {e["record_id"] for e in events} == set(awards)
    for event in events:
        assert event["after"]["points"] == 3
        assert event["after"]["transaction_id"] == awards[event["record_id"]]["transaction_id"]
    assert {e["after"]["household_id"] for e in events} == {str(h.id) for h in setup.households}


async def test_a_reversal_carries_its_reason(world: World) -> None:
    setup = await world.setup_village(households=2)
    cadre, admin, household = setup.people["cadre"], setup.people["village_admin"], setup.households[1]
    rule = await make_rule(world, setup, 7)
    awarded, _ = await change(
        world,
        "POST",
        "/awards",
        cadre,
        json={"household_id": str(household.id), "rule_id": rule["id"]},
        money=True,
    )
    transaction_id = awarded.json()["transaction_id"]

    reversed_, rid = await change(
        world,
        "POST",
        f"/transactions/{transaction_id}/reverse",
        admin,
        json={"reason": "评错了户"},
        money=True,
    )

    assert reversed_.status_code == 201, reversed_.text
    [event] = await trail(world, admin, action="transaction.reverse")
    assert_by(event, admin, rid)
    assert (event["record_type"], event["record_id"]) == ("transaction", transaction_id)
    assert event["reason"] == "评错了户"
    assert event["after"]["reversal_id"] == reversed_.json()["id"]
    assert sorted(amount for _, amount in event["after"]["postings"]) == [-7, 7]


async def test_store_create_is_on_the_record(world: World) -> None:
    setup = await world.setup_village(households=1)
    admin = setup.people["village_admin"]

    created, rid = await change(
        world, "POST", f"/villages/{setup.village.id}/stores", admin, json={"name": "东头超市"}
    )

    assert created.status_code == 201, created.text
    [event] = of_request(await trail(world, admin, action="store.create"), rid)
    assert_by(event, admin, rid)
    assert (event["record_type"], event["record_id"]) == ("store", created.json()["id"])
    assert event["after"] == {"name": "东头超市"}


async def test_logins_and_failed_logins_are_on_the_towns_record(world: World) -> None:
    setup = await world.setup_village(households=1)
    admin = setup.people["village_admin"]
    town = await world.town_admin()
    reviewer = await world.person(
        RoleGrantIn(role=Role.reviewer, village_id=setup.village.id),
        username="Li.Ming",
    )

    ok, ok_rid = await login_as(world, "Li.Ming", PASSWORD)
    failed, failed_rid = await login_as(world, "Li.Ming", "wrong-password-99")
    unknown, unknown_rid = await login_as(world, "ghost-7", "wrong-password-99")

    assert ok.status_code == 200, ok.text
    assert_error(failed, 401, "invalid_credentials")
    assert_error(unknown, 401, "invalid_credentials")
    [login] = of_request(await trail(world, town, action="auth.login"), ok_rid)
    assert_by(login, reviewer, ok_rid)
    assert login["village_id"] is None
    assert (login["record_type"], login["record_id"]) == ("login", "li.ming")
    failures = await trail(world, town, action="auth.login_failed")
    [wrong_password] = of_request(failures, failed_rid)
    [stranger] = of_request(failures, unknown_rid)
    for event, name in [(wrong_password, "li.ming"), (stranger, "ghost-7")]:
        assert event["village_id"] is None
        assert event["actor_id"] is None  # nobody signed in
        assert (event["record_type"], event["record_id"]) == ("login", name)
        assert event["client_addr"] == CLIENT_ADDR
    assert "wrong-password-99" not in json.dumps(failures)
    # the village admin sees neither: logins are not on the village's record, and the town's is closed
    assert await trail(world, admin, action="auth.login") == []
    assert await trail(world, admin, action="auth.login_failed") == []
    hidden = await world.call(
        "GET", "/audit", admin, params={"village_id": "00000000-0000-0000-0000-000000000000"}
    )
    assert_error(hidden, 404)


async def test_a_refused_change_leaves_no_event_but_a_failed_login_does(world: World) -> None:
    setup = await world.setup_village(households=2)
    cadre, admin, household = setup.people["cadre"], setup.people["village_admin"], setup.households[1]
    town = await world.town_admin()
    village = setup.village
    plus = await make_rule(world, setup, 4, code="PLUS")
    minus = await make_rule(world, setup, -50, code="MINUS")
    awarded, _ = await change(
        world,
        "POST",
        "/awards",
        cadre,
        json={"household_id": str(household.id), "rule_id": plus["id"]},
        money=True,
    )
    tx = awarded.json()["transaction_id"]
    replay_key = {"Idempotency-Key": awarded.request.headers["Idempotency-Key"]}
    reversed_, _ = await change(
        world, "POST", f"/transactions/{tx}/reverse", admin, json={"reason": "错"}, money=True
    )
    assert reversed_.status_code == 201, reversed_.text
    before = await trail(world, town)

    refusals = [
        (
            409,
            "insufficient_points",
            await change(
                world,
                "POST",
                "/awards",
                cadre,
                json={"household_id": str(household.id), "rule_id": minus["id"]},
                money=True,
            ),
        ),
        (
            409,
            "duplicate_code",
            await change(
                world,
                "POST",
                f"/villages/{village.id}/rules",
                admin,
                json={"code": "PLUS", "name": "重复", "category": "人居环境", "points": 1},
            ),
        ),
        (
            409,
            "duplicate_code",
            await change(
                world,
                "POST",
                f"/villages/{village.id}/households",
                admin,
                json={"code": setup.households[0].code, "head_name": "重名户"},
            ),
        ),
        (
            409,
            "duplicate_code",
            await change(world, "POST", "/villages", town, json={"code": village.code, "name": "重"}),
        ),
        (
            409,
            "already_reversed",
            await change(
                world, "POST", f"/transactions/{tx}/reverse", admin, json={"reason": "再冲"}, money=True
            ),
        ),
        (
            409,
            "insufficient_points",
            await change(
                world,
                "POST",
                "/awards/batch",
                cadre,
                json={
                    "items": [
                        {"household_id": str(household.id), "rule_id": plus["id"]},
                        {"household_id": str(setup.households[0].id), "rule_id": minus["id"]},
                    ]
                },
                money=True,
            ),
        ),
    ]
    # the same award sent again with its key is answered from the first, and is not a second change
    replayed = await world.call(
        "POST",
        "/awards",
        cadre,
        json={"household_id": str(household.id), "rule_id": plus["id"]},
        headers={**replay_key, "X-Request-ID": "replay-1"},
    )
    reused = await world.call(
        "POST",
        "/awards",
        cadre,
        json={"household_id": str(setup.households[0].id), "rule_id": plus["id"]},
        headers={**replay_key, "X-Request-ID": "reused-1"},
    )
    failed_login, failed_rid = await login_as(world, "nobody-here", "guess-guess")

    for status, code, (response, _) in refusals:
        assert_error(response, status, code)
    assert replayed.status_code == 201
    assert replayed.json() == awarded.json()
    assert_error(reused, 409, "idempotency_key_reused")
    assert_error(failed_login, 401, "invalid_credentials")
    after = await trail(world, town)
    refused_ids = {rid for _, _, (_, rid) in refusals} | {"replay-1", "reused-1"}
    assert not [e for e in after if e["request_id"] in refused_ids]
    [new] = [e for e in after if e not in before]
    assert (new["action"], new["request_id"], new["record_id"]) == (
        "auth.login_failed",
        failed_rid,
        "nobody-here",
    )
    assert (await balance(world, admin, household.id))["posted"] == 0
