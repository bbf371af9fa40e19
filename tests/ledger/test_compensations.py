"""One compensation per source transaction: a reversal, a sale's cancellation, a rectification (整改) and an
objection's revision or revocation of a posted award each compensate a transaction, and only the first of
them may — sequentially or raced with real parallel requests. The link is a row in `compensations` under a
unique constraint, so even two paths that do not know of each other end with one."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI

from jifen.settings import Settings
from tests.factories import Person, VillageSetup, World
from tests.helpers import assert_error
from tests.ledger.helpers import award, balance, key, make_rule
from tests.store.helpers import cancel, fund, make_item, redeem, stocks

ROUNDS = 4  # raced pairs per test: each round a fresh source, the two requests in flight together


async def reverse(world: World, who: Person, transaction_id: str, **extra: Any) -> Any:
    return await world.call(
        "POST",
        f"/transactions/{transaction_id}/reverse",
        who,
        json={"reason": "录入错误"},
        headers=key(),
        **extra,
    )


async def rectify(world: World, who: Person, award_id: str) -> Any:
    return await world.call(
        "POST", f"/awards/{award_id}/rectify", who, json={"note": "已整改"}, headers=key()
    )


async def a_sale(world: World, setup: VillageSetup, household_id: uuid.UUID, item: dict[str, Any]) -> Any:
    sale = await redeem(world, setup.people["clerk"], setup.store.id, household_id, [(item["id"], 2)])
    assert sale.status_code == 201, sale.text
    return sale.json()


async def test_a_cancelled_sale_cannot_also_be_reversed(world: World) -> None:
    setup = await world.setup_village(households=2)
    admin, clerk = setup.people["village_admin"], setup.people["clerk"]
    household = setup.households[1]
    await fund(world, setup, household.id, 100)
    soap = await make_item(world, setup, "香皂", 5, 10)
    sale = await a_sale(world, setup, household.id, soap)

    assert (await cancel(world, clerk, sale["id"])).status_code == 200
    refused = assert_error(await reverse(world, admin, sale["transaction_id"]), 409, "already_compensated")
    assert "已取消兑换" in refused["detail"]

    assert (await balance(world, admin, household.id))["posted"] == 100  # refunded once, not twice
    assert await stocks(world, setup) == {"香皂": 10}
    shown = (await world.call("GET", f"/transactions/{sale['transaction_id']}", admin)).json()
    assert shown["compensated_by"]["kind"] == "cancellation"
    cancelled = (await world.call("GET", f"/redemptions/{sale['id']}", admin)).json()
    assert shown["compensated_by"]["transaction_id"] == cancelled["cancel_transaction_id"]


async def test_a_reversed_sale_cannot_also_be_cancelled(world: World) -> None:
    setup = await world.setup_village(households=2)
    admin, clerk = setup.people["village_admin"], setup.people["clerk"]
    household = setup.households[1]
    await fund(world, setup, household.id, 100)
    soap = await make_item(world, setup, "香皂", 5, 10)
    sale = await a_sale(world, setup, household.id, soap)

    assert (await reverse(world, admin, sale["transaction_id"])).status_code == 201
    refused = assert_error(await cancel(world, clerk, sale["id"]), 409, "already_compensated")
    assert "已冲正" in refused["detail"]
    assert_error(await reverse(world, admin, sale["transaction_id"]), 409, "already_reversed")

    assert (await balance(world, admin, household.id))["posted"] == 100
    assert await stocks(world, setup) == {"香皂": 8}  # the reversal gave points back, not the goods
    receipt = (await world.call("GET", f"/redemptions/{sale['id']}", admin)).json()
    assert receipt["status"] == "completed"


async def test_raced_cancel_and_reverse_end_with_one(world: World) -> None:
    setup = await world.setup_village(households=2)
    admin, clerk = setup.people["village_admin"], setup.people["clerk"]
    household = setup.households[1]
    await fund(world, setup, household.id, 100)
    soap = await make_item(world, setup, "香皂", 5, 100)
    cancelled = 0
    for round_ in range(ROUNDS):
        sale = await a_sale(world, setup, household.id, soap)
        pair = [cancel(world, clerk, sale["id"]), reverse(world, admin, sale["transaction_id"])]
        answers = await asyncio.gather(*(pair if round_ % 2 else reversed(pair)))
        statuses = sorted(a.status_code for a in answers)
        assert statuses in ([200, 409], [201, 409]), [a.text for a in answers]
        loser = next(a for a in answers if a.status_code == 409)
        assert_error(loser, 409, "already_compensated")
        cancelled += statuses[0] == 200
        # every sale took 10 and gave back 10 exactly once
        assert (await balance(world, admin, household.id))["posted"] == 100
    assert await stocks(world, setup) == {"香皂": 100 - 2 * (ROUNDS - cancelled)}


async def rectifiable(world: World, share: int = 50) -> tuple[VillageSetup, uuid.UUID, Any]:
    """A household with 40 points and a posted deduction of 20 whose rule gives `share`% back on 整改."""
    setup = await world.setup_village(households=2)
    household = setup.households[1]
    await fund(world, setup, household.id, 40)
    poultry = await make_rule(world, setup, -20, rectification_share=share)
    deduction = (await award(world, setup.people["cadre"], household.id, poultry)).json()
    assert deduction["status"] == "posted"
    return setup, household.id, deduction


async def test_a_rectified_deduction_is_reversed_only_for_what_is_left_of_it(world: World) -> None:
    setup, household_id, deduction = await rectifiable(world)
    admin, cadre = setup.people["village_admin"], setup.people["cadre"]
    assert (await rectify(world, cadre, deduction["id"])).status_code == 201
    assert (await balance(world, admin, household_id))["posted"] == 30  # 40 − 20 + 10

    reversal = await reverse(world, admin, deduction["transaction_id"])
    assert reversal.status_code == 201, reversal.text
    household_lines = [
        p["amount"] for p in reversal.json()["postings"] if p["account_id"] == str(household_id)
    ]
    assert household_lines == [10]  # the deduction less what the rectification already gave back
    assert (await balance(world, admin, household_id))["posted"] == 40  # as if never deducted

    assert_error(await reverse(world, admin, deduction["transaction_id"]), 409, "already_reversed")
    assert_error(await rectify(world, cadre, deduction["id"]), 409, "already_rectified")
    assert (await balance(world, admin, household_id))["posted"] == 40
    shown = (await world.call("GET", f"/transactions/{deduction['transaction_id']}", admin)).json()
    assert shown["compensated_by"]["kind"] == "rectification"
    assert [c["kind"] for c in shown["compensations"]] == ["rectification", "reversal"]


async def test_a_fully_rectified_deduction_has_nothing_left_to_reverse(world: World) -> None:
    setup, household_id, deduction = await rectifiable(world, share=100)
    admin = setup.people["village_admin"]
    assert (await rectify(world, setup.people["cadre"], deduction["id"])).status_code == 201
    refused = assert_error(
        await reverse(world, admin, deduction["transaction_id"]), 409, "already_compensated"
    )
    assert "已整改返还" in refused["detail"]
    assert (await balance(world, admin, household_id))["posted"] == 40


async def test_a_reversed_deduction_cannot_be_rectified(world: World) -> None:
    setup, household_id, deduction = await rectifiable(world)
    admin = setup.people["village_admin"]
    assert (await reverse(world, admin, deduction["transaction_id"])).status_code == 201
    refused = assert_error(
        await rectify(world, setup.people["cadre"], deduction["id"]), 409, "already_compensated"
    )
    assert "已冲正" in refused["detail"]
    assert (await balance(world, admin, household_id))["posted"] == 40


async def test_raced_rectify_and_reverse_end_with_one(world: World) -> None:
    """In flight together, one wins and the other is refused; or the rectification committed before the
    reversal looked, and the reversal took back only what was left. Never the deduction returned twice."""
    for round_ in range(ROUNDS):
        setup, household_id, deduction = await rectifiable(world)
        admin, cadre = setup.people["village_admin"], setup.people["cadre"]
        pair = [rectify(world, cadre, deduction["id"]), reverse(world, admin, deduction["transaction_id"])]
        answers = await asyncio.gather(*(pair if round_ % 2 else reversed(pair)))
        rectified, reversed_ = answers if round_ % 2 else answers[::-1]
        posted = (await balance(world, admin, household_id))["posted"]
        if rectified.status_code == reversed_.status_code == 201:
            household = [
                p["amount"] for p in reversed_.json()["postings"] if p["account_id"] == str(household_id)
            ]
            assert household == [10]  # only what the rectification left
            assert posted == 40
            continue
        assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
        assert_error(next(a for a in answers if a.status_code == 409), 409, "already_compensated")
        assert posted == (30 if rectified.status_code == 201 else 40)


async def test_a_compensation_is_not_itself_compensated(world: World) -> None:
    setup = await world.setup_village(households=2)
    admin, clerk = setup.people["village_admin"], setup.people["clerk"]
    household = setup.households[1]
    await fund(world, setup, household.id, 100)
    soap = await make_item(world, setup, "香皂", 5, 10)
    sale = await a_sale(world, setup, household.id, soap)
    cancelled = (await cancel(world, clerk, sale["id"])).json()
    refused = await reverse(world, admin, cancelled["cancel_transaction_id"])
    assert_error(refused, 409, "cannot_reverse")
    assert (await balance(world, admin, household.id))["posted"] == 100
    shown = (await world.call("GET", f"/transactions/{cancelled['cancel_transaction_id']}", admin)).json()
    assert shown["compensates"] == {"kind": "cancellation", "transaction_id": sale["transaction_id"]}


async def test_the_household_history_says_how_an_entry_was_compensated(world: World) -> None:
    setup, household_id, deduction = await rectifiable(world)
    admin = setup.people["village_admin"]
    assert (await reverse(world, admin, deduction["transaction_id"])).status_code == 201
    entries = (await world.call("GET", f"/households/{household_id}/entries", admin)).json()["items"]
    by_id = {e["transaction_id"]: e for e in entries}
    assert by_id[deduction["transaction_id"]]["compensated_by"]["kind"] == "reversal"


# ------------------------------------------------------------------------------- in the database itself


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


@pytest.fixture
async def app_db(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    assert settings.database_url
    connection = await asyncpg.connect(_plain(settings.database_url))
    if await connection.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"):
        await connection.close()
        pytest.skip("the service connects as a superuser here (no separate app role)")
    yield connection
    await connection.close()


async def test_the_link_table_is_append_only_and_unique_per_source(
    world: World, app_db: asyncpg.Connection, settings: Settings
) -> None:
    setup, _, deduction = await rectifiable(world)
    admin = setup.people["village_admin"]
    reversal = (await reverse(world, admin, deduction["transaction_id"])).json()
    for sql in ("UPDATE compensations SET amount = 0", "DELETE FROM compensations", "TRUNCATE compensations"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app_db.execute(sql)
    assert settings.migrate_database_url
    owner = await asyncpg.connect(_plain(settings.migrate_database_url))
    try:
        for sql in ("UPDATE compensations SET amount = 0", "DELETE FROM compensations"):
            with pytest.raises(asyncpg.PostgresError, match="append-only"):
                await owner.execute(sql)
    finally:
        await owner.close()
    # a second compensation of the same source, written by hand as the service role, is refused
    with pytest.raises(asyncpg.UniqueViolationError):
        await app_db.execute(
            "INSERT INTO compensations (village_id, source_id, step, transaction_id, kind, amount, actor_id)"
            " VALUES ($1, $2, 1, $3, 'revocation', 20, $4)",
            setup.village.id,
            uuid.UUID(deduction["transaction_id"]),
            uuid.UUID(reversal["id"]),
            admin.id,
        )


async def test_the_villager_sees_a_cancelled_sale_marked_in_their_history(world: World, app: FastAPI) -> None:
    from tests.web.test_admin_pages import browser

    setup = await world.setup_village(households=2)
    household = setup.households[0]  # the villager's own
    await fund(world, setup, household.id, 100)
    soap = await make_item(world, setup, "香皂", 5, 10)
    sale = await a_sale(world, setup, household.id, soap)
    assert (await cancel(world, setup.people["clerk"], sale["id"])).status_code == 200
    async with browser(app, setup.people["villager"]) as page:
        history = await page.get("/me/history")
    assert history.status_code == 200
    assert "已取消兑换" in history.text


async def test_the_database_decides_a_race_the_paths_did_not_see(world: World) -> None:
    """Two paths that both looked before either committed: the second waits on the link's unique slot and,
    when the first commits, is refused — PostgreSQL decides, not the order of the checks in Python."""
    from jifen.auth.actor import console_actor
    from jifen.awards import service as awards
    from jifen.ledger import repository as ledger_repository
    from jifen.ledger import service as ledger

    setup, household_id, deduction = await rectifiable(world)
    transaction_id = uuid.UUID(deduction["transaction_id"])
    actor = console_actor()
    async with world.session() as first, world.session() as second:
        await first.begin()
        await second.begin()
        source = await ledger_repository.get_transaction(first, transaction_id)
        assert source is not None
        await ledger.reverse(first, actor, source, reason="录入错误")  # not committed yet
        rectifying = asyncio.create_task(
            awards.rectify(second, actor, uuid.UUID(deduction["id"]), note="已整改")
        )
        await asyncio.sleep(0.5)
        assert not rectifying.done()  # waiting on the claimed slot
        await first.commit()
        with pytest.raises(ledger.AlreadyCompensated) as refused:
            await rectifying
        assert "已冲正" in refused.value.detail
        await second.rollback()
    admin = setup.people["village_admin"]
    assert (await balance(world, admin, household_id))["posted"] == 40


async def test_the_migration_links_the_compensations_made_before_it(world: World, settings: Settings) -> None:
    """Migration 0012 links history made before the table existed the same way the paths do now."""
    import importlib.util
    from pathlib import Path

    migration = Path(__file__).resolve().parents[2] / "migrations" / "versions" / "0012_compensations.py"
    spec = importlib.util.spec_from_file_location("migration_0012", migration)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    setup, household_id, deduction = await rectifiable(world)
    admin, clerk = setup.people["village_admin"], setup.people["clerk"]
    assert (await rectify(world, setup.people["cadre"], deduction["id"])).status_code == 201
    assert (await reverse(world, admin, deduction["transaction_id"])).status_code == 201
    soap = await make_item(world, setup, "香皂", 5, 10)
    cancelled = await a_sale(world, setup, household_id, soap)
    assert (await cancel(world, clerk, cancelled["id"])).status_code == 200
    reversed_sale = await a_sale(world, setup, household_id, soap)
    assert (await reverse(world, admin, reversed_sale["transaction_id"])).status_code == 201

    query = "SELECT source_id, step, transaction_id, kind, amount, actor_id FROM compensations ORDER BY 1, 2"
    assert settings.migrate_database_url
    owner = await asyncpg.connect(_plain(settings.migrate_database_url))
    try:
        made = [tuple(row) for row in await owner.fetch(query)]
        assert sorted(kind for _, _, _, kind, _, _ in made) == [
            "cancellation",
            "rectification",
            "reversal",
            "reversal",
        ]
        async with owner.transaction():
            await owner.execute("ALTER TABLE compensations DISABLE TRIGGER USER")
            await owner.execute("DELETE FROM compensations")
            await owner.execute("ALTER TABLE compensations ENABLE TRIGGER USER")
            await owner.execute(module.BACKFILL)
            linked = [tuple(row) for row in await owner.fetch(query)]
            assert linked == made
    finally:
        await owner.close()
