"""Tamper evidence: as the database superuser with triggers off, change, delete, insert and reorder records;
each time verification fails and names the first bad record. Untouched data verifies clean."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from jifen.audit import chain
from jifen.settings import Settings
from tests.db import _asyncpg_url
from tests.factories import VillageSetup, World
from tests.ledger.helpers import award, key, make_rule


@pytest.fixture
async def owner(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """The superuser, with triggers off for this session: what an attacker with the database password has."""
    assert settings.migrate_database_url
    connection = await asyncpg.connect(_asyncpg_url(settings.migrate_database_url))
    await connection.execute("SET session_replication_role = replica")
    yield connection
    await connection.close()


@pytest.fixture
async def service_db(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    assert settings.database_url
    connection = await asyncpg.connect(_asyncpg_url(settings.database_url))
    yield connection
    await connection.close()


async def history(world: World) -> VillageSetup:
    """A village with awards, a deduction, a batch and a reversal: transactions, postings, audit events."""
    setup = await world.setup_village(households=3)
    cadre, admin = setup.people["cadre"], setup.people["village_admin"]
    plus = await make_rule(world, setup, 10)
    minus = await make_rule(world, setup, -3)
    for household in setup.households[1:]:
        assert (await award(world, cadre, household.id, plus)).status_code == 201
    assert (await award(world, cadre, setup.households[1].id, minus)).status_code == 201
    items = [{"household_id": str(h.id), "rule_id": plus["id"]} for h in setup.households[1:]]
    batch = await world.call("POST", "/awards/batch", cadre, json={"items": items}, headers=key())
    assert batch.status_code == 201
    tx = batch.json()["items"][0]["transaction_id"]
    reversed_ = await world.call(
        "POST", f"/transactions/{tx}/reverse", admin, json={"reason": "重复录入"}, headers=key()
    )
    assert reversed_.status_code == 201
    return setup


async def seal_all(conn: asyncpg.Connection, scope: uuid.UUID) -> chain.Checkpoint:
    checkpoint = await chain.seal(conn, scope, None)
    assert checkpoint is not None
    return checkpoint


async def test_untouched_history_verifies_clean(world: World, service_db: asyncpg.Connection) -> None:
    setup = await history(world)
    scope = setup.village.id
    before = await chain.verify(service_db, scope)
    assert before.ok
    assert before.checked == 0
    assert before.pending > 20  # nothing linked yet: written, not yet chained
    checkpoint = await seal_all(service_db, scope)
    verdict = await chain.verify(service_db, scope, bytes.fromhex(checkpoint.digest))
    assert verdict.ok, verdict.first_bad
    assert verdict.checked == checkpoint.records == before.pending
    assert verdict.pending == 0
    assert verdict.head == checkpoint.digest
    assert verdict.digest_found is True
    # linking again finds nothing new and the head stays
    assert await chain.link(service_db, scope, 10**12) == 0


async def _first_bad(conn: asyncpg.Connection, scope: uuid.UUID) -> dict[str, Any]:
    verdict = await chain.verify(conn, scope)
    assert not verdict.ok
    assert verdict.first_bad is not None
    return verdict.first_bad


async def test_changing_one_posting_amount_is_caught(
    world: World, service_db: asyncpg.Connection, owner: asyncpg.Connection
) -> None:
    setup = await history(world)
    await seal_all(service_db, setup.village.id)
    posting = await owner.fetchrow(
        "SELECT id FROM postings WHERE village_id = $1 AND amount = 10 ORDER BY chain_id OFFSET 1 LIMIT 1",
        setup.village.id,
    )
    await owner.execute(
        "UPDATE postings SET amount = 100, balance_after = balance_after + 90 WHERE id = $1", posting["id"]
    )
    bad = await _first_bad(service_db, setup.village.id)
    assert (bad["kind"], bad["id"]) == ("posting", str(posting["id"]))
    assert bad["problem"].startswith("changed")


async def test_deleting_one_audit_event_is_caught(
    world: World, service_db: asyncpg.Connection, owner: asyncpg.Connection
) -> None:
    setup = await history(world)
    await seal_all(service_db, setup.village.id)
    event = await owner.fetchrow(
        "SELECT id FROM audit_events WHERE scope = $1 AND action = 'transaction.reverse'", setup.village.id
    )
    await owner.execute(
        "DELETE FROM audit_events WHERE scope = $1 AND id = $2", setup.village.id, event["id"]
    )
    bad = await _first_bad(service_db, setup.village.id)
    assert (bad["kind"], bad["id"]) == ("audit", str(event["id"]))
    assert bad["problem"].startswith("deleted")


async def test_inserting_a_forged_transaction_into_the_past_is_caught(
    world: World, service_db: asyncpg.Connection, owner: asyncpg.Connection
) -> None:
    setup = await history(world)
    scope = setup.village.id
    await seal_all(service_db, scope)
    # a balanced award of 500 points, dated a day back and slipped into the chain's past: it takes the
    # place (chain_id) of an early record
    early = await owner.fetchval("SELECT chain_id FROM chain_links WHERE scope = $1 AND seq = 3", scope)
    forged = uuid.uuid4()
    issuing = await owner.fetchval(
        "SELECT id FROM accounts WHERE village_id = $1 AND kind = 'issuing'", scope
    )
    await owner.execute(
        "INSERT INTO ledger_transactions (village_id, id, kind, memo, actor_id, chain_id, created_at)"
        " VALUES ($1, $2, 'award', '补录', $3, $4, now() - interval '1 day')",
        scope,
        forged,
        setup.people["village_admin"].id,
        early,
    )
    await owner.execute(
        "INSERT INTO postings (village_id, transaction_id, account_id, amount, balance_after,"
        " account_version) VALUES ($1, $2, $3, 500, 500, 999), ($1, $2, $4, -500, NULL, NULL)",
        scope,
        forged,
        setup.households[2].id,
        issuing,
    )
    bad = await _first_bad(service_db, scope)
    assert (bad["kind"], bad["id"]) == ("tx", str(forged))
    assert bad["problem"].startswith("inserted")


async def test_swapping_two_records_order_is_caught(
    world: World, service_db: asyncpg.Connection, owner: asyncpg.Connection
) -> None:
    setup = await history(world)
    scope = setup.village.id
    await seal_all(service_db, scope)
    first, second = await owner.fetch(
        "SELECT id, chain_id FROM audit_events WHERE scope = $1 AND action = 'award.submit'"
        " ORDER BY chain_id LIMIT 2",
        scope,
    )
    await owner.execute(
        "UPDATE audit_events SET chain_id = CASE id WHEN $2::bigint THEN $4::bigint ELSE $3::bigint END"
        " WHERE scope = $1 AND id IN ($2, $5)",
        scope,
        first["id"],
        first["chain_id"],
        second["chain_id"],
        second["id"],
    )
    bad = await _first_bad(service_db, scope)
    assert bad["chain_id"] == first["chain_id"]
    assert bad["problem"].startswith("replaced")


async def test_a_wholesale_rewrite_misses_the_printed_checkpoint(
    world: World, service_db: asyncpg.Connection, owner: asyncpg.Connection
) -> None:
    """Someone rewrites a posting, recomputes every hash after it and the stored checkpoints too: the chain
    is self-consistent again, but the digest printed on the notice board is no longer part of it."""
    setup = await history(world)
    scope = setup.village.id
    printed = await seal_all(service_db, scope)
    posting_id = await owner.fetchval("SELECT id FROM postings WHERE village_id = $1 AND amount = -3", scope)
    # the deduction of 3 becomes a deduction of 1, on both of its postings
    await owner.execute(
        "UPDATE postings SET amount = sign(amount) WHERE transaction_id ="
        " (SELECT transaction_id FROM postings WHERE id = $1)",
        posting_id,
    )
    # recompute the whole chain from the forged contents, and the checkpoints with it
    await owner.execute("DELETE FROM chain_links WHERE scope = $1", scope)
    await owner.execute("DELETE FROM checkpoints WHERE scope = $1", scope)
    await owner.execute("SET session_replication_role = origin")
    await chain.link(owner, scope, 10**12)
    await chain.seal(owner, scope, None)
    rewritten = await chain.verify(service_db, scope)
    assert rewritten.first_bad is None  # the chain is consistent with itself ...
    verdict = await chain.verify(service_db, scope, bytes.fromhex(printed.digest))
    assert verdict.digest_found is False  # ... but not with what the village printed
    # nor with the balance of the household it was posted to, which was not rewritten
    assert rewritten.first_bad_account is not None
    assert (rewritten.first_bad_account["column"], rewritten.first_bad_account["found"]) == ("posted", 7)
    assert rewritten.first_bad_account["expected"] == 9


async def test_records_written_while_the_chain_is_linked_all_end_up_in_it(
    world: World, service_db: asyncpg.Connection
) -> None:
    """Writers never wait for one another to get a place in the chain, and a record that commits late is
    never mistaken for a forgery."""
    setup = await world.setup_village(households=6)
    cadre = setup.people["cadre"]
    plus = await make_rule(world, setup, 2)
    stop = asyncio.Event()

    async def writer(household_id: uuid.UUID) -> int:
        done = 0
        while not stop.is_set():
            assert (await award(world, cadre, household_id, plus)).status_code == 201
            done += 1
        return done

    async def chainer() -> int:
        rounds = 0
        while not stop.is_set():
            await chain.link_all(service_db)
            rounds += 1
        return rounds

    tasks = [asyncio.create_task(writer(h.id)) for h in setup.households[1:]]
    chaining = asyncio.create_task(chainer())
    await asyncio.sleep(2.0)
    stop.set()
    written = sum(await asyncio.gather(*tasks))
    assert await chaining > 1
    assert written > 10
    await chain.link_all(service_db)
    verdict = await chain.verify(service_db, setup.village.id)
    assert verdict.ok, verdict.first_bad
    assert verdict.pending == 0
    # every award: a transaction, two postings and an audit event
    assert verdict.checked >= written * 4


async def test_the_chainer_waits_out_a_writer_still_in_flight(
    world: World, service_db: asyncpg.Connection, settings: Settings
) -> None:
    setup = await world.setup_village(households=2)
    assert settings.database_url
    writer = await asyncpg.connect(_asyncpg_url(settings.database_url))
    try:
        transaction = writer.transaction()
        await transaction.start()
        await writer.execute(
            "INSERT INTO audit_events (scope, action, record_type) VALUES ($1, 'test.slow', 'test')",
            setup.village.id,
        )
        assert await chain.horizon(service_db) is None  # busy: nothing is declared final
        await transaction.commit()
    finally:
        await writer.close()
    assert await chain.horizon(service_db) is not None
    await chain.link_all(service_db)
    assert (await chain.verify(service_db, setup.village.id)).ok


async def test_jifen_audit_verify_exits_1_naming_the_broken_record(
    world: World, settings: Settings, owner: asyncpg.Connection, tmp_path: Path
) -> None:
    from tests.test_cli import JIFEN, _env, _run

    setup = await history(world)
    env = _env(settings, tmp_path)
    sealed = await _run(str(JIFEN), "audit", "seal", "--village", setup.village.code, env=env)
    assert sealed.returncode == 0, sealed.stderr
    digest = sealed.stdout.strip().rsplit(" ", 1)[-1]
    intact = await _run(str(JIFEN), "audit", "verify", "--digest", digest, env=env)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert "ok" in intact.stdout
    assert "digest is part of the chain" in intact.stdout

    event = await owner.fetchval(
        "SELECT id FROM audit_events WHERE scope = $1 AND action = 'rule.create' ORDER BY id LIMIT 1",
        setup.village.id,
    )
    await owner.execute(
        "UPDATE audit_events SET after = jsonb_set(after, '{points}', '99') WHERE scope = $1 AND id = $2",
        setup.village.id,
        event,
    )
    broken = await _run(str(JIFEN), "audit", "verify", env=env)
    assert broken.returncode == 1
    assert f"BROKEN  {setup.village.code}" in broken.stdout
    assert f"audit {event}" in broken.stdout
    assert "changed" in broken.stdout
