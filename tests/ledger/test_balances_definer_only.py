"""Balances the service cannot write: the service role (jifen_app) has no UPDATE on accounts and no write on
holds; every balance moves through SECURITY DEFINER functions owned by the schema owner, with a pinned
search_path, that check their inputs themselves. A stolen service password cannot mint points."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from jifen.auth.actor import console_actor
from jifen.kit.migrate import grant_app_privileges_sql
from jifen.ledger import service as ledger
from jifen.models import Hold
from jifen.settings import Settings
from tests.db import _asyncpg_url
from tests.factories import World
from tests.ledger.helpers import award, balance, make_rule

DEFINER_FUNCTIONS = (
    "ledger_post",
    "ledger_hold",
    "ledger_release_hold",
    "ledger_capture_hold",
    "ledger_lock_households",
)


@pytest.fixture
async def app_db(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A connection as the role the service uses (what someone with the service's password has)."""
    assert settings.database_url
    connection = await asyncpg.connect(_asyncpg_url(settings.database_url))
    if await connection.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"):
        await connection.close()
        pytest.skip("the service connects as a superuser here (no separate app role)")
    yield connection
    await connection.close()


async def awarded(world: World, points: int = 30) -> tuple[Any, uuid.UUID]:
    setup = await world.setup_village(households=2)
    household = setup.households[1]
    response = await award(world, setup.people["cadre"], household.id, await make_rule(world, setup, points))
    assert response.status_code == 201, response.text
    return setup, household.id


async def refused(connection: asyncpg.Connection, sql: str, *args: Any) -> asyncpg.PostgresError:
    with pytest.raises(asyncpg.PostgresError) as caught:
        await connection.execute(sql, *args)
    return caught.value


async def test_the_service_role_cannot_write_a_balance_by_hand(
    world: World, app_db: asyncpg.Connection
) -> None:
    setup, household_id = await awarded(world)
    for sql in [
        "UPDATE accounts SET posted = posted + 1000 WHERE id = $1",
        "UPDATE accounts SET lifetime_earned = lifetime_earned + 1000 WHERE id = $1",
        "UPDATE accounts SET held = 0 WHERE id = $1",
        "UPDATE accounts SET version = version + 1 WHERE id = $1",
        "DELETE FROM accounts WHERE id = $1",
        # a row lock needs UPDATE too: the service locks accounts through ledger_lock_households()
        "SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE",
    ]:
        error = await refused(app_db, sql, household_id)
        assert isinstance(error, asyncpg.InsufficientPrivilegeError), (sql, error)
    error = await refused(app_db, "TRUNCATE accounts CASCADE")
    assert isinstance(error, asyncpg.InsufficientPrivilegeError), error
    # nor write a balanced transaction between two system accounts (a store's balance is its postings' sum)
    store_account, issuing = (
        setup.store.id,
        await app_db.fetchval(
            "SELECT id FROM accounts WHERE village_id = $1 AND kind = 'issuing'", setup.village.id
        ),
    )
    transaction_id = uuid.uuid4()
    error = await refused(
        app_db,
        "INSERT INTO ledger_transactions (village_id, id, kind, actor_id) VALUES ($1, $2, 'adjustment', $2)",
        setup.village.id,
        transaction_id,
    )
    assert isinstance(error, asyncpg.InsufficientPrivilegeError), error
    error = await refused(
        app_db,
        "INSERT INTO postings (village_id, transaction_id, account_id, amount)"
        " VALUES ($1, $2, $3, 1000), ($1, $2, $4, -1000)",
        setup.village.id,
        transaction_id,
        store_account,
        issuing,
    )
    assert isinstance(error, asyncpg.InsufficientPrivilegeError), error
    # nor set points aside, or free them, behind the ledger's back
    error = await refused(
        app_db,
        "INSERT INTO holds (village_id, id, account_id, amount, actor_id) VALUES ($1, $2, $3, 1, $2)",
        setup.village.id,
        uuid.uuid4(),
        household_id,
    )
    assert isinstance(error, asyncpg.InsufficientPrivilegeError), error
    async with world.session() as session, session.begin():
        hold = await ledger.place_hold(
            session,
            console_actor(),
            ledger.HoldTerms(village_id=setup.village.id, household_id=household_id, amount=10),
        )
    error = await refused(
        app_db, "UPDATE holds SET status = 'released', ended_at = now() WHERE id = $1", hold.id
    )
    assert isinstance(error, asyncpg.InsufficientPrivilegeError), error
    # nor switch the guards off
    for table in ("accounts", "holds"):
        error = await refused(app_db, f"ALTER TABLE {table} DISABLE TRIGGER USER")
        assert isinstance(error, asyncpg.InsufficientPrivilegeError), error
    assert await balance(world, setup.people["village_admin"], household_id) == {
        "household_id": str(household_id),
        "posted": 30,
        "held": 10,
        "available": 20,
        "lifetime_earned": 30,
    }


