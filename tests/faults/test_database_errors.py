"""503s from a real PostgreSQL that cannot do the work: unreachable, connections dropped mid-request, too
many connections, read-only, and a lock held too long. In-process app, the shared test cluster."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from jifen.app import create_app
from jifen.kit.faults import database_fault
from jifen.settings import Settings
from tests.db import _asyncpg_url
from tests.factories import VillageSetup, World
from tests.helpers import assert_error
from tests.ledger.helpers import award, balance, make_rule

if TYPE_CHECKING:
    from tests.db import TestCluster

pytestmark = pytest.mark.faults(timeout=60)


@pytest.fixture
async def owner(template: TestCluster, database: str) -> AsyncIterator[asyncpg.Connection]:
    """A superuser connection on the test's database: does to PostgreSQL what an operator or a crash would."""
    connection = await asyncpg.connect(_asyncpg_url(template.owner_url_for(database)))
    yield connection
    await connection.close()


async def _terminate_jifen_backends(owner: asyncpg.Connection, *, settle: float = 0.3) -> int:
    ended = int(
        await owner.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'jifen' AND datname = current_database()"
        )
    )
    await asyncio.sleep(settle)  # the sockets close a moment after the signal
    return ended


async def _awards_with_note(world: World, note: str) -> int:
    async with world.session() as session:
        from sqlalchemy import text

        return int(
            (await session.execute(text("SELECT count(*) FROM awards WHERE note = :n"), {"n": note})).scalar()
        )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def unreachable_client(settings: Settings) -> AsyncIterator[AsyncClient]:
    """jifen configured with a PostgreSQL that is not there (nothing listens on the port)."""
    down = settings.model_copy(
        update={"database_url": f"postgresql://jifen_app@127.0.0.1:{_closed_port()}/jifen"}
    )
    app = create_app(down)
    async with (
        LifespanManager(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://jifen.test") as http,
    ):
        yield http


async def test_an_unreachable_database_answers_503_on_the_api_and_the_pages_at_once(
    unreachable_client: AsyncClient,
) -> None:
    started = time.monotonic()
    token = await unreachable_client.post(
        "/api/v1/auth/token", data={"username": "cadre", "password": "x" * 12}
    )
    body = assert_error(token, 503, "database_unavailable")
    assert "数据库" in body["detail"]
    assert token.headers["Retry-After"].isdigit()
    me = await unreachable_client.get("/api/v1/auth/me", headers={"Authorization": "Bearer not-a-token"})
    assert me.status_code in (401, 503), me.text  # a token that is no token needs no database
    ready = await unreachable_client.get("/readyz")
    assert_error(ready, 503, "database_unavailable")
    # the login page is served without the database; signing in needs it and says so in a page
    form = await unreachable_client.get("/login")
    assert form.status_code == 200
    csrf = form.text.split('name="csrf_token" value="')[1].split('"')[0] if "csrf_token" in form.text else ""
    page = await unreachable_client.post(
        "/login",
        data={"username": "cadre", "password": "x" * 12, "csrf_token": csrf, "next": "/"},
        headers={"Accept": "text/html"},
    )
    assert page.status_code == 503, page.text
    assert "text/html" in page.headers["content-type"]
    assert "数据库暂时连不上" in page.text
    assert time.monotonic() - started < 10, "an unreachable database must not make requests hang"


async def test_too_many_connections_is_database_unavailable_not_500(
    world: World, owner: asyncpg.Connection, database: str
) -> None:
    setup = await world.setup_village(households=1)
    rule = await make_rule(world, setup, 5)
    await world.app.state.engine.dispose()
    await owner.execute(f'ALTER DATABASE "{database}" CONNECTION LIMIT 0')
    try:
        response = await award(world, setup.people["cadre"], setup.households[0].id, rule)
        assert_error(response, 503, "database_unavailable")
    finally:
        await owner.execute(f'ALTER DATABASE "{database}" CONNECTION LIMIT -1')
    response = await award(world, setup.people["cadre"], setup.households[0].id, rule)
    assert response.status_code == 201, response.text


async def _hold_household_lock(owner: asyncpg.Connection, household_id: uuid.UUID) -> Any:
    """An open transaction that holds the household's account row, as a long sale in another session would."""
    transaction = owner.transaction()
    await transaction.start()
    await owner.execute("SELECT 1 FROM accounts WHERE household_id = $1 FOR UPDATE", household_id)
    return transaction


async def _jifen_locks(owner: asyncpg.Connection) -> int:
    return int(
        await owner.fetchval(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE a.application_name = 'jifen' AND a.datname = current_database()"
        )
    )


async def test_connections_dropped_mid_request_answer_503_and_the_next_request_reconnects(
    world: World, owner: asyncpg.Connection
) -> None:
    setup = await world.setup_village(households=1)
    household = setup.households[0].id
    rule = await make_rule(world, setup, 5)
    cadre = setup.people["cadre"]
    lock = await _hold_household_lock(owner, household)
    try:
        pending = asyncio.create_task(
            world.call(
                "POST",
                "/awards",
                cadre,
                json={"household_id": str(household), "rule_id": rule["id"], "note": "dropped"},
                headers={"Idempotency-Key": "dropped-1"},
            )
        )
        await asyncio.sleep(0.5)  # the award now waits on the account row
        assert not pending.done()
        # the operator (or a crash) ends every jifen connection, the waiting one and the pooled ones
        assert await _terminate_jifen_backends(owner, settle=0) >= 1
        response = await asyncio.wait_for(pending, 10)
    finally:
        await lock.rollback()
    body = assert_error(response, 503, "database_unavailable")
    assert "没有生效" in body["detail"]
    assert await _awards_with_note(world, "dropped") == 0
    # the pool's other connections died too: the next requests get fresh ones, no 5xx, no restart
    for _ in range(3):
        assert (await balance(world, cadre, household))["posted"] == 0
    retried = await world.call(
        "POST",
        "/awards",
        cadre,
        json={"household_id": str(household), "rule_id": rule["id"], "note": "dropped"},
        headers={"Idempotency-Key": "dropped-1"},
    )
    assert retried.status_code == 201, retried.text
    assert (await balance(world, cadre, household))["posted"] == 5
    assert await _awards_with_note(world, "dropped") == 1


async def test_idle_pooled_connections_killed_by_a_restart_are_replaced_without_an_error(
    world: World, owner: asyncpg.Connection
) -> None:
    setup = await world.setup_village(households=1)
    villager = setup.people["villager"]
    household = setup.households[0].id
    await asyncio.gather(*(balance(world, villager, household) for _ in range(8)))  # fill the pool
    assert await _terminate_jifen_backends(owner) >= 1
    answers = await asyncio.gather(
        *(world.call("GET", f"/households/{household}/balance", villager) for _ in range(8))
    )
    assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers]


