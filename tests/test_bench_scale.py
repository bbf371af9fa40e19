"""`python -m bench scale` on a tiny county: the bulk load (triggers off) leaves a ledger that passes every
check `jifen audit verify` runs, and the checks would notice if it did not."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg
from bench.scale import County, check, generate

from tests.db import _asyncpg_url

if TYPE_CHECKING:
    from tests.db import TestCluster


async def test_a_generated_county_verifies_and_a_broken_one_does_not(
    template: TestCluster, database: str
) -> None:
    url = _asyncpg_url(template.owner_url_for(database))
    county = County(villages=2, households=20, postings=800)  # 10 households a village, 20 entries each
    await generate(url, county, workers=2)
    conn = await asyncpg.connect(url)
    try:
        counts = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM households) AS households,"
            " (SELECT count(*) FROM postings) AS postings,"
            " (SELECT count(*) FROM redemptions) AS sales,"
            " (SELECT count(*) FROM village_rollup_marks) AS rolled_up"
        )
        assert dict(counts) == {"households": 20, "postings": 800, "sales": 40, "rolled_up": 2}
        verdict = await check(url, workers=2)
        assert {name: n for name, n in verdict["problems"].items() if n} == {}
        assert verdict["accounts"] == 20
        assert verdict["records"] == 800 + 400 + await conn.fetchval("SELECT count(*) FROM audit_events")

        # a balance moved by hand without a posting, and a posting whose transaction no longer balances
        await conn.execute("SET session_replication_role = replica")
        await conn.execute(
            "UPDATE accounts SET posted = posted + 1 WHERE id = (SELECT min(household_id::text)::uuid"
            " FROM accounts WHERE kind = 'household')"
        )
        await conn.execute(
            "UPDATE postings SET amount = amount + 1 WHERE id = (SELECT min(id) FROM postings)"
        )
        broken = (await check(url, workers=2))["problems"]
        assert broken["transactions that do not balance or have fewer than two postings"] == 1
        assert broken["villages whose chain or balances do not verify"] >= 1
    finally:
        await conn.close()
