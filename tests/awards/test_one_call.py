"""The award in one database call (migration 0021 award_submit): one statement, committed as it answers — the
actor from the process's cache, the answer built and stored by the call — and a credential revoked by another
process (which this one's cache has not seen) moves no points."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import event, text

from jifen.kit.db import normalise_url
from jifen.kit.timeutil import utcnow
from tests.factories import World
from tests.ledger.helpers import award, balance, key, make_rule


def _count_statements(world: World) -> list[str]:
    """Every statement the app sends from now on: through SQLAlchemy (its cursor event) and straight to the
    driver (asyncpg's query logger on each connection: BEGIN and COMMIT, and `Sql` inside a transaction)."""
    sent: list[str] = []
    logged: set[int] = set()
    engine = world.app.state.engine.sync_engine

    def on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        driver = dbapi_connection.driver_connection
        if id(driver) not in logged:
            logged.add(id(driver))
            driver.add_query_logger(lambda query: sent.append(query.query))

    def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(engine.pool, "checkout", on_checkout)
    event.listen(engine, "before_cursor_execute", on_execute)
    return sent


async def sign_out_elsewhere(world: World, user_id: uuid.UUID) -> None:
    """Another server process signs the user out (on a connection of its own: this process's actor cache
    never hears of it)."""
    database = normalise_url(world.app.state.settings.database_url).replace("+asyncpg", "")
    other = await asyncpg.connect(database)
    try:
        await other.execute(
            "UPDATE users SET credential_version = credential_version + 1 WHERE id = $1", user_id
        )
    finally:
        await other.close()


async def test_an_award_is_one_statement_and_a_revoked_credential_moves_nothing(world: World) -> None:
    setup = await world.setup_village(households=3)
    cadre, admin = setup.people["cadre"], setup.people["village_admin"]
    household = setup.households[0]
    plus = await make_rule(world, setup, 5)
    assert (await award(world, cadre, household.id, plus)).status_code == 201  # warms the actor cache

    sent = _count_statements(world)
    first = await award(world, cadre, household.id, plus, idempotency_key="one-call")
    await asyncio.sleep(0)  # the driver's logger reports on the next turn of the loop
    assert first.status_code == 201, first.text
    assert len(sent) <= 3, sent
    # one statement in its own implicit transaction: no BEGIN or COMMIT round trips
    assert [q.split()[0].strip(";").upper() for q in sent] == ["SELECT"], sent
    assert any("award_submit" in q for q in sent), sent
    assert first.json()["status"] == "posted"
    assert first.json()["points"] == 5

    sent.clear()
    batch = await world.call(
        "POST",
        "/awards/batch",
        cadre,
        json={"items": [{"household_id": str(h.id), "rule_id": plus["id"]} for h in setup.households]},
        headers=key(),
    )
    await asyncio.sleep(0)
    assert batch.status_code == 201, batch.text
    assert len(sent) <= 3, sent
    assert [item["points"] for item in batch.json()["items"]] == [5, 5, 5]

    # the same key again: the stored answer, byte for byte, and nothing posted twice
    again = await award(world, cadre, household.id, plus, idempotency_key="one-call")
    assert again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.content == first.content
    assert (await balance(world, admin, household.id))["posted"] == 15

    # another server process signs the cadre out: this process still has the cadre cached, the database
    # refuses the award all the same
    await sign_out_elsewhere(world, cadre.id)
    refused = await award(world, cadre, household.id, plus)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_token"
    assert (await balance(world, admin, household.id))["posted"] == 15


async def test_the_one_call_award_answers_and_tells_the_household_as_the_general_path_does(
    world: World,
) -> None:
    setup = await world.setup_village(households=2)
    cadre = setup.people["cadre"]
    first, second = setup.households
    plus = await make_rule(world, setup, 5)
    minus = await make_rule(world, setup, -3)

    quick = await award(world, cadre, first.id, plus)  # one call
    scored_offline = await award(world, cadre, second.id, plus, observed_at=utcnow())  # the general path
    deducted = await award(world, cadre, first.id, minus)
    assert (quick.status_code, scored_offline.status_code, deducted.status_code) == (201, 201, 201)
    # the same answer fields either way (the offline one carries its observed time)
    assert quick.json().keys() == scored_offline.json().keys()
    assert quick.json()["observed_at"] is None
    assert scored_offline.json()["observed_at"] is not None

    async with world.session() as session:
        rows = (
            await session.execute(
                text("SELECT kind, household_id, payload FROM outbox_events ORDER BY created_at, kind")
            )
        ).all()
    events = {(kind, household_id, payload["award_id"]): payload for kind, household_id, payload in rows}
    assert set(events) == {
        ("award.posted", first.id, quick.json()["id"]),
        ("award.posted", second.id, scored_offline.json()["id"]),
        ("deduction.posted", first.id, deducted.json()["id"]),
    }
    one_call = events[("award.posted", first.id, quick.json()["id"])]
    general = events[("award.posted", second.id, scored_offline.json()["id"])]
    assert one_call.keys() == general.keys()
    assert (one_call["points"], one_call["rule"]) == (general["points"], general["rule"]) == (5, plus["name"])
    assert one_call["transaction_id"] == quick.json()["transaction_id"]


async def test_an_award_on_public_notice_tells_its_end_in_one_format_whichever_path_wrote_it(
    world: World,
) -> None:
    """A webhook receiver parses `notice_until` the same way whether the one call (SQL's to_jsonb) or the
    general path (an award scored offline) wrote the event: ISO 8601 with a `T` and the offset."""
    setup = await world.setup_village(households=2)
    admin, cadre = setup.people["village_admin"], setup.people["cadre"]
    first, second = setup.households
    plus = await make_rule(world, setup, 5)
    patched = await world.call("PATCH", f"/villages/{setup.village.id}", admin, json={"notice_days": 2})
    assert patched.status_code == 200, patched.text

    quick = await award(world, cadre, first.id, plus)
    offline = await award(world, cadre, second.id, plus, observed_at=utcnow())
    assert quick.status_code == offline.status_code == 201
    assert quick.json()["notice_until"]
    assert offline.json()["notice_until"]

    async with world.session() as session:
        rows = (await session.execute(text("SELECT payload FROM outbox_events"))).scalars().all()
    ends = {payload["award_id"]: payload["notice_until"] for payload in rows}
    for answer in (quick, offline):
        written = ends[answer.json()["id"]]
        assert "T" in written, written
        assert written[-6] in "+-", written
        assert datetime.fromisoformat(written) == datetime.fromisoformat(answer.json()["notice_until"])
