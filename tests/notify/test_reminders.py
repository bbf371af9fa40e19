"""Reminders, each written once however often the due job runs: a pickup code a day before it expires, and
points a week before they are cleared (清零)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import text

from jifen.kit.timeutil import to_local, utcnow
from jifen.notify import service
from tests.factories import World
from tests.ledger.helpers import award, make_rule
from tests.store.helpers import make_item
from tests.store.test_reservations import reserve


async def test_reminders_are_written_once(world: World) -> None:
    setup = await world.setup_village(households=1)
    admin, own = setup.people["village_admin"], setup.households[0]
    rule = await make_rule(world, setup, 30)
    assert (await award(world, admin, own.id, rule)).status_code == 201
    item = await make_item(world, setup, "大米", 10, 5)
    made = await reserve(world, setup.people["villager"], setup.store.id, [(item["id"], 1)])
    assert made.status_code == 201, made.text
    expires_at = datetime.fromisoformat(made.json()["expires_at"])
    clearing = to_local(utcnow()).date() + timedelta(days=3)
    policy = await world.call(
        "PUT",
        f"/villages/{setup.village.id}/expiry-policy",
        admin,
        json={"mode": "yearly", "clearing_date": f"{clearing:%m-%d}", "reason": "村规民约"},
    )
    assert policy.status_code == 200, policy.text

    sessionmaker = world.app.state.sessionmaker
    assert await service.remind(sessionmaker) == 1  # points to clear in 3 days; the code is 3 days off
    soon = expires_at - timedelta(hours=2)
    assert await service.remind(sessionmaker) == 0  # nothing twice
    assert await service.remind(sessionmaker, now=soon) == 1  # the pickup code, 2 hours before it expires
    assert await service.remind(sessionmaker, now=soon + timedelta(minutes=5)) == 0
    async with world.session() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT kind, payload FROM outbox_events"
                    " WHERE kind IN ('pickup.expiring', 'points.expiring') ORDER BY kind"
                )
            )
        ).all()
    assert [kind for kind, _ in rows] == ["pickup.expiring", "points.expiring"]
    assert rows[0][1]["code"] == made.json()["code"]
    assert rows[1][1]["total_points"] == 20  # 30 earned, 10 held by the reservation never expire
