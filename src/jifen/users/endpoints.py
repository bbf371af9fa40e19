from __future__ import annotations

from fastapi import APIRouter, status

from jifen.auth.schemas import RoleGrant
from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.errors import Forbidden, NotAuthenticated, NotFound, error_responses
from jifen.models import User
from jifen.users import service
from jifen.users.auth import UserAdmin
from jifen.users.schemas import UserCreate, UserOut

router = APIRouter(prefix="/users", tags=["users"], route_class=AutoCommitRoute)


def user_out(user: User) -> UserOut:
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
