from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import SessionTransaction

from jifen.auth.actor import Actor, Grant
from jifen.kit.sql import Sql
from jifen.models import HOUSEHOLD_ROW, HouseholdRow, Role, User

_ACTOR = """
SELECT u.username, u.display_name, u.must_change_password,
       r.role, r.village_id, r.store_id, r.household_id, r.grid
  FROM users u LEFT JOIN user_roles r ON r.user_id = u.id
 WHERE u.id = $1 AND u.is_active AND u.credential_version = $2
"""


@dataclass(frozen=True, slots=True)
class _ActorRow:
    """The user, once per grant (role None when the user has none)."""

    username: str
    display_name: str
    must_change_password: bool
    role: str | None
    village_id: uuid.UUID | None
    store_id: uuid.UUID | None
    household_id: uuid.UUID | None
    grid: str | None


async def load_actor(session: AsyncSession, user_id: uuid.UUID, credential_version: int) -> Actor | None:
    """The active user and all their grants, in one round trip (on every request, so through the driver).

    None when the user is disabled or the version is not the user's current one: the token or cookie was
    issued before a sign-out, a password change or a disabling, and must not open anything any more.
    """
    rows = await Sql(session).rows(_ActorRow, _ACTOR, user_id, credential_version)
    if not rows:
        return None
    grants = tuple(
        Grant(
            role=Role(row.role),
            village_id=row.village_id,
            store_id=row.store_id,
            household_id=row.household_id,
            grid=row.grid,
        )
        for row in rows
        if row.role is not None
    )
    return Actor(
        user_id=user_id,
        username=rows[0].username,
        display_name=rows[0].display_name,
        grants=grants,
        credential_version=credential_version,
        must_change_password=rows[0].must_change_password,
    )


async def get_user_by_username(session: AsyncSession, username: str) -> User | None:
    return (
        await session.execute(select(User).where(func.lower(User.username) == username.lower()))
    ).scalar_one_or_none()


async def lock_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    """The user, row-locked for this transaction (two admins acting at once take turns), with their roles."""
    query = select(User).where(User.id == user_id).with_for_update().execution_options(populate_existing=True)
    user = (await session.execute(query)).scalar_one_or_none()
    if user is not None:
        await session.refresh(user, ["roles"])
    return user


async def save_user(session: AsyncSession, user: User) -> None:
    """Write the user's changed columns (a new password, a new credential version) in this transaction."""
    await session.flush()


@dataclass(frozen=True, slots=True)
class VillageLine:
    """A village as an access check reads it, with its settings (the ORM's `Village` is for a change)."""

    id: uuid.UUID
    code: str
    name: str
    cancel_window_minutes: int
    notice_days: int
    reservation_days: int
    star_thresholds: list[int]
    grids: list[str]
    created_at: datetime


_VILLAGE = (
    "SELECT id, code, name, cancel_window_minutes, notice_days, reservation_days, star_thresholds, grids,"
    " created_at FROM villages WHERE id = $1"
)


_READ = "village_lines"  # session.info: the villages this transaction has read, by id


async def village(session: AsyncSession, village_id: uuid.UUID) -> VillageLine | None:
    """The village, read once per transaction however many access checks ask (a page may run three)."""
    read: dict[uuid.UUID, VillageLine] = session.info.setdefault(_READ, {})
    if village_id not in read:
        found = await Sql(session).row(VillageLine, _VILLAGE, village_id)
        if found is None:
            return None
        read[village_id] = found
    return read[village_id]


def village_changed(session: AsyncSession, village_id: uuid.UUID) -> None:
    """The village was changed in this transaction: the next access check reads it again."""
    session.info.get(_READ, {}).pop(village_id, None)


@event.listens_for(OrmSession, "after_transaction_end")
def _forget_villages(session: OrmSession, transaction: SessionTransaction) -> None:
    """A session that goes on to another transaction (a job's) reads its villages afresh there."""
    if transaction.parent is None:
        session.info.pop(_READ, None)


_HOUSEHOLD = f"SELECT {HOUSEHOLD_ROW} FROM households WHERE id = $1"


async def household(session: AsyncSession, household_id: uuid.UUID) -> HouseholdRow | None:
    """The household an access check is about (its key is (village, id): looked up by id alone)."""
    return await Sql(session).row(HouseholdRow, _HOUSEHOLD, household_id)


