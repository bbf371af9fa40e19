"""`jifen audit verify` reconciles balances: every household account's posted, held and lifetime earned
points against its postings and active holds. A balance changed by hand, even by the superuser who can
bypass every privilege, is named: account, household code, column, expected and found."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from jifen.audit import chain
from jifen.auth.actor import console_actor
from jifen.ledger import service as ledger
from jifen.settings import Settings
from tests.audit.test_chain import history
from tests.db import _asyncpg_url
from tests.factories import World
from tests.test_cli import JIFEN, _env, _run


@pytest.fixture
async def superuser(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    assert settings.migrate_database_url
    connection = await asyncpg.connect(_asyncpg_url(settings.migrate_database_url))
    yield connection
    await connection.close()


async def a_busy_village(world: World) -> tuple[object, uuid.UUID]:
    """Awards, a deduction, a batch, a reversal of an award, and holds active, released and captured."""
    setup = await history(world)
    household = setup.households[1]
    village_id = setup.village.id
    async with world.session() as session, session.begin():
        await ledger.place_hold(
            session,
            console_actor(),
            ledger.HoldTerms(village_id=village_id, household_id=household.id, amount=2),
        )
        released = await ledger.place_hold(
            session,
            console_actor(),
            ledger.HoldTerms(village_id=village_id, household_id=household.id, amount=1),
        )
        await ledger.release_hold(session, console_actor(), released)
    return setup, household.id


async def test_an_untouched_ledger_reconciles(world: World, superuser: asyncpg.Connection) -> None:
    setup, _ = await a_busy_village(world)
    verdict = await chain.verify(superuser, setup.village.id)  # type: ignore[attr-defined]
    assert verdict.ok, verdict
    assert verdict.accounts_checked == 3
    assert verdict.first_bad_account is None
    answer = await world.call("GET", "/audit/verify", setup.people["village_admin"])  # type: ignore[attr-defined]
    assert answer.status_code == 200, answer.text
    assert answer.json()["ok"] is True
    assert answer.json()["accounts_checked"] == 3


@pytest.mark.parametrize(
    ("column", "change"),
    [("posted", 1000), ("held", -2), ("lifetime_earned", 500)],
)
async def test_a_balance_changed_by_hand_is_named(
    world: World, superuser: asyncpg.Connection, column: str, change: int
) -> None:
    setup, household_id = await a_busy_village(world)
    code = await superuser.fetchval("SELECT code FROM households WHERE id = $1", household_id)
    found = await superuser.fetchval(
        f"UPDATE accounts SET {column} = {column} + $2 WHERE id = $1 RETURNING {column}", household_id, change
    )

    answer = await world.call("GET", "/audit/verify", setup.people["village_admin"])  # type: ignore[attr-defined]
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["ok"] is False
    assert body["first_bad"] is None  # the chain itself is intact: only the balance was touched
    assert body["first_bad_account"] == {
        "account_id": str(household_id),
        "household_code": code,
        "column": column,
        "expected": found - change,
        "found": found,
    }
    # a town admin verifying every village sees it too
    town = await world.town_admin()
    everywhere = (await world.call("GET", "/audit/verify", town)).json()
    assert everywhere["ok"] is False
    assert everywhere["first_bad_account"]["account_id"] == str(household_id)


async def test_jifen_audit_verify_exits_1_naming_the_account(
    world: World, superuser: asyncpg.Connection, settings: Settings, tmp_path: Path
) -> None:
    _, household_id = await a_busy_village(world)
    env = _env(settings, tmp_path)
    intact = await _run(str(JIFEN), "audit", "verify", env=env)
    assert intact.returncode == 0, intact.stdout + intact.stderr

    code = await superuser.fetchval("SELECT code FROM households WHERE id = $1", household_id)
    posted = await superuser.fetchval(
        "UPDATE accounts SET posted = posted + 1000 WHERE id = $1 RETURNING posted", household_id
    )
    broken = await _run(str(JIFEN), "audit", "verify", env=env)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert str(household_id) in broken.stdout, broken.stdout
    assert code in broken.stdout
    assert f"posted {posted}, its postings say {posted - 1000}" in broken.stdout, broken.stdout
