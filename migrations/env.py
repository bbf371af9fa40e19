"""Alembic environment: async, on asyncpg; the URL comes from jifen's settings or the caller.

Migrations are history: a released migration is never edited, a change is a new migration, and the models in
src/jifen/models describe what the migrations built (tests/test_schema.py fails when they disagree). See
versions/README.md.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from jifen.kit.db import normalise_url
from jifen.kit.migrate import COMPARE_OPTIONS
from jifen.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from jifen.kit.migrate import owner_url
        from jifen.settings import get_settings

        url = owner_url(get_settings())
    return normalise_url(url)


def do_run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        transaction_per_migration=True,
        **COMPARE_OPTIONS,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    engine = create_async_engine(_url(), poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(do_run_migrations)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(run_async_migrations())
