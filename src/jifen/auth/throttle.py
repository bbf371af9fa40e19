"""Slows password guessing without letting a stranger lock a known user out.

Attempts are counted per (user name, client address), and per client address across names (a generous cap
that stops a guesser spreading over many names). After `FREE_FAILURES` failures in a row a name is refused
from that address for 1 s, then 2 s, 4 s … up to 15 minutes; the same user signing in from another address is
not affected, and a successful login ends the run.

The decision is atomic: each attempt claims its row with one INSERT … ON CONFLICT DO UPDATE … RETURNING that
counts the attempt *before* the password is checked and says in the same statement whether it may go on, so
thirty parallel guesses cannot all pass a check made before any of them was recorded. A success gives the
attempt back. The audit trail still records every failed login (auth.login_failed).
"""

from __future__ import annotations

import ipaddress
import math

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.auth import repository
from jifen.kit.errors import JifenError

FREE_FAILURES = 5  # per user name and address, before the first delay
FREE_FAILURES_PER_ADDRESS = 30  # per address, across names (an office behind one address has many users)
FIRST_DELAY_SECONDS = 1
MAX_DELAY_SECONDS = 15 * 60
FORGET_AFTER_SECONDS = 24 * 60 * 60  # a row quiet this long starts again from nothing

# kept for readers of the old names
MAX_FAILURES = FREE_FAILURES
MAX_FAILURES_PER_ADDRESS = FREE_FAILURES_PER_ADDRESS

_NAME = "n"
_ADDRESS = "a"


class TooManyAttempts(
    JifenError, code="too_many_attempts", status=429, detail="登录失败次数过多，请稍后再试"
): ...


def login_key(username: str) -> str:
    """How a login attempt's name is recorded: trimmed, lower case, printable, bounded."""
    return "".join(ch for ch in username.strip().lower() if ch.isprintable())[:64]


def address_key(client_addr: str | None) -> str:
    """An IPv4 address as is; an IPv6 address by its /64 (one subscriber holds a whole /64)."""
    if not client_addr:
        return ""
    try:
        address = ipaddress.ip_address(client_addr)
    except ValueError:
        return client_addr[:64]
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def too_many(retry_after: int) -> TooManyAttempts:
    wait = f"{retry_after} 秒" if retry_after < 120 else f"{math.ceil(retry_after / 60)} 分钟"
    return TooManyAttempts(f"登录失败次数过多，请 {wait}后再试", retry_after=retry_after)


async def _claim_row(session: AsyncSession, kind: str, name_key: str, address: str, free: int) -> int | None:
    """Count the attempt on one row; the seconds to wait when the row refuses it, else None."""
    verdict = await repository.claim_attempt(
        session,
        repository.ThrottleKey(kind, name_key, address),
        free=free,
        first_delay=FIRST_DELAY_SECONDS,
        max_delay=MAX_DELAY_SECONDS,
        forget_after=FORGET_AFTER_SECONDS,
    )
    return max(1, verdict.retry_after or 1) if verdict.refused else None


async def claim(
    sessionmaker: async_sessionmaker[AsyncSession], username: str, client_addr: str | None
) -> None:
    """Count this attempt against the name (from this address) and the address, or refuse it (429).

    Runs and commits in its own transaction, so the count survives the refused request's rollback and the
    rows are locked only for the moment of the decision. The name's row is claimed first and the address's
    last, the same order in every attempt, so two attempts never wait on each other in a circle."""
    # SQL twin: migrations/versions/0015_caller_idempotency.py login_throttle, one INSERT … ON CONFLICT
    # (auth/repository.py claim_attempt; docs/invariants.md, counted before the check)
    name, address = login_key(username), address_key(client_addr)
    async with sessionmaker() as session, session.begin():
        by_name = await _claim_row(session, _NAME, name, address, FREE_FAILURES)
        if by_name is None:
            by_address = await _claim_row(session, _ADDRESS, "", address, FREE_FAILURES_PER_ADDRESS)
            if by_address is not None:
                raise too_many(by_address)  # the rollback gives the name its attempt back: it was not checked
        await repository.forget_stale_attempts(session, FORGET_AFTER_SECONDS)
    if by_name is not None:
        raise too_many(by_name)


async def failed(
    sessionmaker: async_sessionmaker[AsyncSession], username: str, client_addr: str | None
) -> None:
    """The password was wrong: the delay (if the run has reached it) starts now."""
    name, address = login_key(username), address_key(client_addr)
    async with sessionmaker() as session, session.begin():
        for key, free in (
            (repository.ThrottleKey(_NAME, name, address), FREE_FAILURES),
            (repository.ThrottleKey(_ADDRESS, "", address), FREE_FAILURES_PER_ADDRESS),
        ):
            await repository.block_after_failure(
                session, key, free=free, first_delay=FIRST_DELAY_SECONDS, max_delay=MAX_DELAY_SECONDS
            )


async def succeeded(session: AsyncSession, username: str, client_addr: str | None) -> None:
    """A successful login ends the name's run from this address and gives the address its attempt back."""
    address = address_key(client_addr)
    await repository.forget_attempts(session, repository.ThrottleKey(_NAME, login_key(username), address))
    await repository.give_attempt_back(session, repository.ThrottleKey(_ADDRESS, "", address))
