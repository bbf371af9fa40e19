"""The general posting path of migration 0026: a batch that only credits households, each once, moves their
balances and writes its postings in one statement; a household posted more than once, or debited, goes
the way it went before. Each way gives the same balances after, versions and refusals."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import pytest

from tests.factories import World
from tests.ledger.test_balances_definer_only import app_db, awarded
from tests.ledger.test_lean_posting import POST

__all__ = ["app_db"]

Line = tuple[int, uuid.UUID, int, int]  # transaction number, account, amount, earned


async def test_each_way_through_the_general_path_writes_the_same_history(
    world: World, app_db: asyncpg.Connection
) -> None:
    setup, rich = await awarded(world)  # 30 points
    poor = setup.households[0].id
    village_id = setup.village.id
    other = (await world.setup_village(households=1)).households[0].id
    system = {
        kind: await app_db.fetchval(
            "SELECT id FROM accounts WHERE village_id = $1 AND kind = $2", village_id, kind
        )
        for kind in ("issuing", "deductions")
    }

    async def post(kinds: list[str], lines: list[Line], reverses: list[Any] | None = None) -> None:
        n = len(kinds)
        await app_db.execute(
            POST,
            village_id,
            uuid.uuid4(),
            [uuid.uuid4() for _ in range(n)],
            kinds,
            [None] * n,
            [None] * n,
            [None] * n,
            [None] * n,
            [None] * n,
            reverses or [None] * n,
            ["undo" if kind == "reversal" else None for kind in kinds],
            [tx for tx, _, _, _ in lines],
            [account for _, account, _, _ in lines],
            [amount for _, _, amount, _ in lines],
            [earned for _, _, _, earned in lines],
        )

    async def refused(kinds: list[str], lines: list[Line], **kwargs: Any) -> asyncpg.PostgresError:
        with pytest.raises(asyncpg.PostgresError) as caught:
            await post(kinds, lines, **kwargs)
        return caught.value

    async def history(account: uuid.UUID) -> list[tuple[int, int, int]]:
        rows = await app_db.fetch(
            "SELECT amount, balance_after, account_version FROM postings WHERE village_id = $1"
            " AND account_id = $2 ORDER BY id",
            village_id,
            account,
        )
        return [(r["amount"], r["balance_after"], r["account_version"]) for r in rows]

    async def account(household: uuid.UUID) -> tuple[int, int, int]:
        row = await app_db.fetchrow(
            "SELECT posted, lifetime_earned, version FROM accounts WHERE village_id = $1 AND id = $2",
            village_id,
            household,
        )
        return (row["posted"], row["lifetime_earned"], row["version"])

    issuing, deductions = system["issuing"], system["deductions"]

    def credit(tx: int, household: uuid.UUID, points: int) -> list[Line]:
        return [(tx, household, points, points), (tx, issuing, -points, 0)]

    def debit(tx: int, household: uuid.UUID, points: int) -> list[Line]:
        return [(tx, household, -points, 0), (tx, deductions, points, 0)]

    before = await history(rich)
    assert [h[1] for h in before] == [30]
    # credits only, each household once: one statement moves the rows and writes the postings
    await post(["award", "award"], [*credit(1, poor, 5), *credit(2, rich, 7)])
    assert await history(poor) == [(5, 5, 1)]
    assert await history(rich) == [*before, (7, 37, 2)]
    assert await account(poor) == (5, 5, 1)
    assert await account(rich) == (37, 37, 2)
    # a household twice: its running balances counted back from its new balance
    await post(["award", "award", "award"], [*credit(1, rich, 1), *credit(2, rich, 2), *credit(3, poor, 3)])
    assert (await history(rich))[-2:] == [(1, 38, 3), (2, 40, 4)]
    assert await history(poor) == [(5, 5, 1), (3, 8, 2)]
    # a debit within the household's points, once and twice
    await post(["deduction", "award"], [*debit(1, rich, 10), *credit(2, poor, 1)])
    await post(["deduction", "award"], [*debit(1, rich, 10), *credit(2, rich, 4)])
    assert (await history(rich))[-3:] == [(-10, 30, 5), (-10, 20, 6), (4, 24, 7)]
    assert await account(rich) == (24, 44, 7)
    assert await account(poor) == (9, 9, 3)

    # more than a household has: JF001 names the first posting that would take it below zero
    for first, available in ((poor, 10), (rich, 9)):
        error = await refused(["award", "deduction"], [*credit(1, first, 1), *debit(2, poor, 100)])
        assert error.sqlstate == "JF001"
        assert json.loads(error.detail or "") == {
            "tx_index": 2,
            "account_id": str(poor),
            "available": available,
            "needed": 100,
        }
    # a posting to another village's account
    error = await refused(["award", "award"], [*credit(1, poor, 1), (2, other, 1, 0), (2, issuing, -1, 0)])
    assert error.sqlstate == "JF004"
    # a reversal of a transaction that does not exist, on both paths
    for n in (1, 2):
        error = await refused(
            ["reversal"] * n,
            [line for tx in range(1, n + 1) for line in debit(tx, poor, 1)],
            reverses=[uuid.uuid4() for _ in range(n)],
        )
        assert error.sqlstate == asyncpg.ForeignKeyViolationError.sqlstate
        assert error.constraint_name == "fk_ledger_transactions_reverses"
    # nothing refused was written
    assert await account(rich) == (24, 44, 7)
    assert await account(poor) == (9, 9, 3)
