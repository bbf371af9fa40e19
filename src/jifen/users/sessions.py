"""Signing in and out, and changing one's own password: the sessions of a user account (the identity they
prove lives in `auth`)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.concurrency import run_in_threadpool

from jifen.audit import service as audit
from jifen.auth import repository, throttle
from jifen.auth.actor import Actor
from jifen.auth.passwords import burn_verification_time, hash_password, verify_password
from jifen.auth.throttle import login_key
from jifen.kit.errors import BadRequest, InvalidToken, JifenError
from jifen.models import User


class InvalidCredentials(JifenError, code="invalid_credentials", status=401, detail="用户名或密码不正确"): ...


async def authenticate(session: AsyncSession, username: str, password: str) -> User:
    """The user these credentials name; an unknown user and a wrong password answer the same."""
    # PostgreSQL text cannot hold NUL; such a name can match no user, so it must not reach the query
    user = None if "\x00" in username else await repository.get_user_by_username(session, username.strip())
    if user is None or not user.is_active:
        await run_in_threadpool(burn_verification_time, password)
        raise InvalidCredentials()
    # argon2 is deliberately slow; keep it off the event loop
    if not await run_in_threadpool(verify_password, user.password_hash, password):
        raise InvalidCredentials()
    return user


async def record_login(session: AsyncSession, user: User, username: str) -> None:
    """A successful login, on the town's record (it also ends the name's run of failures)."""
    actor = Actor(user_id=user.id, username=user.username, display_name=user.display_name)
    await audit.record(
        session,
        actor,
        village_id=None,
        action="auth.login",
        record_type="login",
        record_id=login_key(username),
        after={"user_id": user.id},
    )


async def record_failed_login(sessionmaker: async_sessionmaker[AsyncSession], username: str) -> None:
    """A failed login, committed on its own: the refused request's transaction rolls back."""
    key = login_key(username)
    stranger = Actor(user_id=uuid.UUID(int=0), username=key or "?", display_name=key or "?")
    async with sessionmaker() as session, session.begin():
        await audit.record(
            session, stranger, village_id=None, action="auth.login_failed", record_type="login", record_id=key
        )


class WrongPassword(JifenError, code="wrong_password", status=403, detail="原密码不正确"): ...


class PasswordUnchanged(BadRequest, code="password_unchanged", detail="新密码不能和原密码相同"): ...


async def _current_user(session: AsyncSession, actor: Actor) -> User:
    """The actor's user row, locked; refused when another request ended this session meanwhile."""
    user = await repository.lock_user(session, actor.user_id)
    if user is None or not user.is_active or user.credential_version != actor.credential_version:
        raise InvalidToken()
    return user


async def change_password(
    session: AsyncSession, actor: Actor, *, old_password: str, new_password: str
) -> User:
    """The user's own new password: every other session ends (the version goes up) and a reset's
    must-change flag clears. The caller issues the new token."""
    user = await _current_user(session, actor)
    if not await run_in_threadpool(verify_password, user.password_hash, old_password):
        raise WrongPassword()
    if old_password == new_password:
        raise PasswordUnchanged()
    user.password_hash = await run_in_threadpool(hash_password, new_password)
    was_forced = user.must_change_password
    user.must_change_password = False
    user.credential_version += 1
    await repository.save_user(session, user)
    await audit.record(
        session,
        actor,
        village_id=None,
        action="user.change_password",
        record_type="user",
        record_id=user.id,
        after={"after_reset": was_forced},
    )
    return user


async def sign_out(session: AsyncSession, actor: Actor) -> None:
    """End every session of the user: each token and cookie carries the old version and stops working."""
    user = await _current_user(session, actor)
    user.credential_version += 1
    await repository.save_user(session, user)
    await audit.record(
        session, actor, village_id=None, action="auth.logout", record_type="user", record_id=user.id
    )


async def sign_in(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    username: str,
    password: str,
    client_addr: str | None,
) -> User:
    """A user name and password checked against the throttle (the API's token and the login page alike). A
    failure is kept in its own transaction, since the request's rolls back with the refusal."""
    await throttle.claim(sessionmaker, username, client_addr)
    try:
        user = await authenticate(session, username, password)
    except InvalidCredentials:
        await throttle.failed(sessionmaker, username, client_addr)
        await record_failed_login(sessionmaker, username)
        raise
    await throttle.succeeded(session, username, client_addr)
    await record_login(session, user, username)
    return user
