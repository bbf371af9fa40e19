"""The audit verdict's newest-balance probe reads the index alone (migration 0030): every household's newest
running balance comes from the postings' history index, not from the table, where on a county's database a
village's postings lie scattered among every other village's (docs/benchmarks.md, the 500-village county:
the admin page's verdict read about 825 table pages per village from disk before)."""

from __future__ import annotations

import json

import asyncpg

from jifen.audit import balances
from jifen.settings import Settings
from tests.db import _asyncpg_url
from tests.factories import World
from tests.ledger.helpers import award, make_rule


def _nodes(plan: dict[str, object]) -> list[dict[str, object]]:
    found = [plan]
    for child in plan.get("Plans", []):  # type: ignore[attr-defined]
        found += _nodes(child)
    return found


async def test_the_verdict_reads_each_households_newest_balance_from_the_index(
    world: World, settings: Settings
) -> None:
    setup = await world.setup_village(households=3)
    cadre = setup.people["cadre"]
    plus = await make_rule(world, setup, 5)
    for household in setup.households:
        for _ in range(2):
            assert (await award(world, cadre, household.id, plus)).status_code == 201
    assert settings.migrate_database_url
    owner = await asyncpg.connect(_asyncpg_url(settings.migrate_database_url))
    try:
        await owner.execute("VACUUM (ANALYZE) postings")  # as autovacuum would: the planner's figures
        # the plan a county's village gets (a few rows here would be read by a sequential scan)
        await owner.execute("SET enable_seqscan = off; SET enable_bitmapscan = off")
        mark = await owner.fetchval("SELECT max(chain_id) FROM postings")
        (raw,) = await owner.fetchrow(
            "EXPLAIN (FORMAT JSON) " + balances._RECONCILE_SINCE + balances._FIRST_BAD,
            setup.village.id,
            mark,
            mark,
        )
        nodes = _nodes(json.loads(raw)[0]["Plan"])
        probes = [n for n in nodes if n.get("Index Name") == "uq_postings_account_history"]
        assert probes, "the newest balance is not read through the history index"
        newest = [n for n in probes if n.get("Scan Direction") == "Backward"]
        assert newest, probes
        assert all(n["Node Type"] == "Index Only Scan" for n in newest), newest
    finally:
        await owner.close()