async def test_an_account_opens_empty(world: World, app_db: asyncpg.Connection) -> None:
    """The service may open accounts (INSERT), but never one that starts with points."""
    setup = await world.setup_village(households=1)
    village_id = setup.village.id

    async def new_household() -> uuid.UUID:
        household_id = uuid.uuid4()
        await app_db.execute(
            "INSERT INTO households (village_id, id, code, head_name) VALUES ($1, $2, $3, '张三')",
            village_id,
            household_id,
            f"X{household_id.hex[:8]}",
        )
        return household_id

    for column in ("posted", "held", "lifetime_earned", "version"):
        household_id = await new_household()
        error = await refused(
            app_db,
            f"INSERT INTO accounts (village_id, id, kind, household_id, {column})"
            " VALUES ($1, $2, 'household', $2, 1000)",
            village_id,
            household_id,
        )
        assert error.sqlstate == "JF002", (column, error)
    household_id = await new_household()
    await app_db.execute(
        "INSERT INTO accounts (village_id, id, kind, household_id) VALUES ($1, $2, 'household', $2)",
        village_id,
        household_id,
    )
    assert await app_db.fetchval("SELECT posted FROM accounts WHERE id = $1", household_id) == 0


async def test_the_definer_functions_are_pinned_and_only_the_service_may_call_them(
    world: World, app_db: asyncpg.Connection
) -> None:
    rows = await app_db.fetch(
        """
        SELECT p.proname, p.prosecdef, p.proconfig, p.proowner = c.relowner AS owned_by_table_owner,
               has_function_privilege(current_user, p.oid, 'EXECUTE') AS service_may_call,
               EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) acl
                        WHERE acl.grantee = 0 AND acl.privilege_type = 'EXECUTE') AS public_may_call
          FROM pg_proc p
          JOIN pg_namespace n ON n.oid = p.pronamespace AND n.nspname = 'public'
          CROSS JOIN pg_class c
         WHERE c.oid = 'public.accounts'::regclass AND p.proname = ANY($1::text[])
        """,
        list(DEFINER_FUNCTIONS),
    )
    assert sorted(row["proname"] for row in rows) == sorted(DEFINER_FUNCTIONS)
    for row in rows:
        assert row["prosecdef"], row
        assert "search_path=pg_catalog, public, pg_temp" in (row["proconfig"] or []), row
        assert row["owned_by_table_owner"], row
        assert row["service_may_call"], row
        assert not row["public_may_call"], row
    # the service cannot swap a function's body or drop its pinning
    error = await refused(
        app_db,
        "CREATE OR REPLACE FUNCTION ledger_release_hold(uuid, uuid) RETURNS void LANGUAGE sql AS 'SELECT'",
    )
    assert isinstance(error, asyncpg.InsufficientPrivilegeError), error
    error = await refused(
        app_db, "ALTER FUNCTION ledger_hold(uuid, uuid, bigint, text, text, uuid, uuid) SECURITY INVOKER"
    )
    assert isinstance(error, asyncpg.InsufficientPrivilegeError), error


