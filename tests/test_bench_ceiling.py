"""`python -m bench ceiling` compares ledger_post with a "posting floor": the least any posting can write into
jifen's ledger. The comparison is only fair if the floor writes what a posting writes. Here it runs as the
service role and writes one transaction whose two postings balance. The household's posting carries the
new balance and version, and the account row moves exactly as the same award through ledger_post moves it."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import asyncpg
from bench.baselines import POSTING_FLOOR_SQL

from tests.db import _asyncpg_url
from tests.ledger.test_balances_definer_only import app_db, awarded

if TYPE_CHECKING:
    from tests.db import TestCluster
    from tests.factories import World

__all__ = ["app_db"]

POST = (
    "SELECT ledger_post($1, $2, ARRAY[$3::uuid], '{award}', '{门前三包}', ARRAY[$4::uuid], '{1}', '{NULL}',"
    " '{NULL}', '{NULL}', '{NULL}', '{1,1}', ARRAY[$5::uuid, $6::uuid], ARRAY[$7::bigint, -$7::bigint],"
    " ARRAY[$7::bigint, 0])"
)


async def test_the_posting_floor_writes_what_ledger_post_writes(
    world: World, app_db: asyncpg.Connection, template: TestCluster, database: str
) -> None:
    setup, household_id = await awarded(world, points=30)
    village_id = setup.village.id
    owner = await asyncpg.connect(_asyncpg_url(template.owner_url_for(database)))
    try:
        app_role = await app_db.fetchval("SELECT current_user")
        await owner.execute(POSTING_FLOOR_SQL.format(app=app_role))
        issuing = await owner.fetchval(
            "SELECT id FROM accounts WHERE village_id = $1 AND kind = 'issuing'", village_id
        )
        actor, rule, version = await owner.fetchrow(
            "SELECT actor_id, rule_id, rule_version FROM ledger_transactions"
            " WHERE village_id = $1 AND kind = 'award' ORDER BY chain_id LIMIT 1",
            village_id,
        )
        assert version == 1  # the floor names version 1 of the rule, as the bench's rule is

        async def account() -> tuple[int, int, int]:
            row = await owner.fetchrow(
                "SELECT posted, lifetime_earned, version FROM accounts WHERE village_id = $1 AND id = $2",
                village_id,
                household_id,
            )
            return row["posted"], row["lifetime_earned"], row["version"]

        start = await account()
        await app_db.execute(POST, village_id, actor, uuid.uuid4(), rule, household_id, issuing, 5)
        after_post = await account()
        await app_db.execute(
            "SELECT bench_posting_floor($1, $2, $3, $4, $5, 5)",
            village_id,
            actor,
            rule,
            household_id,
            issuing,
        )
        after_floor = await account()
        assert after_post == (start[0] + 5, start[1] + 5, start[2] + 1)
        assert after_floor == (after_post[0] + 5, after_post[1] + 5, after_post[2] + 1)

        # the two newest transactions: ledger_post's, then the floor's, alike but for their ids and numbers
        rows = await owner.fetch(
            "SELECT t.kind, t.rule_id, t.rule_version, t.actor_id, p.account_id, p.amount, p.balance_after,"
            "       p.account_version"
            "  FROM ledger_transactions t"
            "  JOIN postings p ON p.village_id = t.village_id AND p.transaction_id = t.id"
            " WHERE t.village_id = $1 ORDER BY t.chain_id DESC, p.id DESC LIMIT 4",
            village_id,
        )
        floor, post = [dict(r) for r in rows[:2]], [dict(r) for r in rows[2:]]
        assert [r["amount"] for r in floor] == [-5, 5]
        assert (floor[1]["balance_after"], floor[1]["account_version"]) == (after_floor[0], after_floor[2])
        assert floor[0]["balance_after"] is None
        assert floor[0]["account_id"] == issuing
        for mine, theirs in zip(floor, post, strict=True):
            assert {k: v for k, v in mine.items() if k not in ("balance_after", "account_version")} == {
                k: v for k, v in theirs.items() if k not in ("balance_after", "account_version")
            }
        # and the household's balance is still the sum of its postings
        assert after_floor[0] == await owner.fetchval(
            "SELECT sum(amount) FROM postings WHERE village_id = $1 AND account_id = $2",
            village_id,
            household_id,
        )
    finally:
        await owner.close()