async def test_a_read_only_database_answers_503_and_writes_nothing(
    world: World, owner: asyncpg.Connection, database: str
) -> None:
    setup = await world.setup_village(households=1)
    household = setup.households[0].id
    rule = await make_rule(world, setup, 7)
    cadre = setup.people["cadre"]
    await owner.execute(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
    await _terminate_jifen_backends(owner)  # new sessions pick the setting up
    try:
        refused = await world.call(
            "POST",
            "/awards",
            cadre,
            json={"household_id": str(household), "rule_id": rule["id"], "note": "read-only"},
            headers={"Idempotency-Key": "read-only-1"},
        )
        body = assert_error(refused, 503, "database_read_only")
        assert "只能查看" in body["detail"]
        # reading still works: a villager can see the balance while the database is read-only
        assert (await balance(world, cadre, household))["posted"] == 0
    finally:
        await owner.execute(f'ALTER DATABASE "{database}" RESET default_transaction_read_only')
        await _terminate_jifen_backends(owner)
    assert await _awards_with_note(world, "read-only") == 0
    retried = await world.call(
        "POST",
        "/awards",
        cadre,
        json={"household_id": str(household), "rule_id": rule["id"], "note": "read-only"},
        headers={"Idempotency-Key": "read-only-1"},
    )
    assert retried.status_code == 201, retried.text
    assert (await balance(world, cadre, household))["posted"] == 7


@pytest.fixture(params=["lock_timeout", "statement_timeout"])
async def impatient_app(settings: Settings, request: pytest.FixtureRequest) -> AsyncIterator[FastAPI]:
    """jifen with a short lock timeout, or a short statement timeout (a lock wait counts towards it too)."""
    short = {"lock_timeout_ms": 300} if request.param == "lock_timeout" else {"statement_timeout_ms": 300}
    app = create_app(settings.model_copy(update=short))
    async with LifespanManager(app):
        yield app


async def test_a_request_waiting_on_a_lock_too_long_is_busy_and_holds_no_lock(
    impatient_app: FastAPI, owner: asyncpg.Connection
) -> None:
    async with AsyncClient(transport=ASGITransport(app=impatient_app), base_url="http://jifen.test") as http:
        world = World(app=impatient_app, client=http)
        setup: VillageSetup = await world.setup_village(households=1)
        household = setup.households[0].id
        rule = await make_rule(world, setup, 3)
        cadre = setup.people["cadre"]
        lock = await _hold_household_lock(owner, household)
        try:
            started = time.monotonic()
            response = await world.call(
                "POST",
                "/awards",
                cadre,
                json={"household_id": str(household), "rule_id": rule["id"], "note": "busy"},
                headers={"Idempotency-Key": "busy-1"},
            )
            waited = time.monotonic() - started
            body = assert_error(response, 503, "busy")
            assert "正忙" in body["detail"]
            assert waited < 5, waited
            # the refused request rolled back: no jifen session holds a lock or sits in a transaction
            assert await _jifen_locks(owner) == 0
        finally:
            await lock.rollback()
        assert await _awards_with_note(world, "busy") == 0
        retried = await world.call(
            "POST",
            "/awards",
            cadre,
            json={"household_id": str(household), "rule_id": rule["id"], "note": "busy"},
            headers={"Idempotency-Key": "busy-1"},
        )
        assert retried.status_code == 201, retried.text
        assert await _awards_with_note(world, "busy") == 1


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (asyncpg.exceptions.AdminShutdownError("terminating connection"), "database_unavailable"),
        (asyncpg.exceptions.CrashShutdownError("crash"), "database_unavailable"),
        (
            asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
            "database_unavailable",
        ),
        (asyncpg.exceptions.TooManyConnectionsError("too many"), "database_unavailable"),
        (asyncpg.exceptions.ConnectionFailureError("lost"), "database_unavailable"),
        (asyncpg.exceptions.ReadOnlySQLTransactionError("read only"), "database_read_only"),
        (asyncpg.exceptions.DiskFullError("could not extend file"), "storage_full"),
        (asyncpg.exceptions.QueryCanceledError("statement timeout"), "busy"),
        (asyncpg.exceptions.LockNotAvailableError("lock timeout"), "busy"),
        (asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"), "database_unavailable"),
        (asyncpg.exceptions.UniqueViolationError("duplicate"), None),
        (FileNotFoundError(2, "no such photo"), None),
    ],
)
def test_every_database_failure_class_has_its_503(error: BaseException, code: str | None) -> None:
    fault = database_fault(error)
    assert (fault.code if fault else None) == code
    if fault is not None:
        assert fault.status == 503


