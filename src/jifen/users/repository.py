from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.models import Household, Role, Store, User, UserRole, Village


async def village_exists(session: AsyncSession, village_id: uuid.UUID) -> bool:
    return (await session.execute(select(Village.id).where(Village.id == village_id))).first() is not None


async def store_in_village(session: AsyncSession, village_id: uuid.UUID, store_id: uuid.UUID) -> bool:
    query = select(Store.id).where(Store.village_id == village_id, Store.id == store_id)
    return (await session.execute(query)).first() is not None


async def household_in_village(session: AsyncSession, village_id: uuid.UUID, household_id: uuid.UUID) -> bool:
    query = select(Household.id).where(Household.village_id == village_id, Household.id == household_id)
    return (await session.execute(query)).first() is not None


async def village_users(
    session: AsyncSession, village_id: uuid.UUID, *, role: Role | None, after_username: str | None, limit: int
) -> Sequence[User]:
    """Users holding a role in the village (the given role only, when named), by username."""
    grant = select(UserRole.id).where(UserRole.user_id == User.id, UserRole.village_id == village_id)
    if role is not None:
        grant = grant.where(UserRole.role == role)
    query = select(User).where(grant.exists()).order_by(User.username).limit(limit)
    if after_username is not None:
        query = query.where(User.username > after_username)
    return (await session.execute(query)).scalars().all()


async def add_user(session: AsyncSession, user: User, grants: Sequence[UserRole]) -> None:
    """Insert the user and their grants (IntegrityError on a taken name); `user.roles` is loaded after."""
    session.add(user)
    await session.flush()
    for grant in grants:
        grant.user_id = user.id
    session.add_all(grants)
    await session.flush()
    await session.refresh(user, ["roles"])


async def remove_grant(session: AsyncSession, user: User, grant: UserRole) -> None:
    await session.delete(grant)
    await session.flush()
    await session.refresh(user, ["roles"])