async def test_the_definer_functions_check_their_inputs(world: World, app_db: asyncpg.Connection) -> None:
    """Called directly with the service's password, each function still refuses what the ledger refuses."""
    setup, household_id = await awarded(world)
    other = await world.setup_village(households=1)
    village_id, actor = setup.village.id, uuid.uuid4()
    hold = "SELECT id FROM ledger_hold($1, $2, $3, NULL, NULL, NULL, $4)"

    # a negative hold would make points available out of nothing
    error = await refused(app_db, hold, village_id, household_id, -1000, actor)
    assert error.sqlstate == "JF005", error
    # more than is available
    error = await refused(app_db, hold, village_id, household_id, 31, actor)
    assert error.sqlstate == "JF001", error
    # the household of another village, named with this village
    error = await refused(app_db, hold, village_id, other.households[0].id, 1, actor)
    assert error.sqlstate == "JF004", error

    held = await app_db.fetchval(hold, village_id, household_id, 10, actor)
    await app_db.execute("SELECT ledger_release_hold($1, $2)", village_id, held)
    # a hold ends once: releasing it again would free points that are not held
    error = await refused(app_db, "SELECT ledger_release_hold($1, $2)", village_id, held)
    assert error.sqlstate == "JF006", error
    # nor can another village's name end it
    again = await app_db.fetchval(hold, village_id, household_id, 10, actor)
    error = await refused(app_db, "SELECT ledger_release_hold($1, $2)", other.village.id, again)
    assert error.sqlstate == "JF006", error

    # lifetime earned follows the ledger's rule, not whatever the caller claims
    issuing = await app_db.fetchval(
        "SELECT id FROM accounts WHERE village_id = $1 AND kind = 'issuing'", village_id
    )
    error = await refused(
        app_db,
        "SELECT ledger_post($1, $2, ARRAY[$3::uuid], ARRAY['award'], ARRAY[NULL::text], ARRAY[NULL::uuid],"
        " ARRAY[NULL::integer], ARRAY[NULL::text], ARRAY[NULL::uuid], ARRAY[NULL::uuid], ARRAY[NULL::text],"
        " ARRAY[1, 1], ARRAY[$4::uuid, $5::uuid], ARRAY[5, -5]::bigint[], ARRAY[1000000, 0]::bigint[])",
        village_id,
        actor,
        uuid.uuid4(),
        household_id,
        issuing,
    )
    assert error.sqlstate == "JF005", error
    # nor credit another village's household from this village's issuing account
    other_household = other.households[0].id
    post = (
        "SELECT ledger_post($1, $2, ARRAY[$3::uuid], ARRAY['award'], ARRAY[NULL::text], ARRAY[NULL::uuid],"
        " ARRAY[NULL::integer], ARRAY[NULL::text], ARRAY[NULL::uuid], ARRAY[NULL::uuid], ARRAY[NULL::text],"
        " ARRAY[1, 1], ARRAY[$4::uuid, $5::uuid], ARRAY[5, -5]::bigint[], $6::bigint[])"
    )
    error = await refused(app_db, post, village_id, actor, uuid.uuid4(), other_household, issuing, [5, 0])
    assert error.sqlstate == "JF005", error  # not a household of this village: it earns nothing here
    error = await refused(app_db, post, village_id, actor, uuid.uuid4(), other_household, issuing, [0, 0])
    assert isinstance(error, asyncpg.ForeignKeyViolationError), error
    # a hold is captured only by a transaction that takes exactly its points
    capture = (
        "SELECT ledger_capture_hold($1, $2, $3, ARRAY[$4::uuid], ARRAY['redemption'], ARRAY[NULL::text],"
        " ARRAY[NULL::uuid], ARRAY[NULL::integer], ARRAY[NULL::text], ARRAY[NULL::uuid], ARRAY[NULL::uuid],"
        " ARRAY[NULL::text], ARRAY[1, 1], ARRAY[$5::uuid, $6::uuid], ARRAY[-1, 1]::bigint[],"
        " ARRAY[0, 0]::bigint[])"
    )
    error = await refused(
        app_db, capture, again, village_id, actor, uuid.uuid4(), household_id, setup.store.id
    )
    assert error.sqlstate == "JF005", error

    got = await balance(world, setup.people["village_admin"], household_id)
    assert (got["posted"], got["held"], got["available"], got["lifetime_earned"]) == (30, 10, 20, 30)
    assert (await balance(world, other.people["village_admin"], other_household))["posted"] == 0


