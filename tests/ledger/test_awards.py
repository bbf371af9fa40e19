from __future__ import annotations

import uuid

from tests.factories import World
from tests.ledger.helpers import award, balance, key, make_rule


async def test_award_posts_and_deduction_refused_below_zero(world: World) -> None:
    setup = await world.setup_village()
    cadre, admin = setup.people["cadre"], setup.people["village_admin"]
    household = setup.households[1]
    plus = await make_rule(world, setup, 15)
    minus = await make_rule(world, setup, -8)

    response = await award(world, cadre, household.id, plus, quantity=2)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "posted"
    assert body["points"] == 30
    assert body["transaction_id"]

    assert await balance(world, admin, household.id) == {
        "household_id": str(household.id),
        "posted": 30,
        "held": 0,
        "available": 30,
        "lifetime_earned": 30,
    }
    response = await award(world, cadre, household.id, minus, quantity=3)
    assert response.status_code == 201
    response = await award(world, cadre, household.id, minus, quantity=1)
    assert response.status_code == 409
    assert response.json()["error"] == "insufficient_points"
    assert "可用 6 分" in response.json()["detail"]
    assert (await balance(world, admin, household.id))["available"] == 6

    entries = (await world.call("GET", f"/households/{household.id}/entries", admin)).json()["items"]
    assert [(e["amount"], e["balance_after"]) for e in entries] == [(-24, 6), (30, 30)]
    assert entries[0]["kind"] == "deduction"
    assert entries[1]["rule_code"] == plus["code"]

    tx = (await world.call("GET", f"/transactions/{body['transaction_id']}", admin)).json()
    assert sorted(p["amount"] for p in tx["postings"]) == [-30, 30]
    assert tx["reversed_by"] is None


async def test_batch_all_or_nothing(world: World) -> None:
    setup = await world.setup_village(households=5)
    cadre, admin = setup.people["cadre"], setup.people["village_admin"]
    plus = await make_rule(world, setup, 10)
    minus = await make_rule(world, setup, -5)
    items = [{"household_id": str(h.id), "rule_id": plus["id"]} for h in setup.households]
    items.append({"household_id": str(setup.households[2].id), "rule_id": minus["id"], "quantity": 3})
    response = await world.call("POST", "/awards/batch", cadre, json={"items": items}, headers=key())
    assert response.status_code == 409, response.text
    assert response.json()["index"] == 5
    assert (await balance(world, admin, setup.households[0].id))["posted"] == 0

    response = await world.call("POST", "/awards/batch", cadre, json={"items": items[:5]}, headers=key())
    assert response.status_code == 201, response.text
    assert len(response.json()["items"]) == 5
    assert (await balance(world, admin, setup.households[4].id))["posted"] == 10


async def test_reversal(world: World) -> None:
    setup = await world.setup_village()
    cadre, admin = setup.people["cadre"], setup.people["village_admin"]
    h = setup.households[1]
    plus = await make_rule(world, setup, 20)
    tx_id = (await award(world, cadre, h.id, plus)).json()["transaction_id"]
    response = await world.call(
        "POST", f"/transactions/{tx_id}/reverse", admin, json={"reason": "评错了户"}, headers=key()
    )
    assert response.status_code == 201, response.text
    reversal = response.json()
    assert reversal["reverses"] == tx_id
    assert reversal["kind"] == "reversal"
    assert reversal["reason"] == "评错了户"
    assert await balance(world, admin, h.id) == {
        "household_id": str(h.id),
        "posted": 0,
        "held": 0,
        "available": 0,
        "lifetime_earned": 0,
    }
    again = await world.call(
        "POST", f"/transactions/{tx_id}/reverse", admin, json={"reason": "再来一次"}, headers=key()
    )
    assert again.status_code == 409
    assert again.json()["error"] == "already_reversed"
    original = (await world.call("GET", f"/transactions/{tx_id}", admin)).json()
    assert original["reversed_by"] == reversal["id"]


async def test_idempotent_replay(world: World) -> None:
    setup = await world.setup_village()
    cadre, admin = setup.people["cadre"], setup.people["village_admin"]
    h = setup.households[1]
    plus = await make_rule(world, setup, 5)
    k = uuid.uuid4().hex
    first = await award(world, cadre, h.id, plus, idempotency_key=k)
    second = await award(world, cadre, h.id, plus, idempotency_key=k)
    assert first.status_code == second.status_code == 201
    assert first.content == second.content
    assert (await balance(world, admin, h.id))["posted"] == 5
    other = await award(world, cadre, h.id, plus, quantity=2, idempotency_key=k)
    assert other.status_code == 409
    assert other.json()["error"] == "idempotency_key_reused"
    missing = await world.call(
        "POST", "/awards", cadre, json={"household_id": str(h.id), "rule_id": plus["id"]}
    )
    assert missing.status_code == 400
    assert missing.json()["error"] == "idempotency_key_required"
