"""Slows password guessing: after repeated failed logins a user name, or a client address, is refused for a
while (429). Failures are counted from the audit trail, so every server process sees the same count and
the record of the attempts is the record the village can read.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.kit.db import driver
from jifen.kit.errors import JifenError

MAX_FAILURES = 10  # per user name (known or not, so the answer leaks nothing)
MAX_FAILURES_PER_ADDRESS = 30  # per client address, across names
WINDOW_SECONDS = 15 * 60


class TooManyAttempts(JifenError):
    code = "too_many_attempts"
    status = 429
    default_detail = "登录失败次数过多，请 15 分钟后再试"


def login_key(username: str) -> str:
    """How a login attempt's name is recorded: trimmed, lower case, printable, bounded."""
    return "".join(ch for ch in username.strip().lower() if ch.isprintable())[:64]


_COUNT = """
SELECT count(*) FILTER (
           WHERE record_id = $1
             AND occurred_at > coalesce((SELECT max(occurred_at) FROM audit_events
                                          WHERE action = 'auth.login' AND record_id = $1), '-infinity')
       ) AS by_name,
       count(*) FILTER (WHERE client_addr = $2) AS by_address
  FROM audit_events
 WHERE action = 'auth.login_failed' AND occurred_at > now() - make_interval(secs => $3)
   AND (record_id = $1 OR client_addr = $2)
"""


async def check(session: AsyncSession, username: str, client_addr: str | None) -> None:
    """Refuse the attempt when this name (since its last successful login) or this address has failed too
    often lately."""
    row = await (await driver(session)).fetchrow(_COUNT, login_key(username), client_addr, WINDOW_SECONDS)
    if row["by_name"] >= MAX_FAILURES or row["by_address"] >= MAX_FAILURES_PER_ADDRESS:
        raise TooManyAttempts(retry_after=WINDOW_SECONDS)
