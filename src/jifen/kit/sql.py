"""Typed SQL on the request's transaction: the one way repositories run hand-written statements.

Repositories own every statement. They write PostgreSQL's own SQL with `$1` parameters and read rows into
frozen dataclasses (`await Sql(session).rows(Entry, query, ...)`), so no untyped row crosses into a service
and strict mypy sees every field a service uses. The ORM stays for loading and adding whole entities.

Why asyncpg under SQLAlchemy's transaction rather than SQLAlchemy Core: measured, not assumed.
`python -m bench access` runs the six statements of one award (the actor's load, the household, the rule's
current version, `ledger_post()`, the award's insert, the audit event's insert; the repositories' own text
and row dataclasses) in one committed session transaction per award, against an embedded PostgreSQL 18 with
the demo village, (a) through `session.execute(text(...))` with row → dataclass and (b) through `Sql`. On
this project's 2-core machine shared with other work (load 5–7, so single runs scatter), medians per award:

    run (rounds x awards)   Core CPU µs   Sql CPU µs   CPU ratio   statements alone*   wall ratio
    2 x 50                         2993         2348       1.27x                   –        1.53x
    5 x 400                        3509         3168       1.11x               1.14x        0.84x
    5 x 400                        4309         3028       1.42x               1.61x        1.41x
    1 x 30                         5412         4133       1.31x               1.55x        1.06x

    * user CPU of the six statements, less the floor every request pays anyway (a session, BEGIN, one
      statement, COMMIT: 700–1800 µs CPU)

CPU is time.process_time() of the Python process (user + system; the server's work is not in it). Core
costs 1.11–1.42x the CPU of Sql per award (1.14–1.61x for the six statements themselves), in every run
more than Sql; wall time follows the server and the machine's load and shows no stable difference. In the
profile, Core's extra time is SQLAlchemy's per-call work (compiled-statement setup, parameter processing,
result wrapping, greenlet switches); Sql hands the statement and its arguments to asyncpg's
prepared-statement cache. The lower CPU per award is what decides it: Sql. The margin over Core is modest
(the lowest run was within 11%); it buys typed rows at no cost rather than speed at a price.

Both share one connection and one transaction: the first statement of a transaction goes through
SQLAlchemy's public `exec_driver_sql`, which opens the transaction exactly as an ORM statement would (no
extra round trip); every later one goes straight to the driver's connection (`driver_connection`, a public
attribute).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from operator import attrgetter
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")


class RowShapeError(TypeError):
    """A statement's columns do not match the dataclass it is read into (a programming error)."""


def shape_row(shape: type[T], row: Mapping[str, Any]) -> T:
    """One row as `shape`: a dataclass whose fields are the statement's columns, by name."""
    try:
        return shape(**row)
    except TypeError as exc:
        fields = [f.name for f in dataclasses.fields(shape)] if dataclasses.is_dataclass(shape) else "?"
        raise RowShapeError(f"{shape.__name__}{fields} cannot hold columns {list(row)}: {exc}") from exc


def columns_of(shape: type[Any]) -> str:
    """The select list a row dataclass is read from: its fields, in order, comma-separated."""
    return ", ".join(f.name for f in dataclasses.fields(shape))


def present(row: T | None) -> T:
    """The row a statement always returns: an INSERT … RETURNING, a row the caller locked or just wrote."""
    assert row is not None
    return row


def column_arrays(rows: Sequence[object], **columns: str) -> dict[str, list[Any]]:
    """Named columns of `rows`, each as one list (an `unnest($n::…[])` argument): `name="attribute"`."""
    return {name: list(map(attrgetter(attribute), rows)) for name, attribute in columns.items()}


def unnest_args(rows: Sequence[Sequence[object]], width: int) -> list[list[object]]:
    """Rows turned into `width` columns, one array each: the arguments of `unnest($n::…[], …)`."""
    return [[row[i] for row in rows] for i in range(width)]


def checked(kind: type[V], value: object) -> V | None:
    """A scalar as the type the repository declared (None stays None)."""
    if value is None or isinstance(value, kind):
        return value
    raise RowShapeError(f"expected {kind.__name__}, the statement returned {type(value).__name__}")


