"""What migration 0022 changed in what the database enforces: the outbox events' references are checked by
one statement trigger instead of foreign keys, the awards' reference trigger fires for direct writers only
(award_submit checks what it writes), the general posting path's lifetime-earned and balance checks read
joined rows, and an award call's ids are time-ordered and drawn from one uuidv7()."""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest

from tests.factories import World
from tests.ledger.helpers import key, make_rule
from tests.ledger.test_append_only import app_db, awarded, owner_db
from tests.ledger.test_lean_posting import POST

__all__ = ["app_db", "owner_db"]

EVENT = (
    "INSERT INTO outbox_events (village_id, id, kind, household_id, payload)"
    " VALUES ($1, $2, 'test', $3, '{}')"
)


async def test_an_outbox_event_naming_what_does_not_exist_is_refused(
    world: World, app_db: asyncpg.Connection, owner_db: asyncpg.Connection
) -> None:
    setup, household_id = await awarded(world)
    village_id = setup.village.id
    for connection in (app_db, owner_db):
        for village, household in (
            (village_id, uuid.uuid4()),
            (uuid.uuid4(), None),
            (uuid.uuid4(), household_id),
        ):
            with pytest.raises(asyncpg.ForeignKeyViolationError) as caught:
                await connection.execute(EVENT, village, uuid.uuid4(), household)
            assert caught.value.constraint_name == "outbox_events_references"
        # one dangling event among good ones refuses the whole statement
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await connection.execute(
                "INSERT INTO outbox_events (village_id, id, kind, household_id, payload)"
                " SELECT $1, gen_random_uuid(), 'test', h, '{}' FROM unnest($2::uuid[]) AS h",
                village_id,
                [household_id, None, uuid.uuid4()],
            )
        # what exists is taken: the village alone, or with its household
        await connection.execute(EVENT, village_id, uuid.uuid4(), None)
        await connection.execute(EVENT, village_id, uuid.uuid4(), household_id)


async def test_an_award_written_by_hand_is_still_checked(world: World, owner_db: asyncpg.Connection) -> None:
    setup, household_id = await awarded(world)
    rule_id, version = await owner_db.fetchrow(
        "SELECT rule_id, version FROM rule_versions WHERE village_id = $1 LIMIT 1", setup.village.id
    )
    insert = (
        "INSERT INTO awards (village_id, id, household_id, rule_id, rule_version, quantity, points, status,"
        " submitted_by) VALUES ($1, gen_random_uuid(), $2, $3, $4, 1, 30, 'pending_review', $5)"
    )
    for household, rule in ((uuid.uuid4(), rule_id), (household_id, uuid.uuid4())):
        with pytest.raises(asyncpg.ForeignKeyViolationError) as caught:
            await owner_db.execute(insert, setup.village.id, household, rule, version, uuid.uuid4())
        assert caught.value.constraint_name == "awards_references"


async def test_a_batch_in_one_call_writes_time_ordered_ids_that_reference_what_exists(
    world: World, owner_db: asyncpg.Connection
) -> None:
    setup = await world.setup_village(households=3)
    rule = await make_rule(world, setup, 4)
    items = [{"household_id": str(h.id), "rule_id": rule["id"]} for h in setup.households] * 2
    response = await world.call(
        "POST", "/awards/batch", setup.people["cadre"], json={"items": items}, headers=key()
    )
    assert response.status_code == 201, response.text
    answered = response.json()["items"]
    award_ids = [uuid.UUID(a["id"]) for a in answered]
    transaction_ids = [uuid.UUID(a["transaction_id"]) for a in answered]
    assert all(i.version == 7 for i in award_ids + transaction_ids)
    assert award_ids == sorted(award_ids)  # time-ordered, in item order
    assert len(set(award_ids + transaction_ids)) == 2 * len(items)
    rows = await owner_db.fetch(
        "SELECT a.id, a.batch_id, t.id AS tx, e.id AS event, e.household_id = a.household_id AS same"
        "  FROM awards a"
        "  JOIN ledger_transactions t ON t.village_id = a.village_id AND t.id = a.transaction_id"
        "  JOIN outbox_events e ON e.village_id = a.village_id AND (e.payload->>'award_id')::uuid = a.id"
        " WHERE a.village_id = $1 AND a.id = ANY ($2::uuid[])",
        setup.village.id,
        award_ids,
    )
    assert len(rows) == len(items)
    assert all(r["same"] for r in rows)
    events = [r["event"] for r in rows]
    assert len(set(events + award_ids + transaction_ids + [rows[0]["batch_id"]])) == 3 * len(items) + 1


async def test_the_general_path_refuses_as_before(world: World, app_db: asyncpg.Connection) -> None:
    setup, household_id = await awarded(world)
    village_id = setup.village.id
    issuing = await app_db.fetchval(
        "SELECT id FROM accounts WHERE village_id = $1 AND kind = 'issuing'", village_id
    )
    deductions = await app_db.fetchval(
        "SELECT id FROM accounts WHERE village_id = $1 AND kind = 'deductions'", village_id
    )

    async def post(kinds: list[str], lines: list[tuple[int, uuid.UUID, int, int]]) -> asyncpg.PostgresError:
        n = len(kinds)
        with pytest.raises(asyncpg.PostgresError) as caught:
            await app_db.execute(
                POST,
                village_id,
                uuid.uuid4(),
                [uuid.uuid4() for _ in range(n)],
                kinds,
                *([[None] * n] * 7),
                [tx for tx, _, _, _ in lines],
                [account for _, account, _, _ in lines],
                [amount for _, _, amount, _ in lines],
                [earned for _, _, _, earned in lines],
            )
        return caught.value

    award = [(1, household_id, 5, 5), (1, issuing, -5, 0)]
    # the lifetime-earned rule, on the second transaction of a batch: an award earns, a deduction does not
    misearned = await post(["award", "award"], [*award, (2, household_id, 5, 0), (2, issuing, -5, 0)])
    assert misearned.sqlstate == "JF005"
    assert "posting 3 " in str(misearned)
    misearned = await post(["award", "deduction"], [*award, (2, household_id, -5, -5), (2, deductions, 5, 0)])
    assert misearned.sqlstate == "JF005"
    # below zero counted through the batch: 30 + 5, then 36 taken by the second transaction
    short = await post(["award", "deduction"], [*award, (2, household_id, -36, 0), (2, deductions, 36, 0)])
    assert short.sqlstate == "JF001"
    assert json.loads(short.detail or "") == {
        "tx_index": 2,
        "account_id": str(household_id),
        "available": 35,
        "needed": 36,
    }
    # an account of another village
    other = await world.setup_village(households=1)
    stranger = other.households[0].id
    assert (
        await post(["award", "award"], [*award, (2, stranger, 5, 0), (2, issuing, -5, 0)])
    ).sqlstate == "JF004"
    assert (
        await app_db.fetchval("SELECT count(*) FROM ledger_transactions WHERE village_id = $1", village_id)
        == 1
    )