async def test_the_orm_path_answers_the_same_503s_as_the_driver_path(
    impatient_app: FastAPI, owner: asyncpg.Connection
) -> None:
    """GET /villages reads through SQLAlchemy (its DBAPIError wrapping), not through the raw driver."""
    async with AsyncClient(transport=ASGITransport(app=impatient_app), base_url="http://jifen.test") as http:
        world = World(app=impatient_app, client=http)
        town = await world.town_admin()
        assert (await world.call("GET", "/villages", town)).status_code == 200
        lock = owner.transaction()
        await lock.start()
        await owner.execute("LOCK TABLE villages IN ACCESS EXCLUSIVE MODE")
        try:
            # waiting longer than the lock timeout: busy
            assert_error(await world.call("GET", "/villages", town), 503, "busy")
            # dropped while it waits: database_unavailable
            pending = asyncio.create_task(world.call("GET", "/villages", town))
            await asyncio.sleep(0.1)
            await _terminate_jifen_backends(owner, settle=0)
            assert_error(await asyncio.wait_for(pending, 10), 503, "database_unavailable")
        finally:
            await lock.rollback()
        await asyncio.sleep(0.3)
        assert (await world.call("GET", "/villages", town)).status_code == 200


@pytest.fixture
async def single_connection_app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(
        settings.model_copy(update={"db_pool_size": 1, "db_max_overflow": 0, "statement_timeout_ms": 100})
    )
    async with LifespanManager(app):
        yield app


