"""The nightly backup runs once a local day at JIFEN_BACKUP_AT, once across workers, keeping the newest N."""

from __future__ import annotations

import asyncio
from datetime import datetime, time
from pathlib import Path

import pytest
from fastapi import FastAPI

from jifen.backup import archive, nightly
from jifen.kit.timeutil import LOCAL_TZ
from jifen.settings import Settings

pytestmark = pytest.mark.backup


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=LOCAL_TZ)


async def test_nightly_backup_runs_once_a_day_across_workers_and_keeps_the_newest(
    app: FastAPI, settings: Settings, tmp_path: Path
) -> None:
    backups = tmp_path / "backups"
    settings.backup_dir = backups
    settings.backup_keep = 2
    settings.backup_at = time(2, 30)

    # before 02:30 local time (18:30 UTC the day before) nothing happens
    assert await nightly.run_if_due(settings, now=_at(1, 2, 29)) is None
    assert not nightly.archives(backups)

    # two workers wake up at once after 02:30: one archive for the day
    first = await asyncio.gather(*(nightly.run_if_due(settings, now=_at(1, 2, 31)) for _ in range(3)))
    written = [path for path in first if path is not None]
    assert len(written) == 1
    assert written[0].name == "jifen-20261101-023100.tar"
    # later the same day: already done
    assert await nightly.run_if_due(settings, now=_at(1, 23, 59)) is None

    for day in (2, 3, 4):
        assert await nightly.run_if_due(settings, now=_at(day, 3)) is not None
    kept = [path.name for path in nightly.archives(backups)]
    assert kept == ["jifen-20261103-030000.tar", "jifen-20261104-030000.tar"]
    # each kept archive is whole: it passes the restore's checks
    checked = archive.unpack(backups / kept[-1], tmp_path / "check")
    assert checked.manifest["database"]["migration_revision"]
    assert not [path for path in backups.iterdir() if path.name.endswith(".partial")]


def test_the_nightly_settings_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("JIFEN_BACKUP_DIR", str(tmp_path))
    monkeypatch.setenv("JIFEN_BACKUP_KEEP", "14")
    monkeypatch.setenv("JIFEN_BACKUP_AT", "03:15")
    configured = Settings(env="test", secret_key="test-secret-key-0123456789abcdef0123456789")  # type: ignore[arg-type]
    assert (configured.backup_dir, configured.backup_keep, configured.backup_at) == (
        tmp_path,
        14,
        time(3, 15),
    )
    monkeypatch.setenv("JIFEN_BACKUP_DIR", "")
    assert Settings(env="test", secret_key="test-secret-key-0123456789abcdef0123456789").backup_dir is None  # type: ignore[arg-type]


async def test_the_server_writes_the_nightly_backup_by_itself(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asgi_lifespan import LifespanManager

    from jifen.app import create_app

    monkeypatch.setattr(nightly, "CHECK_SECONDS", 0.1)
    settings.backup_dir = tmp_path / "nightly"
    settings.backup_at = time(0, 0)  # due as soon as the server looks
    async with LifespanManager(create_app(settings)):
        for _ in range(100):
            if nightly.archives(settings.backup_dir):
                break
            await asyncio.sleep(0.1)
    assert len(nightly.archives(settings.backup_dir)) == 1
