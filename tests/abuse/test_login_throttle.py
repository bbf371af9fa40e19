"""The login throttle: atomic (parallel guesses cannot all pass one check), per (name, address) with a growing
delay, so a stranger cannot lock a known user out from another address."""

from __future__ import annotations

import asyncio

from httpx import ASGITransport, AsyncClient, Response
from sqlalchemy import text

from jifen.auth import throttle
from jifen.models import Role
from jifen.users.schemas import RoleGrantIn
from tests.factories import PASSWORD, World
from tests.helpers import assert_error, login


def _client(world: World, address: str) -> AsyncClient:
    transport = ASGITransport(app=world.app, client=(address, 4321))
    return AsyncClient(transport=transport, base_url="http://jifen.test")


async def _failed_events(world: World, name: str) -> int:
    async with world.session() as session:
        found = await session.scalar(
            text("SELECT count(*) FROM audit_events WHERE action = 'auth.login_failed' AND record_id = :n"),
            {"n": name},
        )
        return int(found or 0)


async def _unblock(world: World) -> None:
    """Time passes: every running delay ends now (the counts stay)."""
    async with world.session() as session, session.begin():
        await session.execute(text("UPDATE login_throttle SET blocked_until = now() - interval '1 ms'"))


async def test_thirty_parallel_wrong_passwords_check_at_most_the_allowed_few(world: World) -> None:
    await world.person(RoleGrantIn(role=Role.town_admin), username="town.li")

    async with _client(world, "203.0.113.7") as attacker:
        answers: list[Response] = await asyncio.gather(
            *(login(attacker, "town.li", f"guess-{n}") for n in range(30))
        )

    statuses = sorted(r.status_code for r in answers)
    assert set(statuses) <= {401, 429}, statuses
    assert statuses.count(401) <= throttle.FREE_FAILURES, statuses
    assert statuses.count(429) >= 30 - throttle.FREE_FAILURES
    # only the attempts that were let through were checked (and each left its audit event)
    assert await _failed_events(world, "town.li") == statuses.count(401)
    refused = next(r for r in answers if r.status_code == 429)
    assert_error(refused, 429, "too_many_attempts")
    assert int(refused.headers["retry-after"]) >= 1


async def test_a_stranger_hammering_the_town_admin_does_not_lock_the_admin_out(world: World) -> None:
    await world.person(RoleGrantIn(role=Role.town_admin), username="town.wang")

    async with _client(world, "198.51.100.23") as stranger:
        for n in range(throttle.FREE_FAILURES + 5):
            answer = await login(stranger, "town.wang", f"guess-{n}")
            assert answer.status_code in (401, 429), answer.text
        locked = await login(stranger, "town.wang", PASSWORD)  # from there even the right password waits
    async with _client(world, "192.0.2.10") as office:
        welcome = await login(office, "town.wang", PASSWORD)

    assert_error(locked, 429, "too_many_attempts")
    assert welcome.status_code == 200, welcome.text


async def test_the_delay_grows_with_every_failure_and_a_success_ends_it(world: World) -> None:
    await world.person(RoleGrantIn(role=Role.town_admin), username="town.zhao")
    delays = []

    async with _client(world, "203.0.113.50") as guesser:
        for n in range(throttle.FREE_FAILURES):
            assert_error(await login(guesser, "town.zhao", f"guess-{n}"), 401, "invalid_credentials")
        for n in range(4):
            refused = await login(guesser, "town.zhao", PASSWORD)
            assert_error(refused, 429, "too_many_attempts")
            delays.append(int(refused.headers["retry-after"]))
            await _unblock(world)
            assert_error(await login(guesser, "town.zhao", f"again-{n}"), 401, "invalid_credentials")
        await _unblock(world)
        assert (await login(guesser, "town.zhao", PASSWORD)).status_code == 200
        # the success ended the run: a mistake right after is answered 401, not 429
        assert_error(await login(guesser, "town.zhao", "typo"), 401, "invalid_credentials")

    assert delays == sorted(delays)
    assert delays[0] <= 2
    assert delays[-1] >= 4 * delays[0]
    assert "秒" in refused.json()["detail"] or "分钟" in refused.json()["detail"]


async def test_the_delay_is_capped(world: World) -> None:
    async with world.session() as session, session.begin():
        await session.execute(
            text(
                "INSERT INTO login_throttle (kind, name_key, client_addr, failures) "
                "VALUES ('n', 'nobody', '203.0.113.9', 60)"
            )
        )
    async with _client(world, "203.0.113.9") as guesser:
        assert_error(await login(guesser, "nobody", "guess"), 401, "invalid_credentials")
        refused = await login(guesser, "nobody", "guess")

    assert_error(refused, 429, "too_many_attempts")
    assert int(refused.headers["retry-after"]) <= throttle.MAX_DELAY_SECONDS
    assert int(refused.headers["retry-after"]) >= throttle.MAX_DELAY_SECONDS - 5
