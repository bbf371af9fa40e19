from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from jifen.auth.schemas import RoleGrant
from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.errors import Forbidden, NotAuthenticated, NotFound, error_responses
from jifen.kit.pagination import Cursor, InvalidCursor, Limit, Page, decode_cursor, encode_cursor
from jifen.models import Role, User
from jifen.users import repository, service
from jifen.users.auth import UserAdmin, VillageUserAdmin
from jifen.users.schemas import UserCreate, UserOut

router = APIRouter(prefix="/users", tags=["users"], route_class=AutoCommitRoute)
village_router = APIRouter(tags=["users"], route_class=AutoCommitRoute)


def user_out(user: User, village_id: uuid.UUID | None = None) -> UserOut:
    """The user with their grants (only those in `village_id` when given: another village's stay hidden)."""
    return UserOut(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        is_active=user.is_active,
        created_at=user.created_at,
        roles=[
            RoleGrant(
                role=r.role,
                village_id=r.village_id,
                store_id=r.store_id,
                household_id=r.household_id,
                grid=r.grid,
            )
            for r in user.roles
            if village_id is None or r.village_id == village_id
        ],
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses=error_responses(
        NotAuthenticated, Forbidden, NotFound, service.DuplicateUsername, service.InvalidRole
    ),
)
async def create_user(body: UserCreate, actor: UserAdmin, session: Session) -> UserOut:
    """Create a user with scoped roles: a town admin anywhere, a village admin within their village."""
    user = await service.create_user(
        session,
        actor,
        username=body.username,
        password=body.password,
        display_name=body.display_name,
        roles=body.roles,
    )
    return user_out(user)


@village_router.get(
    "/villages/{village_id}/users",
    response_model=Page[UserOut],
    responses=error_responses(NotAuthenticated, Forbidden, NotFound, InvalidCursor),
)
async def list_village_users(
    access: VillageUserAdmin,
    session: Session,
    role: Annotated[Role | None, Query(description="only users holding this role in the village")] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[UserOut]:
    """The village's users by username, with the roles they hold in this village (never a password)."""
    after = decode_cursor(cursor, 1)
    users = await repository.village_users(
        session, access.village.id, role=role, after_username=after[0] if after else None, limit=limit + 1
    )
    items = [user_out(u, access.village.id) for u in users[:limit]]
    return Page(items=items, next_cursor=encode_cursor(items[-1].username) if len(users) > limit else None)
