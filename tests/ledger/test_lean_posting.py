"""ledger_post checks what it writes itself (migration 0016): inside it the balance, reference and chain-lock
triggers do not fire again, so each refusal they made must now come from the function, on both of its
paths (one transaction of two postings; everything else), and leave nothing behind."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from tests.factories import World
from tests.ledger.helpers import balance
from tests.ledger.test_balances_definer_only import app_db, awarded

__all__ = ["app_db"]

POST = (
    "SELECT ledger_post($1, $2, $3::uuid[], $4::text[], $5::text[], $6::uuid[], $7::integer[], $8::text[],"
    " $9::uuid[], $10::uuid[], $11::text[], $12::integer[], $13::uuid[], $14::bigint[], $15::bigint[])"
)


async def test_ledger_post_refuses_what_the_triggers_refused(
    world: World, app_db: asyncpg.Connection
) -> None:
    setup, household_id = await awarded(world)
    village_id, actor = setup.village.id, uuid.uuid4()
    issuing = await app_db.fetchval(
        "SELECT id FROM accounts WHERE village_id = $1 AND kind = 'issuing'", village_id
    )
    deductions = await app_db.fetchval(
        "SELECT id FROM accounts WHERE village_id = $1 AND kind = 'deductions'", village_id
    )
    rule_id = await app_db.fetchval(
        "SELECT rule_id FROM rule_versions WHERE village_id = $1 LIMIT 1", village_id
    )

    async def post(
        *,
        transactions: int = 1,
        lines: list[tuple[int, uuid.UUID, int, int]],
        rule: tuple[uuid.UUID | None, int | None] = (None, None),
        village: uuid.UUID = village_id,
    ) -> str:
        with pytest.raises(asyncpg.PostgresError) as caught:
            await app_db.execute(
                POST,
                village,
                actor,
                [uuid.uuid4() for _ in range(transactions)],
                ["award"] * transactions,
                [None] * transactions,
                [rule[0]] * transactions,
                [rule[1]] * transactions,
                [None] * transactions,
                [None] * transactions,
                [None] * transactions,
                [None] * transactions,
                [tx for tx, _, _, _ in lines],
                [account for _, account, _, _ in lines],
                [amount for _, _, amount, _ in lines],
                [earned for _, _, _, earned in lines],
            )
        return caught.value.sqlstate or ""

    award = [(1, household_id, 5, 5), (1, issuing, -5, 0)]  # one balanced award, the lean path's shape
    second = [(2, household_id, 5, 5), (2, issuing, -5, 0)]
    # unbalanced: two postings (the lean path), three postings, and a batch whose second transaction is off
    assert await post(lines=[(1, household_id, 5, 5), (1, issuing, -4, 0)]) == "JF003"
    assert await post(lines=[(1, household_id, 5, 5), (1, issuing, -4, 0), (1, deductions, -2, 0)]) == "JF003"
    assert await post(transactions=2, lines=[*award, (2, household_id, 5, 5), (2, issuing, -6, 0)]) == "JF003"
    # a batch transaction with a single posting
    assert await post(transactions=2, lines=[*award, (2, issuing, 1, 0)]) == "JF003"
    # a rule version that does not exist, or a rule without its version, on both paths
    foreign_key = asyncpg.ForeignKeyViolationError.sqlstate
    for rule in ((rule_id, 999), (uuid.uuid4(), 1), (rule_id, None)):
        assert await post(lines=award, rule=rule) == foreign_key
        assert await post(transactions=2, lines=[*award, *second], rule=rule) == foreign_key
    # a village that does not exist (its accounts do not either)
    # (earning nothing: the lifetime-earned rule is checked first, and no household of it could earn)
    assert (
        await post(lines=[(1, household_id, 5, 0), (1, issuing, -5, 0)], village=uuid.uuid4()) == foreign_key
    )
    # more than the household has, on the lean path (JF001, never the row's CHECK)
    assert await post(lines=[(1, household_id, -31, 0), (1, issuing, 31, 0)]) == "JF001"

    got = await balance(world, setup.people["village_admin"], household_id)
    assert (got["posted"], got["lifetime_earned"]) == (30, 30)
    assert (
        await app_db.fetchval("SELECT count(*) FROM ledger_transactions WHERE village_id = $1", village_id)
        == 1
    )
