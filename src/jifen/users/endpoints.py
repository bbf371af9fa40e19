from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.error_sets import READ_ERRORS
from jifen.kit.errors import Forbidden, NotAuthenticated, create_route, error_responses
from jifen.kit.pagination import Cursor, Limit, Page, list_route
from jifen.models import Role
from jifen.users import service
from jifen.users.auth import UserAdmin, UserManager, VillageUserAdmin
from jifen.users.schemas import PasswordReset, RoleRemoval, UserCreate, UserDisable, UserOut, UserReason

router = APIRouter(prefix="/users", tags=["users"], route_class=AutoCommitRoute)
village_router = APIRouter(tags=["users"], route_class=AutoCommitRoute)


@create_route(router, "", UserOut, *READ_ERRORS, service.DuplicateUsername, service.InvalidRole)
async def create_user(body: UserCreate, actor: UserAdmin, session: Session) -> UserOut:
    """Create a user with scoped roles: a town admin anywhere, a village admin within their village."""
    user = await service.add_user(session, actor, body)
    return service.user_out(user)


@list_route(village_router, "/villages/{village_id}/users", Page[UserOut])
async def list_village_users(
    access: VillageUserAdmin,
    session: Session,
    role: Annotated[Role | None, Query(description="only users holding this role in the village")] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[UserOut]:
    """The village's users by username, with the roles they hold in this village (never a password)."""
    return await service.village_users_page(session, access.village.id, role=role, cursor=cursor, limit=limit)


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
    return service.user_out(user, service.visible_villages(actor))


@router.post("/{user_id}/enable", response_model=UserOut, responses=error_responses(*MANAGE_ERRORS))
async def enable_user(
    user_id: uuid.UUID, actor: UserManager, session: Session, body: UserReason | None = None
) -> UserOut:
    """Let a disabled user sign in again (with new sign-ins; the old sessions stay ended)."""
    user = await service.enable_user(session, actor, user_id, reason=body.reason if body else None)
    return service.user_out(user, service.visible_villages(actor))


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
    return PasswordReset(
        user=service.user_out(user, service.visible_villages(actor)), one_time_password=password
    )


@router.post(
    "/{user_id}/roles/remove",
    response_model=UserOut,
    responses=error_responses(*MANAGE_ERRORS, service.RoleNotFound),
)
async def remove_role(user_id: uuid.UUID, body: RoleRemoval, actor: UserManager, session: Session) -> UserOut:
    """Take one role grant away from the user (given exactly as they hold it), with a reason."""
    user = await service.remove_role(session, actor, user_id, body)
    return service.user_out(user, service.visible_villages(actor))
