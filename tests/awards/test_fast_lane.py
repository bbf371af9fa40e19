"""The one-call award's ASGI lane (awards/fast_lane.py): it answers the common award as the endpoint would,
and anything it is not sure of — an error included — goes on to the router, which answers as before."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jifen.awards import fast_lane
from tests.factories import World
from tests.ledger.helpers import award, balance, make_rule


@pytest.fixture
def lane_calls(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The one-call awards the lane made (the endpoint's own `at_once` is not counted)."""
    calls: list[Any] = []
    submit = fast_lane.submit_in_one_call

    async def counted(**kwargs: Any) -> bytes | None:
        answer = await submit(**kwargs)
        calls.append(answer)
        return answer

    monkeypatch.setattr(fast_lane, "submit_in_one_call", counted)
    return calls


async def test_the_lane_answers_as_the_endpoint_does_and_a_replay_is_the_same_bytes(
    world: World, lane_calls: list[Any]
) -> None:
    setup = await world.setup_village(households=2)
    cadre, admin = setup.people["cadre"], setup.people["village_admin"]
    first, second = setup.households
    plus = await make_rule(world, setup, 5)
    general = await award(world, cadre, first.id, plus)  # the actor not yet cached: the router answers
    assert general.status_code == 201, general.text
    assert lane_calls == []

    quick = await award(world, cadre, second.id, plus, idempotency_key="lane-1")
    assert quick.status_code == 201, quick.text
    assert len(lane_calls) == 1
    assert lane_calls[0] is not None
    assert quick.json().keys() == general.json().keys()
    assert quick.json()["status"] == "posted"
    # the same headers as the endpoint's answer (the request id and timing differ by value only)
    assert set(quick.headers) == set(general.headers)
    assert quick.headers["content-type"] == general.headers["content-type"] == "application/json"

    again = await award(world, cadre, second.id, plus, idempotency_key="lane-1")
    assert again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.content == quick.content
    assert (await balance(world, admin, second.id))["posted"] == 5


async def test_an_error_in_the_lane_leaves_the_award_to_the_router_posted_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = await world.setup_village(households=1)
    cadre, admin = setup.people["cadre"], setup.people["village_admin"]
    household = setup.households[0]
    plus = await make_rule(world, setup, 5)
    assert (await award(world, cadre, household.id, plus)).status_code == 201  # caches the actor
    submit = fast_lane.submit_in_one_call

    async def fails_after_the_call(**kwargs: Any) -> bytes | None:
        await submit(**kwargs)  # written in the lane's transaction, which then rolls back
        raise RuntimeError("the lane broke")

    monkeypatch.setattr(fast_lane, "submit_in_one_call", fails_after_the_call)
    response = await award(world, cadre, household.id, plus)
    assert response.status_code == 201, response.text
    assert (await balance(world, admin, household.id))["posted"] == 10


async def test_refusals_on_the_lane_are_the_routers(world: World, lane_calls: list[Any]) -> None:
    setup = await world.setup_village(households=1)
    cadre = setup.people["cadre"]
    household = setup.households[0]
    plus = await make_rule(world, setup, 5)
    assert (await award(world, cadre, household.id, plus)).status_code == 201  # caches the actor
    body = {"household_id": str(household.id), "rule_id": plus["id"]}
    headers = {"Idempotency-Key": "refused-1", "Content-Type": "application/json"}

    control = json.dumps({**body, "note": "a\u0000b"}).encode()
    refused = await world.call("POST", "/awards", cadre, content=control, headers=headers)
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_characters")

    huge = json.dumps({**body, "note": "x" * (1024 * 1024)}).encode()
    refused = await world.call("POST", "/awards", cadre, content=huge, headers=headers)
    assert (refused.status_code, refused.json()["error"]) == (413, "too_large")

    invalid = json.dumps({**body, "quantity": 0}).encode()
    refused = await world.call("POST", "/awards", cadre, content=invalid, headers=headers)
    assert (refused.status_code, refused.json()["error"]) == (422, "validation_error")

    not_json = await world.call("POST", "/awards", cadre, content=b"{", headers=headers)
    assert (not_json.status_code, not_json.json()["error"]) == (400, "invalid_json")
    assert lane_calls == []  # none of them reached the database call
