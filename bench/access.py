"""`python -m bench access`: the award hot path's statements through SQLAlchemy Core and through `Sql`.

Issue 12 item 2 asks for one typed data-access style, chosen by measurement. One award runs six statements
in one transaction: the actor's load, the household, the rule's current version, the `ledger_post()` call,
the award's insert and the audit event's insert. This bench runs exactly those statements (the same SQL
text the repositories send) against an embedded PostgreSQL with jifen migrated and the demo village loaded,
N awards each way, in alternating rounds so that a busy machine penalises both alike:

  (a) Core: `session.execute(text(...), {...})`, each row read into the same frozen dataclass;
  (b) Sql:  `Sql(session)` (asyncpg under SQLAlchemy's transaction), rows into the same dataclasses.

Both run inside an `AsyncSession` transaction that commits per award, as a request does. It reports the
Python CPU (time.process_time: this process only, not the server's) and the wall time per award, medians
over the rounds, and their ratio.
"""

from __future__ import annotations

import asyncio
import os
import re
import resource
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.audit import repository as audit_repository
from jifen.auth import repository as auth_repository
from jifen.awards import repository as awards_repository
from jifen.awards.repository import HouseholdRef
from jifen.kit.db import create_engine, create_sessionmaker
from jifen.kit.sql import Sql
from jifen.ledger import repository as ledger_repository
from jifen.rules import repository as rules_repository
from jifen.rules.repository import RuleSnapshot

AWARDS = int(os.environ.get("BENCH_AWARDS", "400"))  # per round and way
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
T = TypeVar("T")

# the statements of one award: the repositories' own text ($n parameters) and row shapes
ACTOR = auth_repository._ACTOR
HOUSEHOLDS = (
    "SELECT id, village_id, code, grid FROM households WHERE id = ANY($1::uuid[])"  # awards/repository.py
)
RULES = rules_repository._CURRENT
POST = ledger_repository._POST
AWARD = awards_repository._INSERT_AWARDS
AUDIT = audit_repository._INSERT
ActorRow = auth_repository._ActorRow
HouseholdRow = HouseholdRef
RuleRow = RuleSnapshot


@dataclass(frozen=True, slots=True)
class Created:
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Cadre:
    id: uuid.UUID
    credential_version: int
    grid: str | None


def named(query: str) -> str:
    """The same statement with SQLAlchemy's `:pN` parameters (`$1::uuid[]` becomes `CAST(:p1 AS uuid[])`)."""

    def one(match: re.Match[str]) -> str:
        name, cast = f":p{match[1]}", match[2]
        return f"CAST({name} AS {cast[2:]})" if cast else name

    return re.sub(r"\$(\d+)(::[a-z]+(?:\[\])?)?", one, query)


@dataclass(frozen=True)
class World:
    """What one award needs: the cadre, a household of their grid, a rule without review (its cap is not
    checked here: the cap query is not one of the six statements)."""

    village_id: uuid.UUID
    actor_id: uuid.UUID
    credential_version: int
    household_id: uuid.UUID
    rule_id: uuid.UUID
    issuing_id: uuid.UUID


class Way:
    """One way of sending the statements; `rows` reads a statement's rows into `shape`."""

    name = ""

    async def rows(
        self, session: AsyncSession, shape: type[T], query: str, args: Sequence[object]
    ) -> list[T]:
        raise NotImplementedError

    async def execute(self, session: AsyncSession, query: str, args: Sequence[object]) -> None:
        raise NotImplementedError


class Core(Way):
    name = "(a) Core text()"

    def __init__(self) -> None:
        self._texts: dict[str, Any] = {}

    def _text(self, query: str) -> Any:
        found = self._texts.get(query)
        if found is None:
            found = self._texts[query] = text(named(query))
        return found

    async def rows(
        self, session: AsyncSession, shape: type[T], query: str, args: Sequence[object]
    ) -> list[T]:
        result = await session.execute(self._text(query), {f"p{i}": a for i, a in enumerate(args, 1)})
        return [shape(**row) for row in result.mappings()]

    async def execute(self, session: AsyncSession, query: str, args: Sequence[object]) -> None:
        await session.execute(self._text(query), {f"p{i}": a for i, a in enumerate(args, 1)})


