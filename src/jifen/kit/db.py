"""Engine, sessions and the rule that a request's transaction commits before its answer is sent."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry, PoolProxiedConnection

from jifen.kit.faults import is_database_fault
from jifen.kit.metrics import MeteredPool


def normalise_url(url: str) -> str:
    """Accept plain postgresql:// URLs and use the asyncpg driver for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    connect_timeout: float = 5.0,
    pool_timeout: float = 10.0,
    statement_timeout_ms: int | None = None,
    lock_timeout_ms: int | None = None,
    pool_pre_ping: bool = False,
    metered: bool = True,
) -> AsyncEngine:
    """The engine, with every wait bounded: connecting, waiting for a pooled connection, and (when given) a
    statement's run time and its wait for a lock, so a request never hangs on the database."""
    # JIT compilation costs more than it saves on jifen's short statements (measured: a 10,000-award
    # batch posts faster without it)
    server_settings = {"application_name": "jifen", "timezone": "UTC", "jit": "off"}
    connect_args: dict[str, Any] = {"server_settings": server_settings, "timeout": connect_timeout}
    if statement_timeout_ms is not None:
        server_settings["statement_timeout"] = str(statement_timeout_ms)
        # a server that stops answering without closing the socket (frozen, cut off) cannot enforce its own
        # statement_timeout: the client gives up a little after it
        connect_args["command_timeout"] = statement_timeout_ms / 1000 + 5
    if lock_timeout_ms is not None:
        server_settings["lock_timeout"] = str(lock_timeout_ms)
    engine = create_async_engine(
        normalise_url(url),
        # metered: its connections in use and its waiters are published on /metrics
        poolclass=MeteredPool if metered else AsyncAdaptedQueuePool,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        # a real pre-ping costs three round trips per request (BEGIN, ping, ROLLBACK); the checkout check
        # below catches connections the server closed at no cost (the metrics scrape pings: it is rare)
        pool_pre_ping=pool_pre_ping,
        connect_args=connect_args,
    )
    event.listen(engine.sync_engine.pool, "checkout", _refuse_closed_connection)
    return engine


def _refuse_closed_connection(
    dbapi_connection: Any, record: ConnectionPoolEntry, proxy: PoolProxiedConnection
) -> None:
    """A pooled connection whose socket the server closed (a restart, a crash, an admin's terminate) is
    replaced by a fresh one before a request gets it: asyncpg notices the closed socket without a round
    trip. After PostgreSQL restarts, the first requests therefore reconnect instead of failing."""
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the server closed this connection")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session (and one database transaction) per request; AutoCommitRoute commits it."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        request.state.session = session
        try:
            yield session
        finally:
            request.state.session = None
            if session.in_transaction():
                try:
                    await session.rollback()
                except Exception as exc:
                    if not is_database_fault(exc):
                        raise
                    # the connection is gone, and the server rolled its transaction back with it
                    with contextlib.suppress(Exception):
                        await session.invalidate()


Session = Annotated[AsyncSession, Depends(get_session)]


class AutoCommitRoute(APIRoute):
    """Commits the request's session after the endpoint returned and before the response is sent.

    A 2xx therefore always means the change is committed; a failing commit becomes an error answer.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def commit_then_respond(request: Request) -> Response:
            response = await handler(request)
            session: AsyncSession | None = getattr(request.state, "session", None)
            if session is not None and session.in_transaction():
                if response.status_code < 400:
                    await session.commit()
                else:
                    await session.rollback()
            return response

        return commit_then_respond


class PageRoute(AutoCommitRoute):
    """A page (HTML, signed in by the session cookie) rather than the JSON API (bearer token only): the same
    commit before the answer; refusals render as pages."""


def _wrapped(exc: BaseException, name: str, found: Callable[[Any], bool] = bool) -> Any:
    """The first `name` that is `found` on the error or what it wraps (SQLAlchemy's `orig`, then the cause:
    asyncpg's error carries PostgreSQL's fields)."""
    seen: BaseException | None = exc
    while seen is not None:
        value = getattr(seen, name, None)
        if found(value):
            return value
        seen = getattr(seen, "orig", None) or seen.__cause__
    return None


def violated_constraint(exc: BaseException) -> str | None:
    """The name of the constraint a database error broke, if any (asyncpg exposes it on the cause)."""
    name = _wrapped(exc, "constraint_name")
    return None if name is None else str(name)


def error_detail(exc: BaseException) -> str | None:
    """The DETAIL of a PostgreSQL error, through SQLAlchemy's wrapping if any."""
    detail: str | None = _wrapped(exc, "detail", lambda value: isinstance(value, str))
    return detail


@contextlib.contextmanager
def unique_or(refusal: Exception, *constraints: str) -> Iterator[None]:
    """Writes that may lose a race for a unique value (or break a constraint the caller's locks guard):
    breaking one of `constraints` raises `refusal` (what the caller's check before the write would have
    said); any other error stays as it is. Both ways a statement fails are caught: SQLAlchemy's wrapped
    error and asyncpg's own (`Sql` raises either, by where the transaction is)."""
    try:
        yield
    except (DBAPIError, asyncpg.PostgresError) as exc:
        if violated_constraint(exc) in constraints:
            raise refusal from exc
        raise


def sqlstate(exc: BaseException) -> str | None:
    state = _wrapped(exc, "sqlstate")
    return None if state is None else str(state)


@asynccontextmanager
async def raw_connection(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """A pooled asyncpg connection outside any request transaction, for work that runs its own
    transactions (linking the chain, verifying it, a one-call lane). A connection an error left closed or
    inside a transaction (lost, timed out, cancelled mid-call) is not handed out by the pool again."""
    async with engine.connect() as connection:
        raw: asyncpg.Connection = (await connection.get_raw_connection()).driver_connection
        try:
            yield raw
        except BaseException:
            if raw.is_closed() or raw.is_in_transaction():
                await connection.invalidate()
            raise
