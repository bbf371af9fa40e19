from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from jifen.auth import service, throttle
from jifen.auth.dependencies import CurrentActor
from jifen.auth.schemas import Me, RoleGrant, Token
from jifen.auth.throttle import TooManyAttempts
from jifen.auth.tokens import issue_token
from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.errors import InvalidToken, NotAuthenticated, error_responses
from jifen.kit.logging import REQUEST

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
    client_addr = REQUEST.get().client_addr
    await throttle.claim(request.app.state.sessionmaker, form.username, client_addr)
    try:
        user = await service.authenticate(session, form.username, form.password)
    except service.InvalidCredentials:
        # the request's transaction rolls back with the refusal; the failure is kept in its own
        await throttle.failed(request.app.state.sessionmaker, form.username, client_addr)
        await service.record_failed_login(request.app.state.sessionmaker, form.username)
        raise
    await throttle.succeeded(session, form.username, client_addr)
    await service.record_login(session, user, form.username)
    token, ttl = issue_token(request.app.state.settings, user.id)
    return Token(access_token=token, expires_in=ttl)


@router.get("/me", response_model=Me, responses=error_responses(NotAuthenticated, InvalidToken))
async def me(actor: CurrentActor) -> Me:
    """The signed-in user and the roles they hold."""
    return Me(
        id=actor.user_id,
        username=actor.username,
        display_name=actor.display_name,
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
