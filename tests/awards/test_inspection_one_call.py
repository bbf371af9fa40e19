"""A grid inspection in one database call (award_submit with the inspection's batch id and no key, migration
0027) writes exactly what the general Python path writes: the same sheet scored twice, once each way, gives
the same awards, audit events, outbox events and deliveries, ledger transactions and postings."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import text

from jifen.awards import service
from jifen.awards.schemas import AwardOut
from tests.factories import World
from tests.ledger.helpers import award, key, make_rule, open_sheet

_AWARDS = """
SELECT id, household_id, rule_id, rule_version, quantity, points, member_id, note, status,
       transaction_id IS NOT NULL AS posted, batch_id, submitted_by, notice_until IS NOT NULL AS on_notice,
       hold_id, self_report, observed_at, created_at
  FROM awards WHERE batch_id = :batch
"""
_AUDIT = """
SELECT record_id, actor_id, actor_name, actor_roles, action, record_type, before, after, reason
  FROM audit_events WHERE action = 'award.submit' AND record_id = ANY(:ids)
"""
_EVENTS = """
SELECT e.kind, e.household_id, e.payload,
       (SELECT count(*) FROM outbox_deliveries d WHERE d.village_id = e.village_id AND d.event_id = e.id)
           AS deliveries
  FROM outbox_events e WHERE e.payload->>'award_id' = ANY(:ids)
"""
_POSTINGS = """
SELECT t.source_id, t.kind, t.memo, t.actor_id, t.rule_id, t.rule_version, t.source_type, t.reverses_id,
       t.reason, p.account_id, p.amount, p.balance_after IS NOT NULL AS has_balance,
       p.account_version IS NOT NULL AS has_version
  FROM ledger_transactions t JOIN postings p ON p.village_id = t.village_id AND p.transaction_id = t.id
 WHERE t.source_id = ANY(:ids)
