"""The schema stays ready to be distributed by village (Citus; docs/scaling.md), read from the migrated
database's catalog.

Every table holding a village's data is distributed by its village column (`village_id`; the audit tables'
`scope`, which is the village's id or the town scope): that column must lead its primary key and every
foreign key it declares (so each key is checked on one node), and every unique index must contain it (a
distributed table cannot enforce uniqueness across villages). A table without a village column is town-wide
(a reference table, copied to every node) and must be named below, so a new table is a decision, not an
accident.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg
import pytest

from jifen.kit.db import normalise_url

if TYPE_CHECKING:
    from tests.db import TestCluster

VILLAGE_COLUMNS = ("village_id", "scope")

# town-wide tables: reference tables on Citus (or, for scratch state, local to the coordinator)
TOWN_WIDE = {
    "villages": "the tenants themselves; every village table's foreign key to it is to a reference table",
    "users": "a person may serve several villages (and the town); read on every request before any village",
    "alembic_version": "the schema's revision",
    "login_throttle": "scratch state of sign-in attempts per user name and address, before any village",
}

# Known offenders, kept on purpose (docs/scaling.md, "What is not distributed by village"). Each entry names
# the table and exactly which checks it is excused from; anything else about it is still checked.
ALLOWED = {
    # A user's grants are read on every request to learn the villages the user may act in, and a town
    # admin's grant has no village at all (village_id NULL), so on Citus user_roles is a reference table
    # beside users: its primary key is its own id, and its
    # foreign key to users does not involve a village. A reference table cannot keep foreign keys to the
    # distributed households and stores; on Citus those two are dropped and the grant's household or store
    # is checked by users/service.py `_check_grant` (which looks both up already) — see docs/scaling.md.
    "user_roles": {"primary key", "foreign key"},
}


def _plain(url: str) -> str:
    return normalise_url(url).replace("postgresql+asyncpg://", "postgresql://", 1)


_TABLES = """
SELECT c.relname AS name,
       array(SELECT a.attname::text FROM pg_attribute a
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
       array(SELECT a.attname::text FROM pg_index i
               JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, ord) ON true
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
              WHERE i.indrelid = c.oid AND i.indisprimary ORDER BY k.ord) AS primary_key
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
"""

_FOREIGN_KEYS = """
SELECT c.conrelid::regclass::text AS tbl, c.conname AS name, c.confrelid::regclass::text AS ref,
       array(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
              ORDER BY k.ord) AS columns
  FROM pg_constraint c
 WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
"""

_UNIQUE = """
SELECT i.indrelid::regclass::text AS tbl, i.indexrelid::regclass::text AS name,
       pg_get_indexdef(i.indexrelid) AS definition,
       array(SELECT a.attname::text FROM unnest(i.indkey) k(attnum)
               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum) AS columns
  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
 WHERE i.indisunique AND NOT i.indisprimary AND c.relnamespace = 'public'::regnamespace
"""


@pytest.fixture
async def catalog(template: TestCluster, database: str) -> dict[str, list[asyncpg.Record]]:
    conn = await asyncpg.connect(_plain(template.owner_url_for(database)))
    try:
        return {
            "tables": await conn.fetch(_TABLES),
            "foreign_keys": await conn.fetch(_FOREIGN_KEYS),
            "unique": await conn.fetch(_UNIQUE),
        }
    finally:
        await conn.close()


def offenders(catalog: dict[str, list[asyncpg.Record]]) -> list[str]:
    """Every way the schema is not distributable by village, as `table: check: detail` lines."""
    found: list[str] = []
    village_column: dict[str, str] = {}
    for table in catalog["tables"]:
        column = next((c for c in VILLAGE_COLUMNS if c in table["columns"]), None)
        if column is None:
            if table["name"] not in TOWN_WIDE:
                found.append(f"{table['name']}: village column: none, and not listed as town-wide")
            continue
        village_column[table["name"]] = column
        if not table["primary_key"] or table["primary_key"][0] != column:
            found.append(f"{table['name']}: primary key: ({', '.join(table['primary_key'])})")
    for key in catalog["foreign_keys"]:
        column = village_column.get(key["tbl"])
        if column is not None and key["columns"][0] != column:
            found.append(f"{key['tbl']}: foreign key: {key['name']} ({', '.join(key['columns'])})")
    for index in catalog["unique"]:
        column = village_column.get(index["tbl"])
        if column is not None and column not in index["columns"]:
            found.append(f"{index['tbl']}: unique index: {index['definition']}")
    return sorted(found)


def unexcused(found: list[str]) -> list[str]:
    return [line for line in found if line.split(": ")[1] not in ALLOWED.get(line.split(": ")[0], set())]


async def test_every_village_table_is_distributable_by_village(
    catalog: dict[str, list[asyncpg.Record]],
) -> None:
    found = offenders(catalog)
    assert unexcused(found) == [], "\n".join(unexcused(found))
    # the allow-list stays honest: each excuse is still needed, or it goes
    for table, checks in ALLOWED.items():
        for check in checks:
            assert any(line.startswith(f"{table}: {check}:") for line in found), (table, check)


async def test_the_check_catches_a_table_that_would_not_distribute(
    catalog: dict[str, list[asyncpg.Record]],
) -> None:
    """A village table keyed on its own id, a foreign key and a unique index without the village, and a new
    table without a village column are each named."""
    tables = [dict(t) for t in catalog["tables"]]
    for table in tables:
        if table["name"] == "awards":
            table["primary_key"] = ["id"]
    tables.append({"name": "gadgets", "columns": ["id", "name"], "primary_key": ["id"]})
    keys = [*catalog["foreign_keys"], {"tbl": "postings", "name": "fk_by_id", "ref": "x", "columns": ["id"]}]
    unique = [
        *catalog["unique"],
        {"tbl": "households", "name": "uq_code", "definition": "UNIQUE (code)", "columns": ["code"]},
    ]
    found = unexcused(offenders({"tables": tables, "foreign_keys": keys, "unique": unique}))
    assert found == [
        "awards: primary key: (id)",
        "gadgets: village column: none, and not listed as town-wide",
        "households: unique index: UNIQUE (code)",
        "postings: foreign key: fk_by_id (id)",
    ]
