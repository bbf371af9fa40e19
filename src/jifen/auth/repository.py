from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.auth.actor import Actor, Grant
from jifen.kit.db import driver
from jifen.models import Role, User

_ACTOR = """
SELECT u.username, u.display_name, u.must_change_password,
       r.role, r.village_id, r.store_id, r.household_id, r.grid
  FROM users u LEFT JOIN user_roles r ON r.user_id = u.id
 WHERE u.id = $1 AND u.is_active AND u.credential_version = $2
"""


async def load_actor(session: AsyncSession, user_id: uuid.UUID, credential_version: int) -> Actor | None:
    """The active user and all their grants, in one round trip (on every request, so through the driver).

    None when the user is disabled or the version is not the user's current one: the token or cookie was
    issued before a sign-out, a password change or a disabling, and must not open anything any more.
    """
    rows = await (await driver(session)).fetch(_ACTOR, user_id, credential_version)
    if not rows:
        return None
    grants = tuple(
        Grant(
            role=Role(row["role"]),
            village_id=row["village_id"],
            store_id=row["store_id"],
            household_id=row["household_id"],
            grid=row["grid"],
        )
        for row in rows
        if row["role"] is not None
    )
    return Actor(
        user_id=user_id,
        username=rows[0]["username"],
        display_name=rows[0]["display_name"],
        grants=grants,
        credential_version=credential_version,
        must_change_password=rows[0]["must_change_password"],
    )


async def get_user_by_username(session: AsyncSession, username: str) -> User | None:
    return (
        await session.execute(select(User).where(func.lower(User.username) == username.lower()))
    ).scalar_one_or_none()
