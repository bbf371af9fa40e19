from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.auth.actor import Actor, Grant
from jifen.models import Role, User, UserRole


async def load_actor(session: AsyncSession, user_id: uuid.UUID) -> Actor | None:
    """The active user and all their grants, in one round trip."""
    rows = (
        await session.execute(
            select(
                User.username,
                User.display_name,
                UserRole.role,
                UserRole.village_id,
                UserRole.store_id,
                UserRole.household_id,
                UserRole.grid,
            )
            .outerjoin(UserRole, UserRole.user_id == User.id)
            .where(User.id == user_id, User.is_active.is_(True))
        )
    ).all()
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
    return Actor(user_id=user_id, username=rows[0].username, display_name=rows[0].display_name, grants=grants)


async def get_user_by_username(session: AsyncSession, username: str) -> User | None:
    return (
        await session.execute(select(User).where(func.lower(User.username) == username.lower()))
    ).scalar_one_or_none()
