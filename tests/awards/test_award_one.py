"""award_submit with one item (migration 0028: one read, one write; 0029: the writes in one statement)
answers, refuses and writes exactly as the many-item statements do: each case is sent once alone and once as
the first item of two (the second a plain award to a household of its own), on households in the same state;
the first item's answer, awards row, audit event, outbox event and postings must be the same, and a case one
refuses (NULL) the other refuses."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import asyncpg
import pytest

from jifen.kit.db import normalise_url
from jifen.kit.timeutil import utcnow
from jifen.models import Role
from jifen.users.schemas import RoleGrantIn
from tests.factories import World
from tests.ledger.helpers import award, make_rule

_CALL = (
    "SELECT answer_json, awarded, deducted FROM award_submit($1, $2, 'tester', 'req-1', '127.0.0.1', $3, $4,"
    " $5, NULL, $6, $7::uuid[], $8::uuid[], $9::integer[], $10::text[])"
)
_ROWS = {
    "awards": "SELECT rule_id, rule_version, quantity, points, member_id, note, status,"
    " transaction_id IS NOT NULL AS posted, submitted_by, notice_until - created_at AS notice, hold_id,"
    " self_report, observed_at FROM awards WHERE id = $1",
    "audit": "SELECT actor_id, actor_name, actor_roles, action, record_type, before,"
    " after - 'transaction_id' - 'household_id' AS after, reason, request_id, client_addr"
    " FROM audit_events WHERE record_id = $1::uuid::text",
    "events": "SELECT e.kind, e.payload - 'award_id' - 'transaction_id' - 'notice_until' AS payload,"
    " (SELECT count(*) FROM outbox_deliveries d WHERE d.event_id = e.id) AS deliveries"
    " FROM outbox_events e WHERE e.payload->>'award_id' = $1::uuid::text",
    "postings": "SELECT t.kind, t.memo, t.actor_id, t.rule_id, t.rule_version, t.source_type, p.amount,"
    " p.balance_after, p.account_version IS NOT NULL AS versioned, a.kind AS account"
    " FROM ledger_transactions t JOIN postings p ON p.village_id = t.village_id AND p.transaction_id = t.id"
    " JOIN accounts a ON a.village_id = p.village_id AND a.id = p.account_id"
    " WHERE t.source_id = $1 ORDER BY p.amount",
    # the household's balance row after it: moved by ledger_post (many items) or by the one statement (0029)
    "account": "SELECT a.posted, a.held, a.lifetime_earned, a.version FROM awards w"
    " JOIN accounts a ON a.village_id = w.village_id AND a.id = w.household_id WHERE w.id = $1",
}


async def _written(conn: asyncpg.Connection, award_id: uuid.UUID) -> dict[str, Any]:
    return {name: [dict(r) for r in await conn.fetch(query, award_id)] for name, query in _ROWS.items()}


def _answer(item: dict[str, Any]) -> dict[str, Any]:
    skip = ("id", "transaction_id", "household_id", "created_at", "notice_until")
    return {k: v for k, v in item.items() if k not in skip} | {
        "posted": item["transaction_id"] is not None,
        "on_notice": item["notice_until"] is not None,
    }


@pytest.mark.parametrize("notice_days", [0, 2])
async def test_one_item_answers_refuses_and_writes_as_many_items_do(world: World, notice_days: int) -> None:
    import json

    setup = await world.setup_village(households=2, grids=("一组", "二组"))
    other = await world.setup_village(households=1)
    admin, cadre, villager = (setup.people[r] for r in ("village_admin", "cadre", "villager"))
    village = setup.village.id
    plus = await make_rule(world, setup, 5)
    minus = await make_rule(world, setup, -3)
    reviewed = await make_rule(world, setup, 4, review="double")
    capped = await make_rule(world, setup, 2, cap={"count": 10, "period": "day"})
    escalating = await make_rule(world, setup, -2, escalation=[2, 4])
    evidence = await make_rule(world, setup, 3, evidence_required=True)
    ended = await make_rule(world, setup, 3, active_until=(date.today() - timedelta(days=3)).isoformat())
    foreign = await make_rule(world, other, 5)
    limited = await world.person(RoleGrantIn(role=Role.cadre, village_id=village, grid="二组"))
    own_house = await world.household(setup.village, grid="一组")
    interested = await world.person(
        RoleGrantIn(role=Role.cadre, village_id=village),
        RoleGrantIn(role=Role.villager, village_id=village, household_id=own_house.id),
    )
    if notice_days:
        patched = await world.call("PATCH", f"/villages/{village}", admin, json={"notice_days": notice_days})
        assert patched.status_code == 200, patched.text
    database = normalise_url(world.app.state.settings.database_url).replace("+asyncpg", "")
    conn = await asyncpg.connect(database)
    credentials = {
        r["id"]: r["credential_version"] for r in await conn.fetch("SELECT id, credential_version FROM users")
    }

    async def pair(funded: int = 0, grid: str = "一组") -> tuple[uuid.UUID, uuid.UUID]:
        """Two households of `grid` in the same state: `funded` points each."""
        made = [await world.household(setup.village, grid=grid) for _ in range(2)]
        for household in made:
            for _ in range(funded // 5):
                assert (await award(world, admin, household.id, plus)).status_code == 201
        return made[0].id, made[1].id

    async def submit(
        who: Any, items: list[tuple[uuid.UUID, dict[str, Any], int, str | None]], **kw: Any
    ) -> Any:
        return await conn.fetchrow(
            _CALL,
            who.id,
            kw.get("credential", credentials[who.id]),
            kw.get("key", uuid.uuid4().hex),
            "hash",
            len(items) > 1,
            utcnow(),
            [h for h, _, _, _ in items],
            [uuid.UUID(r["id"]) for _, r, _, _ in items],
            [q for _, _, q, _ in items],
            [n for _, _, _, n in items],
        )

    pads = {g: (await world.household(setup.village, grid=g)).id for g in ("一组", "二组")}
    cases: list[tuple[str, Any, Any, dict[str, Any], int, str | None, int, bool]] = [
        # name, who, household (a grid: a fresh pair there), rule, quantity, note, funded, answered
        ("award", cadre, "一组", plus, 1, None, 0, True),
        ("three with a note", admin, "一组", plus, 3, '门前"三包" \\ 好', 0, True),
        ("deduction", cadre, "一组", minus, 1, None, 10, not notice_days),
        ("deduction, too few points", cadre, "一组", minus, 2, None, 5, False),
        ("review", cadre, "一组", reviewed, 1, None, 0, True),
        ("cap", cadre, "一组", capped, 1, None, 0, False),
        ("escalation", cadre, "一组", escalating, 1, None, 10, False),
        ("evidence", cadre, "一组", evidence, 1, None, 0, False),
        ("rule no longer in force", cadre, "一组", ended, 1, None, 0, False),
        ("another village's rule", cadre, "一组", foreign, 1, None, 0, False),
        ("another village's household", cadre, other.households[0].id, plus, 1, None, 0, False),
        ("no such household", cadre, uuid.uuid4(), plus, 1, None, 0, False),
        ("a villager", villager, "一组", plus, 1, None, 0, False),
        ("a cadre of another grid", limited, "一组", plus, 1, None, 0, False),
        ("a cadre of this grid", limited, "二组", plus, 1, None, 0, True),
        ("own household", interested, own_house.id, plus, 1, None, 0, False),
    ]
    try:
        for name, who, fixed, rule, quantity, note, funded, answered in cases:
            fresh = isinstance(fixed, str)
            alone_on, first_on = await pair(funded, fixed) if fresh else (fixed, fixed)
            alone = await submit(who, [(alone_on, rule, quantity, note)])
            pad = pads[
                "二组" if who is limited else "一组"
            ]  # the second item: one the first's caller may award
            many = await submit(who, [(first_on, rule, quantity, note), (pad, plus, 1, None)])
            if fresh or not answered:
                assert (alone["answer_json"] is not None) == answered, name
            assert (alone["answer_json"] is None) == (many["answer_json"] is None), name
            if alone["answer_json"] is None:
                assert (alone["awarded"], alone["deducted"]) == (None, None), name
                continue
            one, first = json.loads(alone["answer_json"]), json.loads(many["answer_json"])["items"][0]
            assert _answer(one) == _answer(first), name
            assert (alone["awarded"], alone["deducted"]) == (
                int(one["status"] == "posted" and one["points"] > 0),
                int(one["status"] == "posted" and one["points"] < 0),
            ), name
            assert await _written(conn, uuid.UUID(one["id"])) == await _written(
                conn, uuid.UUID(first["id"])
            ), name

        # a key already used, and a credential no longer valid: alike
        used = uuid.uuid4().hex
        a, b = await pair()
        assert (await submit(cadre, [(a, plus, 1, None)], key=used))["answer_json"] is not None
        assert (await submit(cadre, [(b, plus, 1, None)], key=used))["answer_json"] is None
        assert (await submit(cadre, [(b, plus, 1, None), (pads["一组"], plus, 1, None)], key=used))[
            "answer_json"
        ] is None
        for items in ([(a, plus, 1, None)], [(a, plus, 1, None), (pads["一组"], plus, 1, None)]):
            with pytest.raises(asyncpg.PostgresError) as refused:
                await submit(cadre, items, credential=credentials[cadre.id] + 1)
            assert refused.value.sqlstate == "JF007"
    finally:
        await conn.close()
