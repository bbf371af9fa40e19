from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from jifen.auth.dependencies import SignedInActor
from jifen.auth.schemas import Me, PasswordChange, RoleGrant, Token
from jifen.auth.throttle import TooManyAttempts
from jifen.auth.tokens import issue_token
from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.errors import InvalidToken, NotAuthenticated, error_responses
from jifen.kit.logging import REQUEST
from jifen.users import sessions as service

router = APIRouter(prefix="/auth", tags=["auth"], route_class=AutoCommitRoute)


@router.post(
    "/token",
    response_model=Token,
    responses=error_responses(service.InvalidCredentials, TooManyAttempts),
)
async def login(
    request: Request, session: Session, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> Token:
    """Exchange a user name and password for a short-lived bearer token."""
    user = await service.sign_in(
        request.app.state.sessionmaker, session, form.username, form.password, REQUEST.get().client_addr
    )
    token, ttl = issue_token(request.app.state.settings, user.id, user.credential_version)
    return Token(access_token=token, expires_in=ttl, must_change_password=user.must_change_password)


@router.get("/me", response_model=Me, responses=error_responses(NotAuthenticated, InvalidToken))
async def me(actor: SignedInActor) -> Me:
    """The signed-in user and the roles they hold (also while they must change a reset password)."""
    return Me(
        id=actor.user_id,
        username=actor.username,
        display_name=actor.display_name,
        must_change_password=actor.must_change_password,
        roles=[
            RoleGrant(
                role=g.role,
                village_id=g.village_id,
                store_id=g.store_id,
                household_id=g.household_id,
                grid=g.grid,
            )
            for g in actor.grants
        ],
    )


@router.post(
    "/password",
    response_model=Token,
    responses=error_responses(
        NotAuthenticated, InvalidToken, service.WrongPassword, service.PasswordUnchanged
    ),
)
async def change_password(
    request: Request, body: PasswordChange, actor: SignedInActor, session: Session
) -> Token:
    """Change one's own password (the old one, then the new one). Every other session of the user ends; the
    answer is a fresh token for this one."""
    user = await service.change_password(
        session, actor, old_password=body.old_password, new_password=body.new_password
    )
    token, ttl = issue_token(request.app.state.settings, user.id, user.credential_version)
    return Token(access_token=token, expires_in=ttl)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(NotAuthenticated, InvalidToken),
)
async def logout(actor: SignedInActor, session: Session) -> Response:
    """Sign out everywhere: every token and session cookie of the user stops working."""
    await service.sign_out(session, actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
