"""The claim-and-handle loop of the jobs that sweep due rows (awards whose notice ended, reservations past
their expiry): claim a batch under row locks (SKIP LOCKED) in a transaction of its own, handle each row in
that transaction, commit, and again until nothing is due. Safe to run in several processes at once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

T = TypeVar("T")


async def sweep(
    sessionmaker: async_sessionmaker[AsyncSession],
    claim: Callable[[AsyncSession], Awaitable[Sequence[T]]],
    handle: Callable[[AsyncSession, T], Awaitable[bool]],
) -> int:
    """How many claimed rows `handle` dealt with (it answers False for one it found no longer due)."""
    handled = 0
    while True:
        async with sessionmaker() as session, session.begin():
            due = await claim(session)
            if not due:
                return handled
            for row in due:
                if await handle(session, row):
                    handled += 1
