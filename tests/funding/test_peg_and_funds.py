"""The peg (a history, never back-dated) and the funds a village receives (append-only, voided once)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from jifen.kit import timeutil
from tests.factories import World
from tests.funding.helpers import add_fund, set_peg, void
from tests.helpers import assert_error


async def actions(world: World, village_id: uuid.UUID, prefix: str) -> list[str]:
    async with world.session() as session:
        rows = await session.execute(
            text("SELECT action FROM audit_events WHERE scope = :v AND action LIKE :p ORDER BY id"),
            {"v": village_id, "p": prefix + "%"},
        )
        return [row[0] for row in rows.all()]


async def test_the_peg_defaults_to_one_yuan_and_keeps_its_history(world: World) -> None:
    setup = await world.setup_village()
    admin, villager = setup.people["village_admin"], setup.people["villager"]
    v = setup.village.id

    default = await world.call("GET", f"/villages/{v}/peg", villager)
    assert default.status_code == 200, default.text
    assert default.json()["current"]["fen_per_point"] == 100
    assert default.json()["current"]["yuan_per_point"] == "¥1.00"
    assert default.json()["current"]["effective_from"] is None
    assert default.json()["history"] == []

    five = await set_peg(world, admin, v, 500)
    assert five.status_code == 200, five.text
    assert five.json()["current"]["fen_per_point"] == 500
    assert five.json()["current"]["yuan_per_point"] == "¥5.00"
    assert five.json()["current"]["reason"] == "村民代表大会决议"
    # the same peg again changes nothing
    again = await set_peg(world, admin, v, 500)
    assert again.status_code == 200
    assert len(again.json()["history"]) == 1

    # from next month: announced now, in force later
    later = (timeutil.utcnow() + timedelta(days=10)).isoformat()
    planned = await set_peg(world, admin, v, 200, effective_from=later)
    assert planned.status_code == 200, planned.text
    assert planned.json()["current"]["fen_per_point"] == 500
    assert [p["fen_per_point"] for p in planned.json()["history"]] == [200, 500]

    # never back-dated: sales already made keep their peg
    past = (timeutil.utcnow() - timedelta(hours=1)).isoformat()
    assert_error(await set_peg(world, admin, v, 300, effective_from=past), 400, "peg_backdated")
    for bad in (0, -100, 1_000_001, 1.5, "abc"):
        assert_error(await set_peg(world, admin, v, bad), 422)  # type: ignore[arg-type]
    missing_reason = await world.call("PUT", f"/villages/{v}/peg", admin, json={"fen_per_point": 100})
    assert_error(missing_reason, 422)
    assert_error(await set_peg(world, villager, v, 100), 403)
    assert_error(await set_peg(world, setup.people["clerk"], v, 100), 403)
    assert len((await world.call("GET", f"/villages/{v}/peg", admin)).json()["history"]) == 2
    assert await actions(world, v, "peg.") == ["peg.set", "peg.set"]


async def test_funds_are_recorded_once_per_key_listed_and_filtered(world: World) -> None:
    setup = await world.setup_village()
    admin = setup.people["village_admin"]
    v = setup.village.id

    first = await add_fund(world, admin, v, 500_000, key="f-1", note="2026 年第一批")
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["amount_fen"], body["amount"], body["source"]) == (500_000, "¥5,000.00", "collective")
    assert body["voided"] is None
    # a retry replays, a different body under the same key is refused
    replay = await add_fund(world, admin, v, 500_000, key="f-1", note="2026 年第一批")
    assert (replay.status_code, replay.json()) == (201, body)
    assert_error(await add_fund(world, admin, v, 1, key="f-1"), 409, "idempotency_key_reused")
    no_key = await world.call(
        "POST",
        f"/villages/{v}/funds",
        admin,
        json={"source": "town", "source_name": "镇政府", "amount_fen": 1, "received_on": "2026-11-01"},
    )
    assert_error(no_key, 400, "idempotency_key_required")

    donor = await add_fund(
        world, admin, v, 200_050, source="donor", source_name="富民农业有限公司", received_on="2026-10-15"
    )
    town = await add_fund(
        world, admin, v, 100_000, source="town", source_name="幸福镇人民政府", received_on="2026-09-30"
    )
    assert donor.status_code == town.status_code == 201
    assert donor.json()["amount"] == "¥2,000.50"

    # refusals record nothing
    for amount in (0, -100, 1.25, 100_000_000_001, "十元"):
        assert_error(await add_fund(world, admin, v, amount), 422)  # type: ignore[arg-type]
    assert_error(await add_fund(world, admin, v, 100, source="bank"), 422)
    assert_error(await add_fund(world, admin, v, 100, source_name=""), 422)
    assert_error(await add_fund(world, admin, v, 100, received_on="2026-02-30"), 422)
    tomorrow = (timeutil.to_local(timeutil.utcnow()) + timedelta(days=1)).date().isoformat()
    assert_error(await add_fund(world, admin, v, 100, received_on=tomorrow), 400, "received_in_future")
    assert_error(await add_fund(world, admin, v, 100, surprise=1), 422)

    listed = await world.call("GET", f"/villages/{v}/funds", admin)
    assert listed.status_code == 200
    assert [f["source"] for f in listed.json()["items"]] == ["collective", "donor", "town"]
    by_source = await world.call("GET", f"/villages/{v}/funds", admin, params={"source": "donor"})
    assert [f["source_name"] for f in by_source.json()["items"]] == ["富民农业有限公司"]
    in_october = await world.call(
        "GET", f"/villages/{v}/funds", admin, params={"from": "2026-10-01", "to": "2026-10-31"}
    )
    assert [f["amount_fen"] for f in in_october.json()["items"]] == [200_050]
    page = await world.call("GET", f"/villages/{v}/funds", admin, params={"limit": 2})
    assert len(page.json()["items"]) == 2
    rest = await world.call(
        "GET", f"/villages/{v}/funds", admin, params={"limit": 2, "cursor": page.json()["next_cursor"]}
    )
    assert [f["source"] for f in rest.json()["items"]] == ["town"]
    assert rest.json()["next_cursor"] is None
    assert_error(await world.call("GET", f"/villages/{v}/funds", admin, params={"cursor": "!!"}), 400)
    assert await actions(world, v, "fund.") == ["fund.record"] * 3


async def test_a_fund_is_voided_once_with_a_reason_and_stops_counting(world: World) -> None:
    setup = await world.setup_village()
    admin = setup.people["village_admin"]
    v = setup.village.id
    fund = (await add_fund(world, admin, v, 300_000)).json()
    kept = (await add_fund(world, admin, v, 100_000, source="donor", source_name="乡贤王先生")).json()

    voided = await void(world, admin, fund["id"], key="v-1")
    assert voided.status_code == 200, voided.text
    assert voided.json()["voided"]["reason"] == "重复录入"
    assert voided.json()["amount_fen"] == 300_000  # the record stays as it was
    replay = await void(world, admin, fund["id"], key="v-1")
    assert (replay.status_code, replay.json()) == (200, voided.json())
    assert_error(await void(world, admin, fund["id"]), 409, "already_voided")
    assert_error(await void(world, admin, str(uuid.uuid4())), 404, "fund_not_found")
    assert_error(await void(world, setup.people["clerk"], kept["id"]), 403)
    reasonless = await world.call(
        "POST", f"/funds/{kept['id']}/void", admin, json={}, headers={"Idempotency-Key": "x"}
    )
    assert_error(reasonless, 422)

    everything = (await world.call("GET", f"/villages/{v}/funds", admin)).json()["items"]
    assert {f["id"]: f["voided"] is not None for f in everything} == {fund["id"]: True, kept["id"]: False}
    counting = await world.call("GET", f"/villages/{v}/funds", admin, params={"voided": "false"})
    assert [f["id"] for f in counting.json()["items"]] == [kept["id"]]
    overview = (await world.call("GET", f"/villages/{v}/funding", admin)).json()
    assert overview["funds_received_fen"] == 100_000
    assert await actions(world, v, "fund.") == ["fund.record", "fund.record", "fund.void"]


async def test_two_voids_at_once_void_once(world: World) -> None:
    import asyncio

    setup = await world.setup_village()
    admin = setup.people["village_admin"]
    fund = (await add_fund(world, admin, setup.village.id, 300_000)).json()
    answers = await asyncio.gather(*(void(world, admin, fund["id"]) for _ in range(8)))
    assert sorted(a.status_code for a in answers) == [200] + [409] * 7
    assert {a.json().get("error") for a in answers if a.status_code == 409} == {"already_voided"}


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE village_funds SET amount_fen = 1",
        "DELETE FROM village_funds",
        "DELETE FROM village_fund_voids",
        "UPDATE village_pegs SET fen_per_point = 1",
        "DELETE FROM store_settlements",
    ],
)
async def test_the_records_are_append_only(world: World, statement: str) -> None:
    setup = await world.setup_village()
    admin = setup.people["village_admin"]
    fund = (await add_fund(world, admin, setup.village.id, 300_000)).json()
    assert (await void(world, admin, fund["id"])).status_code == 200
    assert (await set_peg(world, admin, setup.village.id, 200)).status_code == 200
    with pytest.raises(DBAPIError):
        async with world.session() as session, session.begin():
            await session.execute(text(statement))
