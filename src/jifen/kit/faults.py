"""What jifen answers when PostgreSQL cannot do the work: down, full, read-only or stuck behind a lock.

Every such failure becomes a 503 with its own code and nothing written (the request's transaction rolls
back with the connection or the error), never a 500 and never a hang. Both driver paths are covered:
SQLAlchemy's DBAPIError wrapping asyncpg, and asyncpg's own exceptions from the statements `kit.sql.Sql` sends
straight to the driver.
"""

from __future__ import annotations

import errno
from typing import ClassVar

from sqlalchemy import exc as sa_exc

from jifen.kit.errors import JifenError

# how long a client should wait before trying again, in seconds (the Retry-After header)
RETRY_AFTER_SECONDS = 5


class ServiceUnavailable(JifenError, status=503):
    """The database cannot do the work right now; nothing was written."""

    retry_after: ClassVar[int] = RETRY_AFTER_SECONDS


class DatabaseUnavailable(
    ServiceUnavailable,
    code="database_unavailable",
    detail="数据库暂时连不上，这次操作没有生效。请稍等片刻再试一次；一直不行请联系管理员",
): ...


class Busy(
    ServiceUnavailable, code="busy", detail="系统正忙，这次操作等待太久没有生效。请稍等片刻再试一次"
): ...


class DatabaseReadOnly(
    ServiceUnavailable,
    code="database_read_only",
    detail="数据库目前只能查看、不能保存（可能正在维护），这次操作没有生效。请稍后再试或联系管理员",
): ...


class StorageFull(
    ServiceUnavailable,
    code="storage_full",
    detail="服务器磁盘已满，这次操作没有生效。请联系管理员清理磁盘空间后再试",
): ...


# the 503s by their code, for the pages that meet them in an answer of the API
BY_CODE: dict[str, type[ServiceUnavailable]] = {
    fault.code: fault for fault in (DatabaseUnavailable, Busy, DatabaseReadOnly, StorageFull)
}

# SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html) and what they mean to a user
_UNAVAILABLE_STATES = frozenset(
    {
        "57P01",  # admin_shutdown: the server is stopping (pg_ctl stop, an update)
        "57P02",  # crash_shutdown: another backend crashed, every connection is dropped
        "57P03",  # cannot_connect_now: the server is starting up or recovering from a crash
        "57P05",  # idle_session_timeout
        "53300",  # too_many_connections
    }
)
_BUSY_STATES = frozenset(
    {
        "57014",  # query_canceled: statement_timeout
        "55P03",  # lock_not_available: lock_timeout
        "40P01",  # deadlock_detected
        "40001",  # serialization_failure
        "25P03",  # idle_in_transaction_session_timeout
    }
)
_READ_ONLY_STATES = frozenset(
    {"25006"}
)  # read_only_sql_transaction: default_transaction_read_only, a standby
_FULL_STATES = frozenset({"53100"})  # disk_full
# socket errors that mean the server is not there (or went away), whatever the path to it
_UNREACHABLE_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.ENOENT,  # the unix socket file is gone: the server is stopped
        errno.EPIPE,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ETIMEDOUT,
        errno.EHOSTDOWN,
    }
)


def _chain(exc: BaseException) -> list[BaseException]:
    """The error and everything it wraps (SQLAlchemy's .orig, __cause__, __context__), once each."""
    seen: list[BaseException] = []
    pending: list[BaseException] = [exc]
    while pending and len(seen) < 20:
        current = pending.pop(0)
        if any(current is known for known in seen):
            continue
        seen.append(current)
        for inner in (getattr(current, "orig", None), current.__cause__, current.__context__):
            if isinstance(inner, BaseException):
                pending.append(inner)
    return seen


def _from_database_driver(exc: BaseException) -> bool:
    """Whether an OS-level error was raised while talking to PostgreSQL (and not, say, reading a photo)."""
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if "/asyncpg/" in filename or "/sqlalchemy/" in filename:
            return True
        tb = tb.tb_next
    return False


def _asyncpg_disconnect(exc: BaseException) -> bool:
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        return False
    if isinstance(exc, asyncpg.exceptions.ConnectionDoesNotExistError | asyncpg.PostgresConnectionError):
        return True
    return isinstance(exc, asyncpg.InterfaceError) and (
        "connection is closed" in str(exc) or "connection was closed" in str(exc)
    )


def database_fault(exc: BaseException) -> ServiceUnavailable | None:
    """The 503 a database failure deserves, or None when the error is something else (a bug, bad input)."""
    for error in _chain(exc):
        state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
        if isinstance(state, str):
            if state.startswith("08") or state in _UNAVAILABLE_STATES:
                return DatabaseUnavailable()
            if state in _BUSY_STATES:
                return Busy()
            if state in _READ_ONLY_STATES:
                return DatabaseReadOnly()
            if state in _FULL_STATES:
                return StorageFull()
        if isinstance(error, sa_exc.TimeoutError):  # every pooled connection in use for pool_timeout
            return Busy()
        if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
            return DatabaseUnavailable()
        if _asyncpg_disconnect(error):
            return DatabaseUnavailable()
        if isinstance(error, OSError) and _from_database_driver(error):
            if error.errno == errno.ENOSPC:
                return StorageFull()
            if isinstance(error, ConnectionError | TimeoutError) or error.errno in _UNREACHABLE_ERRNOS:
                return DatabaseUnavailable()
    return None


def is_database_fault(exc: BaseException) -> bool:
    return database_fault(exc) is not None
