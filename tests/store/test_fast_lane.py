"""The counter sale's ASGI lane (store/fast_lane.py on auth/one_call_lane.py): the same requests — a sale, its
replay, a key reused with another basket, and every kind of refusal — answered with the lane open and with it
closed (the router alone), compared byte for byte: status, body and headers (the request id and timing
differ by value only)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from httpx import Response

from jifen.models import Role
from jifen.store import fast_lane
from jifen.store.fast_lane import OneCallSaleLane
from jifen.users.schemas import RoleGrantIn
from tests.factories import Person, VillageSetup, World
from tests.store.helpers import fund, make_item

_VARY = {"x-request-id", "server-timing"}  # per request by value


@dataclass
class Lane:
    open: bool = True
    calls: list[bytes | None] | None = None


@pytest.fixture
def lane(monkeypatch: pytest.MonkeyPatch) -> Lane:
    """The lane, opened and closed by the test; `calls`: the one-call sales the lane made, answered or not
    (the endpoint's own `at_once` is not counted)."""
    state = Lane(calls=[])
    sell = fast_lane.sell_in_one_call

    async def counted(**kwargs: Any) -> bytes | None:
        answer = await sell(**kwargs)
        assert state.calls is not None
        state.calls.append(answer)
        return answer

    monkeypatch.setattr(fast_lane, "sell_in_one_call", counted)
    monkeypatch.setattr(OneCallSaleLane, "takes", lambda self: state.open)
    return state


def _headers(response: Response) -> dict[str, str]:
    return {name: value for name, value in response.headers.items() if name not in _VARY}


def _same(lane_answer: Response, router_answer: Response) -> None:
    assert lane_answer.status_code == router_answer.status_code, (lane_answer.text, router_answer.text)
    assert lane_answer.content == router_answer.content
    assert _headers(lane_answer) == _headers(router_answer)
    assert set(lane_answer.headers) == set(router_answer.headers)


def _basket(store_id: uuid.UUID, household_id: uuid.UUID, *lines: tuple[str, int]) -> dict[str, Any]:
    return {
        "store_id": str(store_id),
        "household_id": str(household_id),
        "lines": [{"item_id": item, "quantity": quantity} for item, quantity in lines],
    }


async def _post(
    world: World,
    who: Person | None,
    body: dict[str, Any] | bytes,
    key: str | None,
    *,
    content_type: str = "application/json",
    token: str | None = None,
) -> Response:
    headers = {"Content-Type": content_type}
    if key is not None:
        headers["Idempotency-Key"] = key
    if token is not None:
        headers["Authorization"] = token
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await world.call("POST", "/redemptions", who, content=content, headers=headers)


async def _both(
    lane: Lane, world: World, who: Person | None, body: dict[str, Any] | bytes, **kw: Any
) -> Response:
    """The same refused request, to the router and then to the lane (a refusal writes nothing, so the key may
    be the same): the answers must be the same bytes. The router goes first, so the actor is cached."""
    key = kw.pop("key", "k-" + uuid.uuid4().hex)
    lane.open = False
    router_answer = await _post(world, who, body, key, **kw)
    lane.open = True
    lane_answer = await _post(world, who, body, key, **kw)
    _same(lane_answer, router_answer)
    assert lane_answer.status_code >= 400, lane_answer.text
    return lane_answer


@dataclass
class Counter:
    setup: VillageSetup
    soap: str  # 7 points, 3 a week
    rice: str  # 25 points
    last: str  # 1 in stock
    gold: str  # 10,000 points
    shelved: str  # not on sale
    other_store_item: str
    other_clerk: Person
    stranger: Person  # another village's clerk
    town: Person


async def _counter(world: World) -> Counter:
    setup = await world.setup_village(households=4)
    for household in setup.households:
        await fund(world, setup, household.id, 500)
    soap = await make_item(world, setup, "香皂", 7, 50, limit={"count": 3, "period": "week"})
    rice = await make_item(world, setup, "大米（5斤）", 25, 50)
    last = await make_item(world, setup, "最后一瓶酱油", 9, 1)
    gold = await make_item(world, setup, "金条", 10_000, 5)
    shelved = await make_item(world, setup, "下架商品", 5, 5)
    admin = setup.people["village_admin"]
    patched = await world.call("PATCH", f"/items/{shelved['id']}", admin, json={"active": False})
    assert patched.status_code == 200, patched.text
    second = await world.store(setup.village, name="第二超市")
    elsewhere = await make_item(world, setup, "别家的盐", 3, 5, store_id=second.id)
    other_clerk = await world.person(
        RoleGrantIn(role=Role.clerk, village_id=setup.village.id, store_id=second.id)
    )
    far = await world.setup_village(households=1)
    return Counter(
        setup=setup,
        soap=soap["id"],
        rice=rice["id"],
        last=last["id"],
        gold=gold["id"],
        shelved=shelved["id"],
        other_store_item=elsewhere["id"],
        other_clerk=other_clerk,
        stranger=far.people["clerk"],
        town=await world.town_admin(),
    )


async def test_a_sale_on_the_lane_is_the_routers_sale_and_replays_the_same_bytes(
    world: World, lane: Lane
) -> None:
    c = await _counter(world)
    clerk, store = c.setup.people["clerk"], c.setup.store.id
    first, second = c.setup.households[0], c.setup.households[1]
    lane.open = False
    by_router = await _post(world, clerk, _basket(store, first.id, (c.soap, 2), (c.rice, 1)), "router-1")
    assert by_router.status_code == 201, by_router.text
    assert lane.calls == []
    lane.open = True
    basket = _basket(store, second.id, (c.soap, 2), (c.rice, 1))
    by_lane = await _post(world, clerk, basket, "lane-1")
    assert by_lane.status_code == 201, by_lane.text
    assert lane.calls == [by_lane.content]  # the lane answered it

    # the same receipt but for the household, its own ids, number and time
    mine = {"id", "receipt_no", "household_id", "household_code", "transaction_id", "created_at"}
    one, other = by_lane.json(), by_router.json()
    assert one.keys() == other.keys()
    assert {k: v for k, v in one.items() if k not in mine} == {
        k: v for k, v in other.items() if k not in mine
    }
    assert _headers(by_lane).keys() == _headers(by_router).keys()
    for name, value in _headers(by_router).items():
        assert name == "content-length" or _headers(by_lane)[name] == value, name

    # a replay, through either: the first answer's bytes, marked replayed
    lane.open = False
    replayed_by_router = await _post(world, clerk, basket, "lane-1")
    lane.open = True
    replayed_by_lane = await _post(world, clerk, basket, "lane-1")
    _same(replayed_by_lane, replayed_by_router)
    assert replayed_by_lane.content == by_lane.content
    assert replayed_by_lane.headers["Idempotent-Replayed"] == "true"
    router_replay = await _post(world, clerk, _basket(store, first.id, (c.soap, 2), (c.rice, 1)), "router-1")
    assert router_replay.content == by_router.content
    assert router_replay.headers["Idempotent-Replayed"] == "true"

    # a key used again with another basket: the same refusal
    reused = await _both(lane, world, clerk, _basket(store, second.id, (c.rice, 1)), key="lane-1")
    assert reused.status_code == 409, reused.text
    assert reused.json()["error"] == "idempotency_key_reused"

    stock = await world.call("GET", f"/stores/{store}/items", clerk)
    on_shelf = {item["id"]: item["stock"] for item in stock.json()["items"]}
    assert (on_shelf[c.soap], on_shelf[c.rice]) == (46, 48)  # two sales, neither replay moved anything


async def test_every_refusal_on_the_lane_is_the_routers_byte_for_byte(world: World, lane: Lane) -> None:
    c = await _counter(world)
    people = c.setup.people
    clerk, store, household = people["clerk"], c.setup.store.id, c.setup.households[2]
    good = _basket(store, household.id, (c.rice, 1))
    seen: dict[str, int] = {}

    async def refused(name: str, who: Person | None, body: dict[str, Any] | bytes, **kw: Any) -> None:
        before = len(lane.calls or [])
        answer = await _both(lane, world, who, body, **kw)
        seen[name] = answer.status_code
        reached = (lane.calls or [])[before:]
        assert all(call is None for call in reached), name  # refused in the database: nothing written

    # who is asking
    await refused("no token", None, good)
    await refused("bad token", None, good, token="Bearer not-a-token")
    await refused("not bearer", None, good, token=f"Basic {clerk.token}")
    # who may sell here: in the database (sale_submit answers NULL), then the router's refusal
    calls = len(lane.calls or [])
    await refused("cadre", people["cadre"], good)
    await refused("villager", people["villager"], good)
    await refused("clerk of another store", c.other_clerk, good)
    await refused("another village's clerk", c.stranger, good)
    await refused("town admin", c.town, good)
    assert len(lane.calls or []) == calls + 5  # the lane tried each one and left it to the router
    # the key
    await refused("no key", clerk, good, key=None)
    await refused("bad key", clerk, good, key="x" * 300)
    # the body
    await refused("not JSON", clerk, b"{")
    await refused("not an object", clerk, b"[]")
    await refused("no lines", clerk, {**good, "lines": []})
    await refused("quantity 0", clerk, _basket(store, household.id, (c.rice, 0)))
    await refused("both households", clerk, {**good, "household_code": household.code})
    await refused("neither household", clerk, {"store_id": str(store), "lines": good["lines"]})
    await refused("form", clerk, b"store_id=1", content_type="application/x-www-form-urlencoded")
    await refused("control character", clerk, json.dumps({**good, "household_code": "a\u0000"}).encode())
    await refused("too large", clerk, json.dumps({**good, "pad": "x" * (1024 * 1024)}).encode())
    # what is sold, to whom, where
    calls = len(lane.calls or [])
    await refused("unknown store", clerk, _basket(uuid.uuid4(), household.id, (c.rice, 1)))
    await refused("unknown household", clerk, _basket(store, uuid.uuid4(), (c.rice, 1)))
    by_code = {"store_id": str(store), "household_code": "H9999", "lines": good["lines"]}
    await refused("unknown household code", clerk, by_code)
    await refused("unknown item", clerk, _basket(store, household.id, (str(uuid.uuid4()), 1)))
    await refused("another store's item", clerk, _basket(store, household.id, (c.other_store_item, 1)))
    await refused("not on sale", clerk, _basket(store, household.id, (c.shelved, 1)))
    await refused("out of stock", clerk, _basket(store, household.id, (c.last, 2)))
    await refused("over the limit", clerk, _basket(store, household.id, (c.soap, 4)))
    await refused("too few points", clerk, _basket(store, household.id, (c.gold, 1)))
    paused = await world.call("PATCH", f"/stores/{store}", people["village_admin"], json={"active": False})
    assert paused.status_code == 200, paused.text
    await refused("store paused", clerk, good)
    assert len(lane.calls or []) > calls  # the database refusals reached the lane's call

    assert seen == {
        "no token": 401,
        "bad token": 401,
        "not bearer": 401,
        "cadre": 403,
        "villager": 403,
        "clerk of another store": 403,
        "another village's clerk": 404,
        "town admin": 403,
        "no key": 400,
        "bad key": 400,
        "not JSON": 400,
        "not an object": 422,
        "no lines": 422,
        "quantity 0": 422,
        "both households": 422,
        "neither household": 422,
        "form": 422,
        "control character": 400,
        "too large": 413,
        "unknown store": 404,
        "unknown household": 404,
        "unknown household code": 404,
        "unknown item": 404,
        "another store's item": 404,
        "not on sale": 409,
        "out of stock": 409,
        "over the limit": 409,
        "too few points": 409,
        "store paused": 409,
    }
