from __future__ import annotations

from fastapi import FastAPI

from jifen.demo import load_demo
from jifen.expiry import service as expiry
from jifen.kit.timeutil import utcnow


async def test_the_demo_village_clears_yearly_and_the_preview_names_who_loses_points(app: FastAPI) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        village = await load_demo(session)
    async with app.state.sessionmaker() as session, session.begin():
        policy = await expiry.current_policy(session, village.id)
        assert policy is not None
        assert (policy.mode, policy.clearing_month, policy.clearing_day, policy.carry_over_cap) == (
            "yearly",
            12,
            31,
            50,
        )
        today = utcnow().date()
        losing = await expiry.expiring(session, village.id, until=today.replace(year=today.year + 1))
    assert len(losing) >= 10
    assert all(e.amount > 0 for e in losing)