class Sql:
    """The statements of one session's transaction, typed."""

    __slots__ = ("_session",)

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def _open(self) -> tuple[AsyncConnection, asyncpg.Connection | None]:
        """The session's connection, and the driver's connection when its transaction is already open."""
        connection = await self._session.connection()
        sync = connection.sync_connection
        if sync is not None and not sync.closed and not sync.invalidated:
            # a live connection hands over its driver connection without IO, so without the greenlet that
            # `get_raw_connection` spawns for the case where it would have to reconnect (~0.1 ms a statement)
            driver: asyncpg.Connection = sync.connection.driver_connection
        else:
            driver = (await connection.get_raw_connection()).driver_connection
        return connection, driver if driver.is_in_transaction() else None

    async def _records(self, query: str, args: Sequence[object]) -> list[Mapping[str, Any]]:
        connection, driver = await self._open()
        if driver is not None:
            return list(await driver.fetch(query, *args))
        result = await connection.exec_driver_sql(query, tuple(args))
        return [dict(m) for m in result.mappings().all()] if result.returns_rows else []

    async def rows(self, shape: type[T], query: str, *args: object) -> list[T]:
        return [shape_row(shape, r) for r in await self._records(query, args)]

    async def row(self, shape: type[T], query: str, *args: object) -> T | None:
        found = await self._records(query, args)
        return shape_row(shape, found[0]) if found else None

    async def one(self, shape: type[T], query: str, *args: object) -> T:
        """The row the statement always returns (an INSERT … RETURNING, a row the caller has locked)."""
        return present(await self.row(shape, query, *args))

    async def value(self, kind: type[V], query: str, *args: object) -> V | None:
        """The first column of the first row (None when there is no row)."""
        found = await self._records(query, args)
        return checked(kind, next(iter(found[0].values()))) if found else None

    async def values(self, kind: type[V], query: str, *args: object) -> list[V]:
        """The first column of every row."""
        out: list[V] = []
        for record in await self._records(query, args):
            value = checked(kind, next(iter(record.values())))
            if value is not None:
                out.append(value)
        return out

    async def pairs(self, key: type[K], value: type[V], query: str, *args: object) -> dict[K, V]:
        """The first column of every row mapped to its second (a row with a NULL in either is left out)."""
        out: dict[K, V] = {}
        for record in await self._records(query, args):
            columns = iter(record.values())
            k, v = checked(key, next(columns)), checked(value, next(columns))
            if k is not None and v is not None:
                out[k] = v
        return out

    async def cursor(
        self, shape: type[T], query: str, *args: object, prefetch: int = 1000
    ) -> AsyncIterator[T]:
        """Rows one at a time from a server-side cursor in the session's transaction, fetched `prefetch` at a
        time: a large export reads its rows without ever holding them all."""
        connection, driver = await self._open()
        if driver is None:  # a cursor lives in a transaction: open it as any first statement would
            await connection.exec_driver_sql("SELECT 1")
            _, driver = await self._open()
            assert driver is not None
        async for record in driver.cursor(query, *args, prefetch=prefetch):
            yield shape_row(shape, record)

    async def execute(self, query: str, *args: object) -> int:
        """Run a statement for its effect; the number of rows it touched."""
        connection, driver = await self._open()
        if driver is not None:
            status: str = await driver.execute(query, *args)
            tail = status.rsplit(" ", 1)[-1]
            return int(tail) if tail.isdigit() else 0
        result = await connection.exec_driver_sql(query, tuple(args))
        return max(result.rowcount, 0)

    async def execute_many(self, query: str, args: Iterable[Sequence[object]]) -> None:
        connection, driver = await self._open()
        batch = [tuple(a) for a in args]
        if not batch:
            return
        if driver is None:  # open the transaction with the first row, then send the rest in one go
            await connection.exec_driver_sql(query, batch[0])
            batch = batch[1:]
            _, driver = await self._open()
            assert driver is not None
        if batch:
            await driver.executemany(query, batch)
