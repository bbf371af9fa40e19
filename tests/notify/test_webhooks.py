"""Webhooks end to end: every event an award, a 公示, a sale and its cancellation write reaches a real HTTP
receiver that fails, goes down and comes back; none lost, repeats only by retry (dropped by event id), every
signature valid; a worker cancelled mid-send, or its process killed, loses nothing; dead letters and
立即重试; who may manage them."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from jifen.notify.delivery import Policy, deliver_due
from jifen.settings import Settings
from tests.factories import VillageSetup, World
from tests.ledger.helpers import award, make_rule
from tests.live import JIFEN, ROOT, bytecode_env
from tests.notify.receiver import Receiver
from tests.role_matrix import Operation, build_scene, check_matrix
from tests.store.helpers import cancel, make_item, redeem

FAST = Policy(retry_seconds=(0.01, 0.02, 0.05), max_attempts=100, timeout_seconds=1.0)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = Receiver()
    hook.up()
    yield hook
    hook.down()


async def _webhook(world: World, setup: VillageSetup, receiver: Receiver) -> dict[str, Any]:
    response = await world.call(
        "POST",
        f"/villages/{setup.village.id}/webhooks",
        setup.people["village_admin"],
        json={"name": "村务群机器人", "url": receiver.url},
    )
    assert response.status_code == 201, response.text
    hook = response.json()
    assert len(hook["secret"] or "") >= 16
    receiver.secret = hook["secret"]
    listed = await world.call("GET", f"/villages/{setup.village.id}/webhooks", setup.people["village_admin"])
    assert [h["secret"] for h in listed.json()["items"]] == [None]  # shown once, never again
    return hook  # type: ignore[no-any-return]


async def _events(world: World, setup: VillageSetup) -> None:
    """Awards, a deduction, a sale and its cancellation: the events a household hears of."""
    plus, minus = await make_rule(world, setup, 15), await make_rule(world, setup, -5)
    cadre = setup.people["village_admin"]
    for household in setup.households:
        assert (await award(world, cadre, household.id, plus)).status_code == 201
    assert (await award(world, cadre, setup.households[1].id, minus)).status_code == 201
    item = await make_item(world, setup, "肥皂", 5, 10)
    sale = await redeem(
        world, setup.people["clerk"], setup.store.id, setup.households[0].id, [(item["id"], 1)]
    )
    assert sale.status_code == 201, sale.text
    assert (await cancel(world, setup.people["clerk"], sale.json()["id"])).status_code == 200


async def _outbox(world: World) -> dict[str, str]:
    async with world.session() as session:
        rows = (await session.execute(text("SELECT id::text, kind FROM outbox_events"))).all()
    return {row[0]: row[1] for row in rows}


async def _undelivered(world: World) -> int:
    async with world.session() as session:
        return int(
            (
                await session.execute(
                    text("SELECT count(*) FROM outbox_deliveries WHERE delivered_at IS NULL")
                )
            ).scalar_one()
        )


async def _until_delivered(world: World, policy: Policy, seconds: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while await _undelivered(world):
        assert loop.time() < deadline, "deliveries still waiting"
        await deliver_due(world.app.state.sessionmaker, policy)
        await asyncio.sleep(0.02)


async def test_every_event_reaches_a_receiver_that_fails_and_goes_down(
    world: World, receiver: Receiver
) -> None:
    setup = await world.setup_village(households=3)
    await _webhook(world, setup, receiver)
    await _events(world, setup)
    events = await _outbox(world)
    kinds = sorted(events.values())
    assert kinds.count("award.posted") == 3
    assert {"deduction.posted", "sale.completed", "sale.cancelled"} <= set(kinds)

    # the first three deliveries are answered 500, then the receiver is down for a while (refused)
    receiver.fail_next, receiver.down_after_failing = 3, True
    for _ in range(5):
        await deliver_due(world.app.state.sessionmaker, FAST)
        await asyncio.sleep(0.03)
    assert await _undelivered(world) > 0
    receiver.up()
    await _until_delivered(world, FAST)

    assert set(receiver.events) == set(events)  # none lost
    assert all(receiver.events[i]["kind"] == kind for i, kind in events.items())
    assert (receiver.bad_signatures, receiver.mismatched_ids) == (0, 0)
    repeated = {i for i, n in receiver.requests.items() if n > 1}
    assert len(repeated) >= 1  # the failed ones were sent again …
    # … and nothing else twice (requests refused while down never reached it)
    assert sum(receiver.requests.values()) == len(events) + 3
    text_of = {e["kind"]: e["text"] for e in receiver.events.values()}
    assert text_of["deduction.posted"] == "户*1户：因“家禽散养”扣 5 分，已入账。"  # the name masked
    assert text_of["sale.cancelled"].endswith("的兑换已取消，5 分已退回。")


async def test_a_worker_cancelled_mid_send_loses_nothing(world: World, receiver: Receiver) -> None:
    setup = await world.setup_village(households=3)
    await _webhook(world, setup, receiver)
    await _events(world, setup)
    events = await _outbox(world)
    receiver.delay = 0.5  # slow enough to cancel the worker while its requests are in flight
    worker = asyncio.create_task(deliver_due(world.app.state.sessionmaker, FAST))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while not receiver.arrived and loop.time() < deadline:
        await asyncio.sleep(0.005)
    worker.cancel()
    with pytest.raises(asyncio.CancelledError):
        await worker
    # the killed worker committed nothing: every delivery is still due, though the receiver may yet finish
    # (and keep) the requests that were in flight
    assert await _undelivered(world) == len(events)
    receiver.delay = 0
    await _until_delivered(world, FAST)
    assert set(receiver.events) == set(events)  # none lost
    assert max(receiver.requests.values()) <= 2  # a repeat only by the retry, and the receiver kept one
    assert receiver.bad_signatures == 0


async def test_dead_letters_and_retry_now(world: World, receiver: Receiver) -> None:
    setup = await world.setup_village(households=1)
    hook = await _webhook(world, setup, receiver)
    admin = setup.people["village_admin"]
    rule = await make_rule(world, setup, 10)
    assert (await award(world, admin, setup.households[0].id, rule)).status_code == 201
    receiver.fail_next = 2
    give_up = Policy(retry_seconds=(0.0,), max_attempts=2, timeout_seconds=1.0)
    await deliver_due(world.app.state.sessionmaker, give_up)
    assert await _undelivered(world) == 1
    dead = await world.call("GET", f"/villages/{setup.village.id}/dead-letters", admin)
    assert dead.status_code == 200, dead.text
    [letter] = dead.json()["items"]
    assert (letter["kind"], letter["attempts"]) == ("award.posted", 2)
    assert "HTTP 500" in letter["last_error"]
    assert letter["channel_id"] == hook["id"]
    await deliver_due(world.app.state.sessionmaker, give_up)
    assert receiver.events == {}  # a dead letter waits for a person
    retried = await world.call(
        "POST",
        f"/villages/{setup.village.id}/dead-letters/{letter['event_id']}/{letter['channel_id']}/retry",
        admin,
    )
    assert retried.status_code == 200, retried.text
    await deliver_due(world.app.state.sessionmaker, give_up)
    assert list(receiver.events) == [letter["event_id"]]
    after = await world.call("GET", f"/villages/{setup.village.id}/dead-letters", admin)
    assert after.json()["items"] == []
    again = await world.call(
        "POST",
        f"/villages/{setup.village.id}/dead-letters/{letter['event_id']}/{letter['channel_id']}/retry",
        admin,
    )
    assert again.status_code == 404


async def test_only_the_village_admin_manages_webhooks(world: World) -> None:
    scene = await build_scene(world)
    unknown = uuid.uuid4()
    body = {"name": "村务群", "url": "https://example.org/hook"}
    admin_only = frozenset({"village_admin"})
    await check_matrix(
        world,
        scene,
        [
            Operation("add a webhook", "POST", "/villages/{village_a}/webhooks", admin_only, lambda s: body),
            Operation("list webhooks", "GET", "/villages/{village_a}/webhooks", admin_only),
            Operation(
                "add an SMS account",
                "POST",
                "/villages/{village_a}/sms-channels",
                admin_only,
                lambda s: {
                    "access_key_id": "id",
                    "access_key_secret": "secret",
                    "sign_name": "甲村",
                    "template_code": "SMS_1",
                },
            ),
            Operation("dead letters", "GET", "/villages/{village_a}/dead-letters", admin_only),
            Operation(
                "retry a dead letter",
                "POST",
                f"/villages/{{village_a}}/dead-letters/{unknown}/{unknown}/retry",
                frozenset(),
                hidden_from=frozenset({"village_admin", "other_village_admin"}),  # no such dead letter
            ),
        ],
    )


async def test_a_jobs_run_killed_mid_send_loses_nothing(
    world: World, receiver: Receiver, settings: Settings, tmp_path: Path
) -> None:
    """`jifen jobs run` (the delivery worker as its own process) killed with SIGKILL while its requests are in
    flight: the outbox keeps every delivery until one is answered, so the next pass sends what was cut."""
    setup = await world.setup_village(households=3)
    await _webhook(world, setup, receiver)
    await _events(world, setup)
    events = await _outbox(world)
    receiver.delay = 3.0
    clean = {k: v for k, v in os.environ.items() if not k.startswith("JIFEN_")}
    assert settings.database_url
    env = (
        clean
        | bytecode_env()
        | {
            "JIFEN_ENV": "test",
            "JIFEN_DATABASE_URL": settings.database_url,
            "JIFEN_DATA_DIR": str(tmp_path),
            "JIFEN_LOG_LEVEL": "WARNING",
        }
    )
    worker = subprocess.Popen([str(JIFEN), "jobs", "run"], env=env, cwd=ROOT)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while not receiver.arrived and loop.time() < deadline:
            await asyncio.sleep(0.02)
        assert receiver.arrived, "the worker never sent"
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    assert worker.returncode == -signal.SIGKILL
    assert await _undelivered(world) == len(events)  # nothing marked delivered by the killed process

    receiver.delay = 0
    await _until_delivered(world, FAST, seconds=30)
    assert set(receiver.events) == set(events)  # none lost
    assert max(receiver.requests.values()) <= 2  # a repeat only by the retry, and the receiver kept one
    assert receiver.bad_signatures == 0
