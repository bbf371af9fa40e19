"""What the backup tests share: the demo village in the source database, the `jifen` command, the chain."""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg
from fastapi import FastAPI

from jifen.audit import chain
from jifen.demo import load_demo
from jifen.kit.db import normalise_url
from jifen.settings import Settings


def driver_url(url: str) -> str:
    return normalise_url(url).replace("postgresql+asyncpg://", "postgresql://", 1)


async def load_demo_village(app: FastAPI, settings: Settings) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        await load_demo(session, data_dir=settings.data_dir)
    await link_chain(settings.database_url)


async def link_chain(url: str | None) -> None:
    assert url
    conn = await asyncpg.connect(driver_url(url))
    try:
        await chain.link_all(conn)
    finally:
        await conn.close()


def jifen_env(
    data_dir: Path, *, database_url: str | None = None, owner_url: str | None = None
) -> dict[str, str]:
    """The environment of a person running `jifen`: the embedded database under `data_dir` unless a URL is
    given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIFEN_")}
    env |= {"JIFEN_ENV": "test", "JIFEN_DATA_DIR": str(data_dir), "JIFEN_LOG_LEVEL": "WARNING"}
    if database_url:
        env["JIFEN_DATABASE_URL"] = database_url
    if owner_url:
        env["JIFEN_MIGRATE_DATABASE_URL"] = owner_url
    return env