async def test_a_frozen_database_connection_is_503_after_a_bounded_wait_not_a_hang(
    single_connection_app: FastAPI, owner: asyncpg.Connection
) -> None:
    """A server process that stops answering (frozen, cut off) cannot enforce statement_timeout itself."""
    if os.environ.get("JIFEN_TEST_DATABASE_URL"):
        pytest.skip("freezes a PostgreSQL process: needs the embedded test cluster on this machine")
    async with AsyncClient(
        transport=ASGITransport(app=single_connection_app), base_url="http://jifen.test"
    ) as http:
        world = World(app=single_connection_app, client=http)
        town = await world.town_admin()
        assert (await world.call("GET", "/villages", town)).status_code == 200
        pid = await owner.fetchval(
            "SELECT pid FROM pg_stat_activity "
            "WHERE application_name = 'jifen' AND datname = current_database()"
        )
        os.kill(pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            response = await asyncio.wait_for(world.call("GET", "/villages", town), 30)
            waited = time.monotonic() - started
        finally:
            os.kill(pid, signal.SIGCONT)
        assert_error(response, 503, "database_unavailable")
        assert waited < 10, waited
        await _terminate_jifen_backends(owner)
        assert (await world.call("GET", "/villages", town)).status_code == 200


@pytest.fixture
async def one_connection_app(settings: Settings) -> AsyncIterator[FastAPI]:
    update = {"db_pool_size": 1, "db_max_overflow": 0, "db_pool_timeout_seconds": 0.5}
    app = create_app(settings.model_copy(update=update))
    async with LifespanManager(app):
        yield app


async def test_every_pooled_connection_in_use_too_long_is_busy_not_a_hang(
    one_connection_app: FastAPI, owner: asyncpg.Connection
) -> None:
    async with AsyncClient(
        transport=ASGITransport(app=one_connection_app), base_url="http://jifen.test"
    ) as http:
        world = World(app=one_connection_app, client=http)
        setup = await world.setup_village(households=1)
        household = setup.households[0].id
        rule = await make_rule(world, setup, 4)
        cadre = setup.people["cadre"]
        lock = await _hold_household_lock(owner, household)
        try:
            # the process's only connection waits on the household's row
            waiting = asyncio.create_task(award(world, cadre, household, rule, idempotency_key="pool-1"))
            await asyncio.sleep(0.5)
            started = time.monotonic()
            crowded = await world.call("GET", f"/households/{household}/balance", cadre)
            assert_error(crowded, 503, "busy")
            assert time.monotonic() - started < 5
        finally:
            await lock.rollback()
        assert (await asyncio.wait_for(waiting, 10)).status_code == 201
        assert (await balance(world, cadre, household))["posted"] == 4