"""


_SKIP = ("id", "batch_id", "created_at")


async def _written(world: World, sheet_id: str, day: str) -> dict[str, list[Any]]:
    """What a sheet's submission wrote, each record keyed by its award's (household, rule, quantity) and
    without what differs by construction (ids, times, the sheet's day in the default note)."""
    async with world.session() as session:
        awards = (await session.execute(text(_AWARDS), {"batch": uuid.UUID(sheet_id)})).mappings().all()
        ids = [a["id"] for a in awards]
        names = {a["id"]: (str(a["household_id"]), str(a["rule_id"]), a["quantity"]) for a in awards}
        audit = (await session.execute(text(_AUDIT), {"ids": [str(i) for i in ids]})).mappings().all()
        events = (await session.execute(text(_EVENTS), {"ids": [str(i) for i in ids]})).mappings().all()
        postings = (await session.execute(text(_POSTINGS), {"ids": ids})).mappings().all()
    assert {a["batch_id"] for a in awards} == {uuid.UUID(sheet_id)}
    by_award = {str(i): names[i] for i in ids}
    (created,) = {a["created_at"] for a in awards}

    def note(value: str | None) -> str | None:
        return value.replace(day, "DAY") if value else value

    return {
        "awards": sorted(
            repr((names[a["id"]], {k: note(v) if k == "note" else v for k, v in a.items() if k not in _SKIP}))
            for a in awards
        ),
        "audit": sorted(
            repr(
                (
                    by_award[a["record_id"]],
                    {k: v for k, v in a.items() if k not in ("record_id", "after")},
                    {
                        **a["after"],
                        "transaction_id": a["after"]["transaction_id"] is not None,
                        "note": note(a["after"]["note"]),
                    },
                )
            )
            for a in audit
        ),
        "events": sorted(
            repr(
                (
                    by_award[e["payload"]["award_id"]],
                    e["kind"],
                    e["household_id"],
                    e["deliveries"],
                    {k: v for k, v in e["payload"].items() if k not in ("award_id", "transaction_id")}
                    | _notice_after(e["payload"], created),
                    e["payload"]["transaction_id"] is not None,
                )
            )
            for e in events
        ),
        "postings": sorted(
            repr((names[p["source_id"]], {k: v for k, v in p.items() if k != "source_id"})) for p in postings
        ),
    }


def _notice_after(payload: dict[str, Any], created: datetime) -> dict[str, Any]:
    """The end of a public notice as the time after the award's (each way has its own clock)."""
    if "notice_until" not in payload:
        return {}
    return {"notice_until": datetime.fromisoformat(payload["notice_until"]) - created}


def _answered(awards: Sequence[dict[str, Any]], day: str) -> list[str]:
    skip = ("id", "transaction_id", "created_at", "notice_until")
    return sorted(
        repr(({k: v for k, v in a.items() if k not in skip}, a["transaction_id"] is not None)).replace(
            day, "DAY"
        )
        for a in awards
    )


@pytest.mark.parametrize("notice_days", [0, 2])
async def test_an_inspection_in_one_call_writes_what_the_general_path_writes(
    world: World, monkeypatch: pytest.MonkeyPatch, notice_days: int
) -> None:
    setup = await world.setup_village(households=4, grids=("一组",))
    admin, cadre = setup.people["village_admin"], setup.people["cadre"]
    clean = await make_rule(world, setup, 15)
    reviewed = await make_rule(world, setup, 10, review="single")
    mess = await make_rule(world, setup, -5)
    webhook = await world.call(
        "POST",
        f"/villages/{setup.village.id}/webhooks",
        admin,
        json={"name": "村务群", "url": "http://127.0.0.1:9/x"},
    )
    assert webhook.status_code == 201, webhook.text
    for household in setup.households:  # points to deduct from
        assert (await award(world, cadre, household.id, clean)).status_code == 201
    if notice_days:
        patched = await world.call(
            "PATCH", f"/villages/{setup.village.id}", admin, json={"notice_days": notice_days}
        )
        assert patched.status_code == 200, patched.text
    first, second, third, fourth = (str(h.id) for h in setup.households)
    scores: list[dict[str, Any]] = [
        {"household_id": first, "rule_id": clean["id"]},
        {"household_id": second, "rule_id": clean["id"], "quantity": 2},
        {"household_id": third, "rule_id": clean["id"], "note": "门口打扫得很干净"},
        {"household_id": fourth, "rule_id": reviewed["id"]},
        {"household_id": second, "rule_id": mess["id"]},
    ]
    if notice_days:
        scores.pop()  # a deduction on public notice holds its points: the general path's alone

    answered: list[list[AwardOut] | None] = []
    in_one_call = service.submit_batch_in_one_call

    async def spied(*args: Any, **kwargs: Any) -> list[AwardOut] | None:
        answered.append(await in_one_call(*args, **kwargs))
        return answered[-1]

    async def general_path(*args: Any, **kwargs: Any) -> list[AwardOut] | None:
        return None

    written, answers = [], []
    for day, one_call in (("2026-11-20", spied), ("2026-11-21", general_path)):
        monkeypatch.setattr(service, "submit_batch_in_one_call", one_call)
        rules = [clean, reviewed, mess]
        sheet = await open_sheet(world, setup, cadre, rules, day=day, judges=("张三", "李四"))
        assert sheet.status_code == 201, sheet.text
        submitted = await world.call(
            "POST", f"/inspections/{sheet.json()['id']}/submit", cadre, json={"scores": scores}, headers=key()
        )
        assert submitted.status_code == 201, submitted.text
        assert submitted.json()["inspection"]["awards"] == len(scores)
        written.append(await _written(world, sheet.json()["id"], day))
        answers.append(_answered(submitted.json()["awards"], day))
    assert len(answered) == 1  # the first sheet did go through the one call
    assert answered[0] is not None
    one_call_wrote, general_wrote = written
    for part in ("awards", "audit", "events", "postings"):
        assert one_call_wrote[part] == general_wrote[part], part
    assert len(one_call_wrote["postings"]) == (0 if notice_days else 2 * 4)  # on notice: posted later
    assert answers[0] == answers[1]


async def test_an_inspection_the_one_call_refuses_runs_the_general_path(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deduction the household cannot pay: the one call writes nothing, the general path refuses it."""
    setup = await world.setup_village(households=2, grids=("一组",))
    cadre = setup.people["cadre"]
    mess = await make_rule(world, setup, -5)
    sheet = (await open_sheet(world, setup, cadre, [mess], day="2026-11-20")).json()
    answered: list[list[AwardOut] | None] = []
    in_one_call = service.submit_batch_in_one_call

    async def spied(*args: Any, **kwargs: Any) -> list[AwardOut] | None:
        answered.append(await in_one_call(*args, **kwargs))
        return answered[-1]

    monkeypatch.setattr(service, "submit_batch_in_one_call", spied)
    refused = await world.call(
        "POST",
        f"/inspections/{sheet['id']}/submit",
        cadre,
        json={"scores": [{"household_id": str(setup.households[0].id), "rule_id": mess["id"]}]},
        headers=key(),
    )
    assert answered == [None]
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "insufficient_points"
    async with world.session() as session:
        written = (await session.execute(text("SELECT count(*) FROM awards"))).scalar_one()
    assert written == 0
