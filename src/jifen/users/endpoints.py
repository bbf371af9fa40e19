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
from jifen.users.auth import UserAdmin, UserManager, VillageUserAdmin
from jifen.users.schemas import PasswordReset, RoleRemoval, UserCreate, UserDisable, UserOut, UserReason

router = APIRouter(prefix="/users", tags=["users"], route_class=AutoCommitRoute)
village_router = APIRouter(tags=["users"], route_class=AutoCommitRoute)


def user_out(user: User, villages: set[uuid.UUID] | None = None) -> UserOut:
    """The user with their grants (only those in `villages` when given: another village's stay hidden)."""
    return UserOut(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        is_active=user.is_active,
        created_at=user.created_at,
        must_change_password=user.must_change_password,
        disabled_at=user.disabled_at,
        disabled_reason=user.disabled_reason,
        roles=[
            RoleGrant(
                role=r.role,
                village_id=r.village_id,
                store_id=r.store_id,
                household_id=r.household_id,
                grid=r.grid,
            )
            for r in user.roles
            if villages is None or r.village_id in villages
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
    items = [user_out(u, {access.village.id}) for u in users[:limit]]
    return Page(items=items, next_cursor=encode_cursor(items[-1].username) if len(users) > limit else None)


MANAGE_ERRORS = (
    NotAuthenticated,
    Forbidden,
    service.UserNotFound,
    service.CannotManageSelf,
    service.CannotManageTownAdmin,
    service.UserInOtherVillage,
)


@router.post("/{user_id}/disable", response_model=UserOut, responses=error_responses(*MANAGE_ERRORS))
async def disable_user(
    user_id: uuid.UUID, body: UserDisable, actor: UserManager, session: Session
) -> UserOut:
    """Disable the user: they cannot sign in, and every token and session cookie they hold stops working."""
    user = await service.disable_user(session, actor, user_id, reason=body.reason)
    return user_out(user, service.visible_villages(actor))


@router.post("/{user_id}/enable", response_model=UserOut, responses=error_responses(*MANAGE_ERRORS))
async def enable_user(
    user_id: uuid.UUID, actor: UserManager, session: Session, body: UserReason | None = None
) -> UserOut:
    """Let a disabled user sign in again (with new sign-ins; the old sessions stay ended)."""
    user = await service.enable_user(session, actor, user_id, reason=body.reason if body else None)
    return user_out(user, service.visible_villages(actor))


@router.post(
    "/{user_id}/reset-password", response_model=PasswordReset, responses=error_responses(*MANAGE_ERRORS)
)
async def reset_password(
    user_id: uuid.UUID, actor: UserManager, session: Session, body: UserReason | None = None
) -> PasswordReset:
    """Give the user a one-time password (in this answer only); their sessions end, and at the next sign-in
    they must choose their own before anything else."""
    user, password = await service.reset_password(
        session, actor, user_id, reason=body.reason if body else None
    )
    return PasswordReset(user=user_out(user, service.visible_villages(actor)), one_time_password=password)


@router.post(
    "/{user_id}/roles/remove",
    response_model=UserOut,
    responses=error_responses(*MANAGE_ERRORS, service.RoleNotFound),
)
async def remove_role(user_id: uuid.UUID, body: RoleRemoval, actor: UserManager, session: Session) -> UserOut:
    """Take one role grant away from the user (given exactly as they hold it), with a reason."""
    user = await service.remove_role(session, actor, user_id, body)
    return user_out(user, service.visible_villages(actor))
