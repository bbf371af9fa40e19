"""The nightly backup: once a local (Asia/Shanghai) day at `JIFEN_BACKUP_AT`, into `JIFEN_BACKUP_DIR`, keeping
the newest `JIFEN_BACKUP_KEEP` archives.

Every server process runs the loop; an advisory lock lets one of them write the backup, and the day's archive
itself is the marker that the day is done (its name carries the local date), so a restart or a second worker
never writes the same day twice.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import structlog

from jifen.backup.service import _driver_url, backup
from jifen.kit.migrate import owner_url
from jifen.kit.timeutil import LOCAL_TZ, to_local, utcnow
from jifen.settings import Settings

log = structlog.get_logger(__name__)

BACKUP_LOCK = 7595439545093744240  # one nightly backup per database at a time
CHECK_SECONDS = 60.0
RETRY_AFTER = timedelta(hours=1)
_ARCHIVE = re.compile(r"^jifen-(\d{8})-(\d{6})\.tar$")


def archives(directory: Path) -> list[Path]:
    """The nightly archives in `directory`, oldest first (their names sort by local time)."""
    if not directory.is_dir():
        return []
    return sorted(path for path in directory.iterdir() if _ARCHIVE.match(path.name))


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` nightly archives; returns what was deleted."""
    found = archives(directory)
    doomed = found[: max(len(found) - keep, 0)]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


def _done_today(directory: Path, local: datetime) -> bool:
    day = local.strftime("%Y%m%d")
    return any(_ARCHIVE.match(path.name).group(1) == day for path in archives(directory))  # type: ignore[union-attr]


def is_due(settings: Settings, now: datetime) -> bool:
    if settings.backup_dir is None:
        return False
    local = to_local(now)
    due_at = datetime.combine(local.date(), settings.backup_at, tzinfo=LOCAL_TZ)
    return local >= due_at and not _done_today(settings.backup_dir, local)


async def run_if_due(settings: Settings, *, now: datetime | None = None) -> Path | None:
    """Write today's backup if its time has come and no process has written it yet; returns its path."""
    now = now or utcnow()
    if settings.backup_dir is None or not is_due(settings, now):
        return None
    directory = settings.backup_dir
    directory.mkdir(parents=True, exist_ok=True)
    url = owner_url(settings)
    lock = await asyncpg.connect(_driver_url(url))
    try:
        if not await lock.fetchval("SELECT pg_try_advisory_lock($1)", BACKUP_LOCK):
            return None  # another process is writing it
        try:
            if not is_due(settings, now):  # written while we waited for the lock
                return None
            target = directory / f"jifen-{to_local(now):%Y%m%d-%H%M%S}.tar"
            result = await backup(url, settings.data_dir, target)
            deleted = prune(directory, settings.backup_keep)
            log.info(
                "nightly_backup",
                path=str(result.path),
                bytes=result.size,
                seconds=round(result.seconds, 2),
                kept=settings.backup_keep,
                deleted=[path.name for path in deleted],
            )
            return result.path
        finally:
            await lock.execute("SELECT pg_advisory_unlock($1)", BACKUP_LOCK)
    finally:
        await lock.close()


async def run_nightly(settings: Settings) -> None:
    """The server's loop: look once a minute; after a failure wait an hour before trying again."""
    while True:
        await asyncio.sleep(CHECK_SECONDS)
        try:
            await run_if_due(settings)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("nightly_backup_failed", backup_dir=str(settings.backup_dir))
            await asyncio.sleep(RETRY_AFTER.total_seconds())
