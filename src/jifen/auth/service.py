from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.concurrency import run_in_threadpool

from jifen.audit import service as audit
from jifen.auth import repository
from jifen.auth.actor import Actor
from jifen.auth.passwords import burn_verification_time, verify_password
from jifen.auth.throttle import login_key
from jifen.kit.errors import JifenError
from jifen.models import User


class InvalidCredentials(JifenError):
    code = "invalid_credentials"
    status = 401
    default_detail = "用户名或密码不正确"


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
