"""The ledger defends itself in PostgreSQL, whoever connects: the service role has no right to change
history, the owner is stopped by triggers, unbalanced transactions cannot commit, and a household's available
points cannot be pushed below zero even by a hand-written UPDATE."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from jifen.auth.actor import console_actor
from jifen.ledger import service as ledger
from jifen.settings import Settings
from tests.factories import VillageSetup, World
from tests.ledger.helpers import award, balance, make_rule

APPEND_ONLY = ("postings", "ledger_transactions", "rule_versions")


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


@pytest.fixture
async def app_db(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A connection as the role the service uses."""
    assert settings.database_url
    connection = await asyncpg.connect(_plain(settings.database_url))
    if await connection.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"):
        await connection.close()
        pytest.skip("the service connects as a superuser here (no separate app role)")
    yield connection
    await connection.close()


@pytest.fixture
async def owner_db(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A connection as the owner of the tables (a superuser in the test cluster)."""
    assert settings.migrate_database_url
    connection = await asyncpg.connect(_plain(settings.migrate_database_url))
    yield connection
    await connection.close()


async def awarded(world: World, points: int = 30) -> tuple[VillageSetup, uuid.UUID]:
    """A village whose second household has been awarded `points`; returns the household id."""
    setup = await world.setup_village(households=2)
    household = setup.households[1]
    rule = await make_rule(world, setup, points)
    response = await award(world, setup.people["cadre"], household.id, rule)
    assert response.status_code == 201, response.text
    return setup, household.id


def changes(table: str) -> list[str]:
    return [
        f"UPDATE {table} SET created_at = created_at - interval '1 day'",
        f"DELETE FROM {table}",
        f"TRUNCATE {table} CASCADE",
    ]


async def refused(connection: asyncpg.Connection, sql: str, *args: Any) -> asyncpg.PostgresError:
    with pytest.raises(asyncpg.PostgresError) as caught:
        await connection.execute(sql, *args)
    return caught.value


async def test_the_service_role_may_not_update_delete_or_truncate_history(
    world: World, app_db: asyncpg.Connection
) -> None:
    setup, household_id = await awarded(world)
    for table in APPEND_ONLY:
        for sql in changes(table):
            error = await refused(app_db, sql)
            assert isinstance(error, asyncpg.InsufficientPrivilegeError), (sql, error)
        # nor switch the guard off
        error = await refused(app_db, f"ALTER TABLE {table} DISABLE TRIGGER USER")
        assert isinstance(error, asyncpg.InsufficientPrivilegeError), error
    assert (await balance(world, setup.people["village_admin"], household_id))["posted"] == 30


async def test_even_the_owner_is_refused_by_the_append_only_triggers(
    world: World, owner_db: asyncpg.Connection
) -> None:
    setup, household_id = await awarded(world)
    statements = [
        "UPDATE postings SET amount = amount * 10",
        "UPDATE postings SET balance_after = 0",
        "DELETE FROM postings",
        "TRUNCATE postings",
        "UPDATE ledger_transactions SET memo = '改过了'",
        "DELETE FROM ledger_transactions",
        "TRUNCATE ledger_transactions CASCADE",
        "UPDATE rule_versions SET points = 1000",
        "DELETE FROM rule_versions",
    ]
    # and what the ledger names is never deleted
    statements += ["DELETE FROM accounts", "TRUNCATE accounts CASCADE", "DELETE FROM households"]
    statements += ["DELETE FROM villages"]
    for sql in statements:
        error = await refused(owner_db, sql)
        assert error.sqlstate == "JF002", (sql, error)
    admin = setup.people["village_admin"]
    assert (await balance(world, admin, household_id))["posted"] == 30
    entries = (await world.call("GET", f"/households/{household_id}/entries", admin)).json()["items"]
    assert [(e["amount"], e["balance_after"], e["memo"]) for e in entries] == [(30, 30, "门前三包")]


async def write_transaction(
    connection: asyncpg.Connection, village_id: uuid.UUID, lines: list[tuple[uuid.UUID, int]]
) -> list[str]:
    """Write a transaction and its postings by hand (the postings in one statement, as ledger_post does);
    returns the steps that were accepted before the database refused."""
    accepted: list[str] = []
    transaction_id = uuid.uuid4()
    async with connection.transaction():
        await connection.execute(
            "INSERT INTO ledger_transactions (village_id, id, kind, actor_id, memo) "
            "VALUES ($1, $2, 'adjustment', $3, '手工调整')",
            village_id,
            transaction_id,
            uuid.uuid4(),
        )
        accepted.append("transaction")
        if lines:
            await connection.execute(
                "INSERT INTO postings (village_id, transaction_id, account_id, amount) "
                "SELECT $1, $2, l.account, l.amount "
                "FROM unnest($3::uuid[], $4::bigint[]) AS l(account, amount)",
                village_id,
                transaction_id,
                [account for account, _ in lines],
                [amount for _, amount in lines],
            )
            accepted.append("postings")
    return accepted


async def test_an_unbalanced_transaction_is_never_committed(
    world: World, owner_db: asyncpg.Connection
) -> None:
    setup, household_id = await awarded(world)
    village_id = setup.village.id
    issuing = await owner_db.fetchval(
        "SELECT id FROM accounts WHERE village_id = $1 AND kind = 'issuing'", village_id
    )
    for lines in [
        [(household_id, 5)],  # one posting
        [(household_id, 5), (issuing, -4)],  # postings that do not sum to zero
        [],  # no postings at all: every statement is accepted, COMMIT is not
    ]:
        with pytest.raises(asyncpg.PostgresError) as caught:
            await write_transaction(owner_db, village_id, lines)
        assert caught.value.sqlstate == "JF003", (lines, caught.value)

    assert (
        await owner_db.fetchval(
            "SELECT count(*) FROM ledger_transactions WHERE village_id = $1 AND kind = 'adjustment'",
            village_id,
        )
        == 0
    )
    assert (await balance(world, setup.people["village_admin"], household_id))["posted"] == 30
    # a balanced one is accepted, so it is the imbalance that was refused
    assert await write_transaction(owner_db, village_id, [(issuing, 5), (issuing, -5)]) == [
        "transaction",
        "postings",
    ]


async def test_a_direct_update_cannot_take_available_below_zero(
    world: World, owner_db: asyncpg.Connection
) -> None:
    """The service role may not update accounts at all (test_balances_definer_only.py); even the owner, who
    may, cannot push a household below zero or give a system account's row a balance."""
    setup, household_id = await awarded(world)
    for sql in [
        "UPDATE accounts SET held = posted + 1 WHERE id = $1",
        "UPDATE accounts SET posted = held - 1 WHERE id = $1",
        "UPDATE accounts SET held = -1 WHERE id = $1",
    ]:
        error = await refused(owner_db, sql, household_id)
        assert isinstance(error, asyncpg.CheckViolationError), (sql, error)
    # a system account's row never carries a balance (it is the sum of its postings)
    error = await refused(
        owner_db,
        "UPDATE accounts SET posted = 5 WHERE village_id = $1 AND kind = 'issuing'",
        setup.village.id,
    )
    assert isinstance(error, asyncpg.CheckViolationError), error
    assert error.constraint_name == "ck_accounts_system_row_untouched"
    assert await balance(world, setup.people["village_admin"], household_id) == {
        "household_id": str(household_id),
        "posted": 30,
        "held": 0,
        "available": 30,
        "lifetime_earned": 30,
    }


async def test_an_ended_hold_stays_ended(
    world: World, app_db: asyncpg.Connection, owner_db: asyncpg.Connection
) -> None:
    setup, household_id = await awarded(world)
    async with world.session() as session, session.begin():
        hold = await ledger.place_hold(
            session,
            console_actor(),
            ledger.HoldTerms(village_id=setup.village.id, household_id=household_id, amount=10),
        )
        await ledger.release_hold(session, console_actor(), hold)
    async with world.session() as session, session.begin():
        active = await ledger.place_hold(
            session,
            console_actor(),
            ledger.HoldTerms(village_id=setup.village.id, household_id=household_id, amount=20),
        )

    for connection in (app_db, owner_db):
        for sql, hold_id in [
            ("UPDATE holds SET status = 'active', ended_at = NULL WHERE id = $1", hold.id),
            ("UPDATE holds SET status = 'posted' WHERE id = $1", hold.id),
            ("DELETE FROM holds WHERE id = $1", hold.id),
            ("UPDATE holds SET amount = 1 WHERE id = $1", active.id),
            ("UPDATE holds SET account_id = gen_random_uuid() WHERE id = $1", active.id),
            ("DELETE FROM holds WHERE id = $1", active.id),
        ]:
            error = await refused(connection, sql, hold_id)
            # the service may not write holds at all (only ledger_hold() and friends do); the owner may,
            # but not this
            refusal = "42501" if connection is app_db else "JF002"
            assert error.sqlstate == refusal, (sql, error)

    statuses = await app_db.fetch(
        "SELECT status FROM holds WHERE id = ANY($1) ORDER BY amount", [hold.id, active.id]
    )
    assert [row["status"] for row in statuses] == ["released", "active"]
    got = await balance(world, setup.people["village_admin"], household_id)
    assert (got["posted"], got["held"], got["available"]) == (30, 20, 10)


async def forge_household_posting(
    connection: asyncpg.Connection,
    village_id: uuid.UUID,
    household_id: uuid.UUID,
    issuing: uuid.UUID,
    *,
    amount: int,
) -> None:
    """A balanced transaction whose household posting carries a plausible balance_after and account_version,
    written without moving the account's row."""
    transaction_id = uuid.uuid4()
    async with connection.transaction():
        await connection.execute(
            "INSERT INTO ledger_transactions (village_id, id, kind, actor_id)"
            " VALUES ($1, $2, 'adjustment', $3)",
            village_id,
            transaction_id,
            uuid.uuid4(),
        )
        await connection.execute(
            "INSERT INTO postings"
            " (village_id, transaction_id, account_id, amount, balance_after, account_version)"
            " SELECT $1::uuid, $2::uuid, a.id, $5::bigint, a.posted + $5, a.version + 1 FROM accounts a"
            " WHERE a.village_id = $1 AND a.id = $3"
            " UNION ALL SELECT $1, $2, $4::uuid, -$5::bigint, NULL, NULL",
            village_id,
            transaction_id,
            household_id,
            issuing,
            amount,
        )


async def test_a_household_posting_written_by_hand_cannot_bypass_the_balance(
    world: World, app_db: asyncpg.Connection, owner_db: asyncpg.Connection
) -> None:
    setup, household_id = await awarded(world)
    issuing = await app_db.fetchval(
        "SELECT id FROM accounts WHERE village_id = $1 AND kind = 'issuing'", setup.village.id
    )
    # the service writes the ledger through ledger_post() only (migration 0013) ...
    with pytest.raises(asyncpg.PostgresError) as caught:
        await write_transaction(app_db, setup.village.id, [(household_id, -1000), (issuing, 1000)])
    assert isinstance(caught.value, asyncpg.InsufficientPrivilegeError), caught.value
    # ... and even the owner, who may write it by hand, cannot bypass the balance:
    with pytest.raises(asyncpg.PostgresError) as caught:
        # balanced, so only a check tied to the household's balance could refuse it
        await write_transaction(owner_db, setup.village.id, [(household_id, -1000), (issuing, 1000)])
    assert caught.value.sqlstate == "JF003", caught.value
    # nor with a made-up running balance and history position, the account row left as it was
    with pytest.raises(asyncpg.PostgresError) as caught:
        await forge_household_posting(owner_db, setup.village.id, household_id, issuing, amount=-20)
    assert caught.value.sqlstate == "JF003", caught.value
    admin = setup.people["village_admin"]
    assert (await balance(world, admin, household_id))["posted"] == 30
    entries = (await world.call("GET", f"/households/{household_id}/entries", admin)).json()["items"]
    assert [e["amount"] for e in entries] == [30]