async def test_a_temporary_table_cannot_stand_in_for_the_ledger(
    world: World, app_db: asyncpg.Connection
) -> None:
    """pg_temp is searched first unless the function's search_path names it last: it does."""
    setup, household_id = await awarded(world)
    await app_db.execute(
        "CREATE TEMPORARY TABLE accounts (village_id uuid, id uuid, kind text, posted bigint, held bigint,"
        " version bigint)"
    )
    await app_db.execute(
        "INSERT INTO pg_temp.accounts VALUES ($1, $2, 'household', 1000000, 0, 0)",
        setup.village.id,
        household_id,
    )
    error = await refused(
        app_db,
        "SELECT ledger_hold($1, $2, 1000, NULL, NULL, NULL, $3)",
        setup.village.id,
        household_id,
        uuid.uuid4(),
    )
    assert error.sqlstate == "JF001", error  # judged on the real balance, 30


async def test_a_hold_ends_once_under_concurrency(world: World) -> None:
    """Two parallel releases of one hold: one frees the points, the other is refused."""
    setup, household_id = await awarded(world)
    async with world.session() as session, session.begin():
        held = await ledger.place_hold(
            session,
            console_actor(),
            ledger.HoldTerms(village_id=setup.village.id, household_id=household_id, amount=20),
        )
        other = await ledger.place_hold(
            session,
            console_actor(),
            ledger.HoldTerms(village_id=setup.village.id, household_id=household_id, amount=5),
        )

    async def release() -> str:
        try:
            async with world.session() as session, session.begin():
                mine = await session.get(Hold, (setup.village.id, held.id))
                assert mine is not None
                await ledger.release_hold(session, console_actor(), mine)
        except ledger.HoldNotActive:
            return "refused"
        return "released"

    outcomes = sorted(await asyncio.gather(*(release() for _ in range(8))))
    assert outcomes == ["refused"] * 7 + ["released"]
    got = await balance(world, setup.people["village_admin"], household_id)
    assert (got["posted"], got["held"], got["available"]) == (30, 5, 25)
    assert other.status == "active"


async def test_a_later_migrations_blanket_grant_does_not_give_the_balances_back(
    world: World, settings: Settings, app_db: asyncpg.Connection
) -> None:
    """Every migration that adds tables ends with grant_app_privileges_sql() (GRANT ... ON ALL TABLES): it
    must take UPDATE on accounts and writes on holds away again, whatever order the migrations merge in."""
    assert settings.migrate_database_url
    owner = await asyncpg.connect(_asyncpg_url(settings.migrate_database_url))
    try:
        await owner.execute(grant_app_privileges_sql())
        # and a grant given back by hand still meets the owner-only trigger
        await owner.execute("GRANT UPDATE ON accounts TO jifen_app; GRANT INSERT ON holds TO jifen_app")
        setup, household_id = await awarded(world)
        mint = "UPDATE accounts SET posted = posted + 1000 WHERE id = $1"
        error = await refused(app_db, mint, household_id)
        assert isinstance(error, asyncpg.InsufficientPrivilegeError), error
        assert "ledger's functions only" in str(error)
        error = await refused(
            app_db,
            "INSERT INTO holds (village_id, id, account_id, amount, actor_id) VALUES ($1, $2, $3, 1, $2)",
            setup.village.id,
            uuid.uuid4(),
            household_id,
        )
        assert isinstance(error, asyncpg.InsufficientPrivilegeError), error
        await owner.execute(grant_app_privileges_sql())
    finally:
        await owner.close()
    privileges = await app_db.fetchrow(
        """
        SELECT has_table_privilege('accounts', 'UPDATE') AS accounts_update,
               has_table_privilege('accounts', 'INSERT') AS accounts_insert,
               has_table_privilege('holds', 'INSERT') AS holds_insert,
               has_table_privilege('holds', 'UPDATE') AS holds_update,
               has_table_privilege('holds', 'DELETE') AS holds_delete,
               has_table_privilege('holds', 'SELECT') AS holds_select,
               has_table_privilege('postings', 'INSERT') AS postings_insert,
               has_table_privilege('ledger_transactions', 'INSERT') AS transactions_insert
        """
    )
    assert dict(privileges) == {
        "accounts_update": False,
        "accounts_insert": True,  # accounts are opened by the service, empty
        "holds_insert": False,
        "holds_update": False,
        "holds_delete": False,
        "holds_select": True,
        "postings_insert": False,
        "transactions_insert": False,
    }
