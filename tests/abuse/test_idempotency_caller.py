"""An idempotent answer belongs to the caller who got it: another user sending the same key and body runs
their own request (as themselves) and never sees the first caller's answer."""

from __future__ import annotations

import uuid

from jifen.models import Role
from jifen.users.schemas import RoleGrantIn
from tests.factories import World
from tests.ledger.helpers import award, balance, make_rule
from tests.store.helpers import fund, make_item
from tests.store.test_reservations import reserve


async def test_another_villager_replaying_a_key_never_gets_the_first_pickup_code(world: World) -> None:
    setup = await world.setup_village()
    oil = await make_item(world, setup, "食用油", 30, 5, unit="桶")
    first, second = setup.households[0], setup.households[1]
    await fund(world, setup, first.id, 100)
    await fund(world, setup, second.id, 100)
    alice = setup.people["villager"]
    bob = await world.person(
        RoleGrantIn(role=Role.villager, village_id=setup.village.id, household_id=second.id)
    )

    mine = await reserve(world, alice, setup.store.id, [(oil["id"], 1)], key="same-key")
    theirs = await reserve(world, bob, setup.store.id, [(oil["id"], 1)], key="same-key")
    again = await reserve(world, alice, setup.store.id, [(oil["id"], 1)], key="same-key")

    assert mine.status_code == 201, mine.text
    assert theirs.status_code == 201, theirs.text
    assert theirs.json()["household_id"] == str(second.id)  # bob's own reservation, for his household
    assert theirs.json()["id"] != mine.json()["id"]
    assert theirs.json()["code"] != mine.json()["code"]
    assert "idempotent-replayed" not in theirs.headers
    # alice's retry still replays her own answer
    assert again.json() == mine.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert (await balance(world, setup.people["village_admin"], second.id))["held"] == 30


async def test_a_key_another_cadre_used_runs_the_award_as_the_second_cadre(world: World) -> None:
    setup = await world.setup_village()
    rule = await make_rule(world, setup, 10)
    household = setup.households[0].id
    cadre, admin = setup.people["cadre"], setup.people["village_admin"]
    key = uuid.uuid4().hex

    by_cadre = await award(world, cadre, household, rule, idempotency_key=key)
    by_admin = await award(world, admin, household, rule, idempotency_key=key)

    assert by_cadre.status_code == 201, by_cadre.text
    assert by_admin.status_code == 201, by_admin.text
    assert by_admin.json()["id"] != by_cadre.json()["id"]
    assert (await balance(world, admin, household))["posted"] == 20
    entries = (await world.call("GET", f"/households/{household}/entries", admin)).json()["items"]
    assert {e["actor_id"] for e in entries} == {str(cadre.id), str(admin.id)}