class Typed(Way):
    name = "(b) Sql (asyncpg)"

    async def rows(
        self, session: AsyncSession, shape: type[T], query: str, args: Sequence[object]
    ) -> list[T]:
        return await Sql(session).rows(shape, query, *args)

    async def execute(self, session: AsyncSession, query: str, args: Sequence[object]) -> None:
        await Sql(session).execute(query, *args)


async def one_award(way: Way, session: AsyncSession, world: World) -> None:
    actor = await way.rows(session, ActorRow, ACTOR, [world.actor_id, world.credential_version])
    assert actor and actor[0].role == "cadre"
    [household] = await way.rows(session, HouseholdRow, HOUSEHOLDS, [[world.household_id]])
    [rule] = await way.rows(session, RuleRow, RULES, [[world.rule_id]])
    tx, award = uuid.uuid4(), uuid.uuid4()
    await way.execute(
        session,
        POST,
        [
            *(world.village_id, world.actor_id, [tx], ["award"], [rule.name], [rule.rule_id], [rule.version]),
            *(["award"], [award], [None], [None], [1, 1], [household.id, world.issuing_id]),
            *([rule.points, -rule.points], [rule.points, 0]),
        ],
    )
    [_created] = await way.rows(
        session,
        Created,
        AWARD,
        [
            *(
                world.village_id,
                None,
                world.actor_id,
                [award],
                [household.id],
                [rule.rule_id],
                [rule.version],
            ),
            *([1], [rule.points], [None], [None], ["posted"], [tx], datetime.now(UTC), [None], [None], False),
        ],
    )
    after = f'{{"household_id":"{household.id}","points":{rule.points},"status":"posted"}}'
    await way.execute(
        session,
        AUDIT,
        [
            *(world.village_id, world.actor_id, actor[0].username, "cadre", "award.submit", "award"),
            *(None, None, "127.0.0.1", [str(award)], [None], [after]),
        ],
    )


class Empty(Way):
    """The common floor: a session, BEGIN, one trivial statement, COMMIT; no award."""

    name = "(0) session floor"


async def timed(
    sessionmaker: async_sessionmaker[AsyncSession], way: Way, world: World, n: int
) -> tuple[float, float, float]:
    """CPU (time.process_time: user + system), user-only CPU and wall seconds for n awards, one committed
    transaction each. The system part is mostly the socket writes, which a loaded machine inflates."""
    cpu, user, wall = (
        time.process_time(),
        resource.getrusage(resource.RUSAGE_SELF).ru_utime,
        time.perf_counter(),
    )
    for _ in range(n):
        async with sessionmaker() as session, session.begin():
            if isinstance(way, Empty):
                await Sql(session).execute("SELECT 1")
            else:
                await one_award(way, session, world)
    user = resource.getrusage(resource.RUSAGE_SELF).ru_utime - user
    return time.process_time() - cpu, user, time.perf_counter() - wall


async def find_world(sessionmaker: async_sessionmaker[AsyncSession]) -> World:
    async with sessionmaker() as session:
        sql = Sql(session)
        village = await sql.value(uuid.UUID, "SELECT id FROM villages WHERE code = 'XF'")
        cadre = await sql.row(
            Cadre,
            "SELECT u.id, u.credential_version, r.grid FROM users u"
            " JOIN user_roles r ON r.user_id = u.id WHERE u.username = 'cadre'",
        )
        assert village is not None and cadre is not None
        household = await sql.value(
            uuid.UUID,
            "SELECT id FROM households WHERE village_id = $1 AND grid = $2 LIMIT 1",
            village,
            cadre.grid,
        )
        rule = await sql.value(
            uuid.UUID,
            "SELECT r.id FROM rules r JOIN rule_versions v ON v.village_id = r.village_id AND v.rule_id = r.id"
            " AND v.version = r.current_version WHERE r.village_id = $1 AND v.points > 0"
            " AND v.review = 'none' AND v.active AND v.escalation IS NULL ORDER BY v.evidence_required LIMIT 1",
            village,
        )
        issuing = await sql.value(
            uuid.UUID, "SELECT id FROM accounts WHERE village_id = $1 AND kind = 'issuing'", village
        )
        assert household is not None and rule is not None and issuing is not None, (household, rule, issuing)
        return World(village, cadre.id, cadre.credential_version, household, rule, issuing)


