"""The roll import's statements: one read of the village's households and members, and one statement per
table for the writes (unnest arrays), so 20,000 households import in a few statements, not 60,000."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.imports.roll import HouseholdRow, MemberRow
from jifen.kit.sql import Sql, unnest_args
from jifen.models import AccountKind


@dataclass
class StoredMember:
    id: uuid.UUID
    name: str
    phone: str | None
    relation: str | None


@dataclass
class StoredHousehold:
    id: uuid.UUID
    code: str
    head_name: str
    grid: str | None
    address: str | None
    population: int | None
    members: dict[str, StoredMember] = field(default_factory=dict)


async def lock_roll(session: AsyncSession, village_id: uuid.UUID) -> None:
    """One import of a village's roll at a time: a second waits, then sees the first one's households."""
    await Sql(session).execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('jifen.household_import:' || $1::text, 0))",
        str(village_id),
    )


@dataclass(frozen=True)
class _MemberRow:
    id: uuid.UUID
    household_id: uuid.UUID
    name: str
    phone: str | None
    relation: str | None


async def stored_households(session: AsyncSession, village_id: uuid.UUID) -> dict[str, StoredHousehold]:
    sql = Sql(session)
    rows = await sql.rows(
        StoredHousehold,
        "SELECT id, code, head_name, grid, address, population FROM households WHERE village_id = $1",
        village_id,
    )
    households = {h.code: h for h in rows}
    by_id = {h.id: h for h in rows}
    members = await sql.rows(
        _MemberRow,
        "SELECT id, household_id, name, phone, relation FROM members WHERE village_id = $1"
        " ORDER BY created_at, name",
        village_id,
    )
    for m in members:
        household = by_id.get(m.household_id)
        if household is not None:
            household.members.setdefault(m.name, StoredMember(m.id, m.name, m.phone, m.relation))
    return households


async def insert_households(
    session: AsyncSession, village_id: uuid.UUID, rows: Sequence[tuple[uuid.UUID, HouseholdRow]]
) -> None:
    if not rows:
        return
    ids = [i for i, _ in rows]
    await Sql(session).execute(
        """
        INSERT INTO households (village_id, id, code, head_name, grid, address, population)
        SELECT $1, h.id, h.code, h.head_name, h.grid, h.address, h.population
          FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[])
               AS h(id, code, head_name, grid, address, population)
        """,
        village_id,
        ids,
        [h.code for _, h in rows],
        [h.head_name for _, h in rows],
        [h.grid for _, h in rows],
        [h.address for _, h in rows],
        [h.population for _, h in rows],
    )
    await Sql(session).execute(
        "INSERT INTO accounts (village_id, id, kind, household_id)"
        " SELECT $1, h, $3, h FROM unnest($2::uuid[]) h",
        village_id,
        ids,
        AccountKind.household.value,
    )


async def insert_members(
    session: AsyncSession, village_id: uuid.UUID, rows: Sequence[tuple[uuid.UUID, MemberRow]]
) -> None:
    """In the file's order (a member's created_at orders a household's members: the head first)."""
    if not rows:
        return
    await Sql(session).execute(
        """
        INSERT INTO members (village_id, id, household_id, name, phone, relation, created_at)
        SELECT $1, gen_random_uuid(), m.household_id, m.name, m.phone, m.relation,
               now() + m.n * interval '1 microsecond'
          FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY
               AS m(household_id, name, phone, relation, n)
        """,
        village_id,
        [household_id for household_id, _ in rows],
        [m.name for _, m in rows],
        [m.phone for _, m in rows],
        [m.relation for _, m in rows],
    )


async def update_households(
    session: AsyncSession, village_id: uuid.UUID, rows: Sequence[tuple[uuid.UUID, dict[str, str | int]]]
) -> None:
    """Only the fields each row names change; the others keep their value."""
    if not rows:
        return

    def column(name: str) -> list[object]:
        return [fields.get(name) for _, fields in rows]

    await Sql(session).execute(
        """
        UPDATE households h
           SET head_name = coalesce(u.head_name, h.head_name),
               grid = coalesce(u.grid, h.grid),
               address = coalesce(u.address, h.address),
               population = coalesce(u.population, h.population)
          FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::int[])
               AS u(id, head_name, grid, address, population)
         WHERE h.village_id = $1 AND h.id = u.id
        """,
        village_id,
        [i for i, _ in rows],
        column("head_name"),
        column("grid"),
        column("address"),
        column("population"),
    )


async def update_members(
    session: AsyncSession, village_id: uuid.UUID, rows: Sequence[tuple[uuid.UUID, str | None, str | None]]
) -> None:
    if not rows:
        return
    await Sql(session).execute(
        """
        UPDATE members m
           SET phone = coalesce(u.phone, m.phone), relation = coalesce(u.relation, m.relation)
          FROM unnest($2::uuid[], $3::text[], $4::text[]) AS u(id, phone, relation)
         WHERE m.village_id = $1 AND m.id = u.id
        """,
        village_id,
        *unnest_args(rows, 3),
    )
