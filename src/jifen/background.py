"""The due work every server process runs every few seconds (and `jifen jobs run` on demand), as named
jobs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from jifen.kit.db import raw_connection
from jifen.kit.jobs import Job


def due_jobs(sessionmaker: async_sessionmaker[AsyncSession]) -> list[Job]:
    """Awards whose public notice (公示) ended, reservations (预约兑换) that expired unclaimed, due clearings
    (清零), reminders (a pickup code or points about to lapse) and the outbox's deliveries. Each is safe
    in several processes at once: every record is claimed under a row lock."""
    from jifen.awards import notice
    from jifen.expiry import service as expiry
    from jifen.notify import delivery
    from jifen.notify import service as notify
    from jifen.settings import get_settings
    from jifen.store import reservations

    policy = delivery.Policy.of(get_settings())
    return [
        Job("notice", lambda: notice.run_due(sessionmaker)),
        Job("reservations", lambda: reservations.release_expired(sessionmaker)),
        Job("expiry", lambda: expiry.run_due(sessionmaker)),
        Job("reminders", lambda: notify.remind(sessionmaker)),
        Job("deliveries", lambda: delivery.deliver_due(sessionmaker, policy)),
    ]


def chain_jobs(engine: AsyncEngine) -> list[Job]:
    """Link new records into their villages' chains (then roll the town's figures up and verify what was
    linked); seal a checkpoint a day. One process at a time (the chainer lock): in the others these jobs
    are skipped."""
    from jifen.audit import chain
    from jifen.audit import service as audit
    from jifen.town import repository as town

    async def link_then_roll_up(conn: asyncpg.Connection) -> int:
        """Link, then add what is final to the town overview's figures (town/repository.py), then verify
        what was linked (the verdict the admin page reads, audit/service.py verify_behind). Counts the
        records linked."""
        linked = await chain.link_all(conn)
        upto = await chain.horizon(conn)
        if upto is not None:
            await town.roll_up(conn, upto)
        await audit.verify_behind(conn)
        return linked

    async def under_chainer_lock(work: Callable[[asyncpg.Connection], Awaitable[int]]) -> int | None:
        async with raw_connection(engine) as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", chain.CHAINER_LOCK):
                return None
            try:
                return await work(conn)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", chain.CHAINER_LOCK)

    return [
        Job("chain_link", lambda: under_chainer_lock(link_then_roll_up)),
        Job("chain_seal", lambda: under_chainer_lock(chain.seal_daily)),
    ]


async def chain_now(engine: AsyncEngine) -> int | None:
    """The chain job once, now (link, roll up, verify): after loading the demo, its admin page has a verdict
    at once instead of after the first passes of a server's loop. None when another process holds the
    lock."""
    link = next(job for job in chain_jobs(engine) if job.name == "chain_link")
    return await link.run()