async def measure(app_url: str) -> None:
    engine = create_engine(app_url, metered=False)
    sessionmaker = create_sessionmaker(engine)
    try:
        world = await find_world(sessionmaker)
        ways: list[Way] = [Core(), Typed(), Empty()]
        for way in ways:  # warm up: prepared statements, type codecs, SQLAlchemy's compiled cache
            await timed(sessionmaker, way, world, 50)
        results: dict[str, list[tuple[float, float, float]]] = {w.name: [] for w in ways}
        for round_ in range(ROUNDS):
            for way in ways if round_ % 2 == 0 else ways[::-1]:
                results[way.name].append(await timed(sessionmaker, way, world, AWARDS))
    finally:
        await engine.dispose()
    report(results)


def report(results: dict[str, list[tuple[float, float, float]]]) -> None:
    print(f"award hot path, 6 statements + commit per award, {ROUNDS} rounds x {AWARDS} awards per way")
    print(
        f"  {'way':<20} {'CPU µs':>8} {'user µs':>8} {'wall µs':>8}   per award, median of rounds (CPU min–max)"
    )
    medians = {}
    for name, runs in results.items():
        cpu, user, wall = ([run[k] / AWARDS * 1e6 for run in runs] for k in range(3))
        medians[name] = (statistics.median(cpu), statistics.median(user), statistics.median(wall))
        print(
            f"  {name:<20} {medians[name][0]:>8.0f} {medians[name][1]:>8.0f} {medians[name][2]:>8.0f}"
            f"   ({min(cpu):.0f}–{max(cpu):.0f})"
        )
    core, typed, floor = medians.values()
    print(
        f"  ratio Core/Sql: CPU {core[0] / typed[0]:.2f}x, user CPU {core[1] / typed[1]:.2f}x,"
        f" wall {core[2] / typed[2]:.2f}x"
    )
    print(
        f"  the six statements alone (minus the floor), user CPU: Core {core[1] - floor[1]:.0f} µs,"
        f" Sql {typed[1] - floor[1]:.0f} µs, ratio {(core[1] - floor[1]) / (typed[1] - floor[1]):.2f}x"
    )


def standalone() -> None:
    on_demo(measure, "access")


def on_demo(work: Callable[[str], Awaitable[None]], name: str) -> None:
    """`work(app_url)` against a fresh embedded PostgreSQL, migrated, with the demo village loaded."""
    from jifen.kit.embedded import APP_ROLE, describe, ensure_database, start_embedded
    from jifen.kit.migrate import upgrade

    tmp = Path(tempfile.mkdtemp(prefix=f"jifen-bench-{name}-"))
    server = start_embedded(tmp, cleanup_mode="delete")
    try:
        ensure_database(server)
        db: Any = describe(server)
        upgrade(db.owner_url)
        asyncio.run(_load_demo(db.app_url, tmp))
        asyncio.run(work(db.url(APP_ROLE)))
    finally:
        server.cleanup()  # type: ignore[attr-defined]
        shutil.rmtree(tmp, ignore_errors=True)


async def _load_demo(app_url: str, data_dir: Path) -> None:
    from jifen.demo import load_demo

    engine = create_engine(app_url, metered=False)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            await load_demo(session, data_dir=data_dir)
    finally:
        await engine.dispose()
