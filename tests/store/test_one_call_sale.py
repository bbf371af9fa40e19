"""The counter sale in one database call (migration 0022 sale_submit), one statement committed as it answers.
It writes the rows the Python path (store/basket.py check_out) writes and answers the same bytes; a replay
sends them again and moves nothing; every refusal falls back to the Python path, which answers it as before;
and a credential revoked by another process moves nothing."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import text

from jifen.store.schemas import RedemptionOut
from tests.awards.test_one_call import _count_statements, sign_out_elsewhere
from tests.factories import VillageSetup, World
from tests.store.helpers import fund, make_item, redeem


def _switch(world: World, on: bool) -> None:
    world.app.state.settings.sale_in_one_call = on


async def _rows(world: World, sale: dict[str, Any]) -> dict[str, Any]:
    """What a sale wrote, with its own ids, numbers and times left out (so two sales compare)."""
    ids = {"r": uuid.UUID(sale["id"]), "t": uuid.UUID(sale["transaction_id"]), "rs": sale["id"]}
    async with world.session() as session:

        async def rows(query: str) -> list[Any]:
            return [tuple(row) for row in (await session.execute(text(query), ids)).all()]

        return {
            "redemption": await rows(
                "SELECT store_id, status, total_points, clerk_id, created_at = (SELECT created_at FROM"
                " stock_movements WHERE redemption_id = :r LIMIT 1) FROM redemptions WHERE id = :r"
            ),
            "lines": await rows(
                "SELECT item_id, quantity, price_points, line_points FROM redemption_lines"
                " WHERE redemption_id = :r ORDER BY item_id"
            ),
            "movements": await rows(
                "SELECT item_id, kind, quantity, actor_id, reason FROM stock_movements"
                " WHERE redemption_id = :r ORDER BY item_id"
            ),
            "transaction": await rows(
                "SELECT kind, memo, actor_id, rule_id, rule_version, source_type, source_id = :r,"
                " reverses_id, reason FROM ledger_transactions WHERE id = :t"
            ),
            "postings": await rows(
                "SELECT p.amount, a.kind FROM postings p JOIN accounts a ON a.id = p.account_id"
                " WHERE p.transaction_id = :t ORDER BY p.amount"
            ),
            "audit": await rows(
                "SELECT actor_id, actor_name, actor_roles, action, record_type, before, after - 'receipt_no'"
                " - 'household_id' - 'transaction_id', reason FROM audit_events WHERE record_id = :rs"
            ),
            "outbox": await rows(
                "SELECT kind, payload - 'redemption_id' - 'receipt_no' - 'balance_after',"
                " (SELECT count(*) FROM outbox_deliveries d WHERE d.event_id = e.id)"
                " FROM outbox_events e WHERE payload->>'redemption_id' = :rs"
            ),
        }


async def _scene(world: World) -> tuple[VillageSetup, list[dict[str, Any]]]:
    setup = await world.setup_village(households=4)
    for household in setup.households:
        await fund(world, setup, household.id, 500)
    webhook = await world.call(
        "POST",
        f"/villages/{setup.village.id}/webhooks",
        setup.people["village_admin"],
        json={"name": "村务群", "url": "https://example.org/hook"},
    )
    assert webhook.status_code == 201, webhook.text  # every event gets a delivery row
    soap = await make_item(world, setup, '香皂 "特价"', 7, 50, limit={"count": 3, "period": "week"})
    rice = await make_item(world, setup, "大米（5斤）", 25, 50, limit={"count": 9, "period": "quarter"})
    oil = await make_item(world, setup, "食用油", 30, 50)
    return setup, [soap, rice, oil]


async def test_one_call_and_python_path_write_the_same_rows_and_answer_the_same_bytes(world: World) -> None:
    setup, (soap, rice, oil) = await _scene(world)
    clerk = setup.people["clerk"]
    basket = [(oil["id"], 1), (soap["id"], 2), (rice["id"], 1), (soap["id"], 1)]  # soap twice: one line
    first, second = setup.households[1], setup.households[2]

    _switch(world, True)
    quick = await redeem(world, clerk, setup.store.id, first.id, basket)
    _switch(world, False)
    python = await redeem(world, clerk, setup.store.id, second.id, basket)
    assert quick.status_code == python.status_code == 201, (quick.text, python.text)

    # the one call's bytes are what pydantic writes for the same receipt
    assert quick.content == RedemptionOut.model_validate_json(quick.content).model_dump_json().encode()
    one, other = quick.json(), python.json()
    assert one.keys() == other.keys()
    for field in ("status", "store_id", "total_points", "lines", "clerk_id", "cancel_transaction_id"):
        assert one[field] == other[field], field
    assert one["total_points"] == 3 * 7 + 25 + 30
    assert one["balance_after"] == other["balance_after"] == 500 - one["total_points"]
    assert [line["quantity"] for line in one["lines"]] == [
        q for _, q in sorted({soap["id"]: 3, rice["id"]: 1, oil["id"]: 1}.items())
    ]
    assert len(one["receipt_no"]) == 8

    written, expected = await _rows(world, one), await _rows(world, other)
    for table in expected:
        assert written[table] == expected[table], table
    assert written["audit"]
    assert written["outbox"]
    assert written["movements"]

    # by household code as well
    _switch(world, True)
    by_code = await redeem(
        world, clerk, setup.store.id, None, [(oil["id"], 1)], household_code=setup.households[3].code
    )
    assert by_code.status_code == 201, by_code.text
    assert by_code.json()["household_code"] == setup.households[3].code


async def test_a_sale_is_one_statement_and_a_replay_moves_nothing(world: World) -> None:
    setup, (soap, _, oil) = await _scene(world)
    clerk, household = setup.people["clerk"], setup.households[1]
    assert (await redeem(world, clerk, setup.store.id, household.id, [(oil["id"], 1)])).status_code == 201

    sent = _count_statements(world)
    first = await redeem(world, clerk, setup.store.id, household.id, [(soap["id"], 2)], key="one-call-sale")
    await asyncio.sleep(0)  # the driver's logger reports on the next turn of the loop
    assert first.status_code == 201, first.text
    # one statement in its own implicit transaction: no BEGIN or COMMIT round trips
    assert [q.split()[0].strip(";").upper() for q in sent] == ["SELECT"], sent
    assert any("sale_submit" in q for q in sent), sent

    again = await redeem(world, clerk, setup.store.id, household.id, [(soap["id"], 2)], key="one-call-sale")
    assert again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.content == first.content
    async with world.session() as session:
        sales = await session.scalar(text("SELECT count(*) FROM redemptions"))
        on_hand = await session.scalar(text("SELECT on_hand FROM items WHERE id = :i"), {"i": soap["id"]})
    assert (sales, on_hand) == (2, 48)

    # another server process signs the clerk out: this process still has the clerk cached, the database
    # refuses the sale all the same
    await sign_out_elsewhere(world, clerk.id)
    refused = await redeem(world, clerk, setup.store.id, household.id, [(soap["id"], 1)])
    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_token")
    async with world.session() as session:
        assert await session.scalar(text("SELECT count(*) FROM redemptions")) == 2


async def _refusals(world: World, setup: VillageSetup, items: list[dict[str, Any]]) -> list[tuple[int, Any]]:
    soap, rice, oil = items
    clerk, household = setup.people["clerk"], setup.households[1]
    store, nowhere = setup.store.id, uuid.UUID(int=7)
    answers = [
        await redeem(world, clerk, store, household.id, [(oil["id"], 51)]),  # out of stock
        await redeem(world, clerk, store, household.id, [(soap["id"], 4)]),  # over the weekly limit
        await redeem(world, clerk, store, household.id, [(rice["id"], 10)]),  # over the quarterly limit
        await redeem(world, clerk, store, household.id, [(oil["id"], 17)]),  # 510 points of 500
        await redeem(world, clerk, store, household.id, [(str(nowhere), 1)]),  # no such item
        await redeem(world, clerk, store, nowhere, [(oil["id"], 1)]),  # no such household
        await redeem(world, clerk, nowhere, household.id, [(oil["id"], 1)]),  # no such store
        await redeem(world, setup.people["cadre"], store, household.id, [(oil["id"], 1)]),  # not a clerk
        await redeem(world, clerk, store, household.id, [(oil["id"], 1)], key="x" * 201),  # a bad key
    ]
    return [(a.status_code, a.json()) for a in answers]


async def test_every_refusal_falls_back_and_is_answered_as_before(world: World) -> None:
    setup, items = await _scene(world)
    _switch(world, True)
    quick = await _refusals(world, setup, items)
    _switch(world, False)
    python = await _refusals(world, setup, items)
    assert quick == python
    assert [status for status, _ in quick] == [409, 409, 409, 409, 404, 404, 404, 403, 400]
    assert [answer["error"] for _, answer in quick[:4]] == [
        "out_of_stock",
        "limit_exceeded",
        "limit_exceeded",
        "insufficient_points",
    ]
    async with world.session() as session:
        written = await session.scalar(
            text(
                "SELECT (SELECT count(*) FROM redemptions) + (SELECT count(*) FROM stock_movements WHERE"
                " kind = 'sale') + (SELECT count(*) FROM ledger_transactions WHERE kind = 'redemption')"
            )
        )
    assert written == 0