# ------------------------------------------------------------------------------------------ login throttle
# (the policy and its numbers: auth/throttle.py)


@dataclass(frozen=True, slots=True)
class ThrottleKey:
    """One row of `login_throttle`: a name from an address, or an address across names (name_key "")."""

    kind: str
    name_key: str
    client_addr: str


@dataclass(frozen=True, slots=True)
class ThrottleVerdict:
    refused: bool
    retry_after: int | None


# One statement claims the attempt and decides, under the row's lock. While the row is blocked the attempt is
# refused and not counted; otherwise it is counted (a failure until it proves otherwise) and, from the free
# allowance on, the row is blocked for a delay that doubles with every further failure. A row whose last
# attempt is older than the forget window starts again.
_CLAIM = """
INSERT INTO login_throttle AS t (kind, name_key, client_addr, failures, blocked_until, refused, updated_at)
VALUES ($1, $2, $3, 1,
        CASE WHEN $4::int <= 1 THEN now() + make_interval(secs => $5::int) END, false, now())
ON CONFLICT (kind, name_key, client_addr) DO UPDATE
   SET failures = CASE WHEN t.updated_at < now() - make_interval(secs => $7::int) THEN 1
                       WHEN t.blocked_until > now() THEN t.failures
                       ELSE t.failures + 1 END,
       blocked_until = CASE
           WHEN t.updated_at < now() - make_interval(secs => $7::int) THEN NULL
           WHEN t.blocked_until > now() THEN t.blocked_until
           WHEN t.failures + 1 >= $4::int THEN now() + make_interval(
               secs => least($6::int, $5::int * power(2, least(t.failures + 1 - $4::int, 20)))::int)
           ELSE NULL END,
       -- SET sees the row as it was: the decision is made on the count before this attempt
       refused = coalesce(t.updated_at >= now() - make_interval(secs => $7::int)
                          AND t.blocked_until > now(), false),
       updated_at = now()
RETURNING refused, ceil(extract(epoch FROM blocked_until - now()))::int AS retry_after
"""

# A failure is known only after the password check; the delay runs from then, not from the claim.
_FAILED = """
UPDATE login_throttle
   SET blocked_until = now() + make_interval(
           secs => least($4::int, $5::int * power(2, least(failures - $6::int, 20)))::int)
 WHERE kind = $1 AND name_key = $2 AND client_addr = $3 AND failures >= $6::int
"""

_FORGET_STALE = """
DELETE FROM login_throttle
 WHERE (kind, name_key, client_addr) IN (
       SELECT kind, name_key, client_addr FROM login_throttle
        WHERE updated_at < now() - make_interval(secs => $1::int)
        LIMIT 100 FOR UPDATE SKIP LOCKED)
"""


async def claim_attempt(
    session: AsyncSession, key: ThrottleKey, *, free: int, first_delay: int, max_delay: int, forget_after: int
) -> ThrottleVerdict:
    """Count an attempt on the key's row and say, in the same statement, whether it is refused."""
    verdict = await Sql(session).row(
        ThrottleVerdict,
        _CLAIM,
        key.kind,
        key.name_key,
        key.client_addr,
        free,
        first_delay,
        max_delay,
        forget_after,
    )
    assert verdict is not None  # INSERT … ON CONFLICT DO UPDATE … RETURNING always returns the row
    return verdict


async def forget_stale_attempts(session: AsyncSession, forget_after: int) -> None:
    await Sql(session).execute(_FORGET_STALE, forget_after)


async def block_after_failure(
    session: AsyncSession, key: ThrottleKey, *, free: int, first_delay: int, max_delay: int
) -> None:
    """A failed password: block the key's row for its delay, once its run has used the free attempts."""
    await Sql(session).execute(_FAILED, key.kind, key.name_key, key.client_addr, max_delay, first_delay, free)


async def forget_attempts(session: AsyncSession, key: ThrottleKey) -> None:
    await Sql(session).execute(
        "DELETE FROM login_throttle WHERE kind = $1 AND name_key = $2 AND client_addr = $3",
        key.kind,
        key.name_key,
        key.client_addr,
    )


async def give_attempt_back(session: AsyncSession, key: ThrottleKey) -> None:
    await Sql(session).execute(
        "UPDATE login_throttle SET failures = greatest(failures - 1, 0)"
        " WHERE kind = $1 AND name_key = $2 AND client_addr = $3",
        key.kind,
        key.name_key,
        key.client_addr,
    )
