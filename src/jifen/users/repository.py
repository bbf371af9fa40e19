from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.kit.sql import Sql
from jifen.models import Household, Role, Store, User, UserRole, Village


async def village_exists(session: AsyncSession, village_id: uuid.UUID) -> bool:
    return (await session.execute(select(Village.id).where(Village.id == village_id))).first() is not None


async def store_in_village(session: AsyncSession, village_id: uuid.UUID, store_id: uuid.UUID) -> bool:
    query = select(Store.id).where(Store.village_id == village_id, Store.id == store_id)
    return (await session.execute(query)).first() is not None


async def household_in_village(session: AsyncSession, village_id: uuid.UUID, household_id: uuid.UUID) -> bool:
    query = select(Household.id).where(Household.village_id == village_id, Household.id == household_id)
    return (await session.execute(query)).first() is not None


@dataclass(frozen=True, slots=True)
class VillageUser:
    """A user as the village's list shows them, with the grants they hold in this village (as JSON)."""

    id: uuid.UUID
    username: str
    display_name: str
    is_active: bool
    created_at: datetime
    must_change_password: bool
    disabled_at: datetime | None
    disabled_reason: str | None
    roles_json: str


async def village_users(
    session: AsyncSession, village_id: uuid.UUID, *, role: Role | None, after_username: str | None, limit: int
) -> list[VillageUser]:
    """Users holding a role in the village (the given role only, when named), by username, each with every
    grant they hold in the village in the order given (another village's stay out)."""
    args: list[object] = [village_id, limit]
    where = ""
    if role is not None:
        args.append(role.value)
        where += f" AND r.role::text = ${len(args)}"
    page = ""
    if after_username is not None:
        args.append(after_username)
        page = f" AND u.username > ${len(args)}"
    query = f"""
        SELECT u.id, u.username, u.display_name, u.is_active, u.created_at, u.must_change_password,
               u.disabled_at, u.disabled_reason, g.roles::text AS roles_json
          FROM users u
         CROSS JOIN LATERAL (
               SELECT json_agg(json_build_object('role', r.role, 'village_id', r.village_id,
                                                 'store_id', r.store_id, 'household_id', r.household_id,
                                                 'grid', r.grid) ORDER BY r.created_at) AS roles
                 FROM user_roles r WHERE r.user_id = u.id AND r.village_id = $1) g
         WHERE EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = u.id AND r.village_id = $1{where}){page}
         ORDER BY u.username
         LIMIT $2
    """
    return await Sql(session).rows(VillageUser, query, *args)


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
