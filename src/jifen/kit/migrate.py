"""Running Alembic from code: `jifen db upgrade`, tests and the demo all migrate the same way."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

from alembic import command
from alembic.config import Config

from jifen.kit.db import normalise_url
from jifen.settings import Settings


def migrations_dir() -> Path:
    packaged = Path(__file__).resolve().parents[1] / "_migrations"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "migrations"


# Tables the models leave out on purpose: Alembic's own bookkeeping.
NOT_MODELLED = frozenset({"alembic_version"})


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """What autogenerate compares: every table but those in NOT_MODELLED."""
    return not (type_ == "table" and name in NOT_MODELLED)


# How models and migrations are compared, by `alembic revision --autogenerate` and by tests/test_schema.py:
# column types and server defaults too, not only tables, columns, keys and indexes.
COMPARE_OPTIONS: dict[str, Any] = {
    "compare_type": True,
    "compare_server_default": True,
    "include_name": include_name,
}


def owner_url(settings: Settings) -> str:
    url = settings.migrate_database_url or settings.database_url
    if not url:
        raise RuntimeError("no database URL: start the embedded database first")
    return url


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


APP_ROLE = "jifen_app"


def grant_app_privileges_sql(append_only: tuple[str, ...] = ()) -> str:
    """SQL that (re)grants the service role its privileges. Every migration that adds tables ends with it.

    Whatever a trigger refuses (`jifen_refuse_change` on UPDATE, DELETE or TRUNCATE, and `jifen_owner_only`,
    which leaves a change to the owner's SECURITY DEFINER functions, migration 0013) the service role is not
    even granted, so the list follows the triggers and no migration can forget a table, nor give the service
    back UPDATE on accounts with its blanket GRANT; `append_only` names more tables to protect. Creating
    the role needs CREATEROLE; where the migrating user lacks it, the deployer creates the role (see README)
    and the grants still apply.
    """
    # SQL twin: migrations/versions/0002_ledger_core.py jifen_refuse_change and its *_append_only triggers
    # (docs/invariants.md, append-only)
    revokes = "".join(
        f"  REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {APP_ROLE};\n" for table in append_only
    )
    return f"""
DO $grant$
DECLARE
  refused record;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
    BEGIN
      CREATE ROLE {APP_ROLE} NOLOGIN;
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE NOTICE 'role {APP_ROLE} not created (no CREATEROLE privilege)';
      RETURN;
    END;
  END IF;
  GRANT USAGE ON SCHEMA public TO {APP_ROLE};
  GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE};
  GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE};
  REVOKE ALL ON alembic_version FROM {APP_ROLE};
  GRANT SELECT ON alembic_version TO {APP_ROLE};
{revokes}  FOR refused IN
    SELECT c.relname AS tab,
           bool_or(tg.tgtype & 4 <> 0) AS on_insert,
           bool_or(tg.tgtype & 16 <> 0) AS on_update,
           bool_or(tg.tgtype & 8 <> 0) AS on_delete,
           bool_or(tg.tgtype & 32 <> 0) AS on_truncate
      FROM pg_trigger tg
      JOIN pg_class c ON c.oid = tg.tgrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
      JOIN pg_proc p ON p.oid = tg.tgfoid AND p.proname IN ('jifen_refuse_change', 'jifen_owner_only')
     GROUP BY c.relname
  LOOP
    IF refused.on_insert THEN EXECUTE format('REVOKE INSERT ON %I FROM {APP_ROLE}', refused.tab); END IF;
    IF refused.on_update THEN EXECUTE format('REVOKE UPDATE ON %I FROM {APP_ROLE}', refused.tab); END IF;
    IF refused.on_delete THEN EXECUTE format('REVOKE DELETE ON %I FROM {APP_ROLE}', refused.tab); END IF;
    IF refused.on_truncate THEN EXECUTE format('REVOKE TRUNCATE ON %I FROM {APP_ROLE}', refused.tab); END IF;
  END LOOP;
END
$grant$;
"""


def execute_script(sql: str) -> None:
    """Run a multi-statement SQL script inside the current migration (asyncpg's simple query protocol).

    asyncpg prepares every statement, and a prepared statement holds one command; DDL with functions and
    triggers reads best as one script, so it goes to the driver connection directly.
    """
    from alembic import op
    from sqlalchemy.util.concurrency import await_only

    driver_connection = op.get_bind().connection.driver_connection
    assert driver_connection is not None
    await_only(driver_connection.execute(sql))


# ------------------------------------------------------------------- a migration built on a released one
# Released migrations never change: a later one that changes a SQL function derives the new text from the
# released text, so the two can be read side by side and the downgrade restores exactly what was there.


def released(name: str) -> ModuleType:
    """The released migration `migrations/versions/<name>`, loaded as it is."""
    path = migrations_dir() / "versions" / name
    spec = importlib.util.spec_from_file_location(f"jifen_migration_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def replaced(text: str, *pairs: tuple[str, str]) -> str:
    """`text` with each (old, new) pair replaced; each old text must occur exactly once."""
    for old, new in pairs:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def function_of(script: str, name: str) -> str:
    """One `CREATE FUNCTION name(...) ... $$;` of a migration's script, as CREATE OR REPLACE."""
    start = script.index(f"CREATE FUNCTION {name}(")
    end = script.index("\n$$;\n", start) + len("\n$$;\n")
    return "CREATE OR REPLACE" + script[start + len("CREATE") : end]


def between(text: str, start: str, end: str) -> str:
    """The part of `text` from `start` up to the next `end`."""
    return text[text.index(start) : text.index(end, text.index(start))]
