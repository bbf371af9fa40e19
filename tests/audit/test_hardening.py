"""Hardening that belongs with the record: login throttling per client address (per name is in
tests/auth), a successful login ending a name's run of failures, no password and no whole mobile number in
any log line, and a production database role that cannot rewrite the audit trail."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
import structlog
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from jifen.app import create_app
from jifen.auth.throttle import MAX_FAILURES, MAX_FAILURES_PER_ADDRESS
from jifen.kit.logging import configure_logging
from jifen.models import Role
from jifen.settings import Settings
from jifen.users.schemas import RoleGrantIn
from tests.db import _asyncpg_url
from tests.factories import PASSWORD, World
from tests.helpers import assert_error, bearer, login


async def test_failures_from_one_address_lock_that_address_only(world: World) -> None:
    await world.person(RoleGrantIn(role=Role.town_admin), username="wang.wu")

    # a guesser spreading attempts over many names stays under every name's limit...
    for attempt in range(MAX_FAILURES_PER_ADDRESS):
        assert_error(await login(world.client, f"guess-{attempt}", "guess-guess"), 401, "invalid_credentials")
    # ...but not under the address's: the next attempt from there is refused, whatever its name and password
    locked = await login(world.client, "wang.wu", PASSWORD)
    again = await login(world.client, "someone-new", "guess-guess")

    assert_error(locked, 429, "too_many_attempts")
    assert_error(again, 429, "too_many_attempts")
    transport = ASGITransport(app=world.app, client=("10.0.0.2", 1234))
    async with AsyncClient(transport=transport, base_url="http://jifen.test") as elsewhere:
        welcome = await login(elsewhere, "wang.wu", PASSWORD)
        wrong = await login(elsewhere, "wang.wu", "guess-guess")
    assert welcome.status_code == 200, welcome.text
    assert_error(wrong, 401, "invalid_credentials")  # counted, not refused: this address is clean


async def test_a_successful_login_ends_the_names_run_of_failures(world: World) -> None:
    await world.person(RoleGrantIn(role=Role.town_admin), username="zhou.qi")
    almost = MAX_FAILURES - 1

    for _ in range(almost):
        assert_error(await login(world.client, "zhou.qi", "guess-guess"), 401, "invalid_credentials")
    assert (await login(world.client, "zhou.qi", PASSWORD)).status_code == 200
    # the count starts again: another full run of failures is answered 401, only the one after it 429
    for _ in range(MAX_FAILURES):
        assert_error(await login(world.client, "zhou.qi", "guess-guess"), 401, "invalid_credentials")
    assert_error(await login(world.client, "zhou.qi", PASSWORD), 429, "too_many_attempts")


async def test_logs_never_carry_a_password_or_a_whole_mobile_number(
    world: World, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    town = await world.town_admin()
    village = await world.village()
    password, wrong_password = "Plum-Blossom-8812", "Peach-Blossom-2288"
    chatty = settings.model_copy(update={"log_level": "INFO", "log_requests": True})
    app = create_app(chatty)  # logs to the captured stderr from here on
    try:
        async with (
            LifespanManager(app),
            AsyncClient(transport=ASGITransport(app=app), base_url="http://jifen.test") as http,
        ):
            created = await http.post(
                "/api/v1/users",
                headers=town.headers,
                json={
                    "username": "chen.admin",
                    "password": password,
                    "display_name": "陈主任",
                    "roles": [{"role": "village_admin", "village_id": str(village.id)}],
                },
            )
            assert created.status_code == 201, created.text
            assert_error(await login(http, "chen.admin", wrong_password), 401, "invalid_credentials")
            signed_in = await login(http, "chen.admin", password)
            assert signed_in.status_code == 200, signed_in.text
            household = await http.post(
                f"/api/v1/villages/{village.id}/households",
                headers=bearer(signed_in.json()["access_token"]),
                json={
                    "code": "H-LOG",
                    "head_name": "陈大山",
                    "members": [{"name": "陈大山", "phone": "13912345678"}],
                },
            )
            assert household.status_code == 201, household.text
            # and whatever a developer hands the logger, in whatever shape a phone number is written
            structlog.get_logger("jifen.test").warning(
                "member_contact",
                phone="13912345678",
                note="请拨打 139 1234 5678 或 +86-139-1234-5678",
                members=[{"phone": "8613912345678"}],
            )
    finally:
        with capsys.disabled():  # back to the suite's quiet logging, on the suite's stderr
            configure_logging(json=False, level="WARNING")
    output = capsys.readouterr().err

    assert "/api/v1/auth/token" in output  # the requests were logged...
    assert "member_contact" in output
    assert password not in output  # ...never a password
    assert wrong_password not in output
    for written in ("13912345678", "139 1234 5678", "139-1234-5678"):
        assert written not in output  # nor the number, however it is written
    assert "139****5678" in output


def _app_role_url(settings: Settings) -> str:
    assert settings.database_url
    return _asyncpg_url(settings.database_url)


@pytest.fixture
async def trail_with_checkpoint(world: World) -> uuid.UUID:
    """A village with audit events, chain links and a sealed checkpoint; its id."""
    setup = await world.setup_village(households=1)
    sealed = await world.call(
        "POST", f"/villages/{setup.village.id}/checkpoints", setup.people["village_admin"]
    )
    assert sealed.status_code == 201, sealed.text
    return setup.village.id


CHANGES = [
    "UPDATE audit_events SET reason = '改过了'",
    "DELETE FROM audit_events",
    "TRUNCATE audit_events",
    "UPDATE chain_links SET link_hash = record_hash",
    "DELETE FROM chain_links",
    "TRUNCATE chain_links",
    "UPDATE checkpoints SET digest = '\\x00'",
    "DELETE FROM checkpoints",
    "TRUNCATE checkpoints",
]


async def test_neither_the_service_role_nor_the_owner_can_rewrite_the_trail(
    world: World, settings: Settings, trail_with_checkpoint: uuid.UUID
) -> None:
    village_id = trail_with_checkpoint
    service = await asyncpg.connect(_app_role_url(settings))
    assert settings.migrate_database_url
    owner = await asyncpg.connect(_asyncpg_url(settings.migrate_database_url))
    try:
        if await service.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"):
            pytest.skip("the service connects as a superuser here (no separate app role)")
        counts = "SELECT (SELECT count(*) FROM audit_events), (SELECT count(*) FROM chain_links),"
        counts += " (SELECT count(*) FROM checkpoints)"
        before = tuple(await owner.fetchrow(counts))
        assert all(before)
        for sql in CHANGES:
            with pytest.raises(asyncpg.PostgresError) as as_service:
                await service.execute(sql)
            assert isinstance(as_service.value, asyncpg.InsufficientPrivilegeError), (sql, as_service.value)
            with pytest.raises(asyncpg.PostgresError) as as_owner:
                await owner.execute(sql)
            assert as_owner.value.sqlstate == "JF002", (sql, as_owner.value)
        # nor may the service switch the guard off
        for table in ("audit_events", "chain_links", "checkpoints"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await service.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        assert tuple(await owner.fetchrow(counts)) == before
    finally:
        await service.close()
        await owner.close()
    admin = await world.person(RoleGrantIn(role=Role.village_admin, village_id=village_id))
    verdict = await world.call("GET", "/audit/verify", admin)
    assert verdict.status_code == 200, verdict.text
    assert verdict.json()["ok"] is True
