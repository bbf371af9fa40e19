from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.concurrency import run_in_threadpool

from jifen.auth import repository
from jifen.auth.passwords import burn_verification_time, verify_password
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
