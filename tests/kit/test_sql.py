"""The typed SQL helper: rows come back as the declared dataclass, in the session's own transaction whether
the statement opens it or joins it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi import FastAPI

from jifen.kit.sql import RowShapeError, Sql


@dataclass(frozen=True, slots=True)
class Pair:
    a: int
    b: str


async def test_rows_are_typed_and_share_the_transaction(app: FastAPI) -> None:
    async with app.state.sessionmaker() as session:
        sql = Sql(session)
        # the first statement opens the transaction through SQLAlchemy, the rest join it on the driver
        first = await sql.value(int, "SELECT txid_current()::int")
        await sql.execute("CREATE TEMP TABLE t (a int, b text) ON COMMIT DROP")
        await sql.execute_many("INSERT INTO t VALUES ($1, $2)", [(1, "一"), (2, "二")])
        assert await sql.value(int, "SELECT txid_current()::int") == first
        assert await sql.rows(Pair, "SELECT a, b FROM t ORDER BY a") == [Pair(1, "一"), Pair(2, "二")]
        assert await sql.row(Pair, "SELECT a, b FROM t WHERE a = $1", 3) is None
        assert await sql.values(str, "SELECT b FROM t ORDER BY a DESC") == ["二", "一"]
        assert await sql.execute("UPDATE t SET b = b || '!'") == 2
        with pytest.raises(RowShapeError):
            await sql.rows(Pair, "SELECT a FROM t")
        with pytest.raises(RowShapeError):
            await sql.value(str, "SELECT 1")
        await session.rollback()
