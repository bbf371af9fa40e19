"""A damaged archive or a target that already holds data is refused with a clear message, and nothing is
written; a good archive restores into an empty database of a configured server."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest
from fastapi import FastAPI

from jifen.backup import archive
from jifen.backup.errors import ArchiveDamaged, TargetNotEmpty, VerificationFailed
from jifen.backup.service import RestoreReport, backup, restore, verify_restored
from jifen.settings import Settings
from tests.backup.helpers import driver_url, jifen_env, load_demo_village
from tests.live import run_jifen

if TYPE_CHECKING:
    from tests.db import TestCluster

pytestmark = pytest.mark.backup


@pytest.fixture
async def demo_archive(app: FastAPI, settings: Settings, tmp_path: Path) -> Path:
    await load_demo_village(app, settings)
    assert settings.migrate_database_url
    result = await backup(settings.migrate_database_url, settings.data_dir, tmp_path / "demo.tar")
    return result.path


def _offset(path: Path, member: str, *, prefix: bool = False) -> tuple[int, int]:
    with tarfile.open(path) as tar:
        for info in tar:
            if info.name == member or (prefix and info.name.startswith(member)):
                return info.offset_data, info.size
    raise AssertionError(member)


def _altered(source: Path, target: Path, position: int) -> Path:
    data = bytearray(source.read_bytes())
    data[position] ^= 0x01
    target.write_bytes(bytes(data))
    return target


def _refused(archive_path: Path, scratch: Path) -> str:
    scratch.mkdir()
    with pytest.raises(ArchiveDamaged) as refused:
        archive.unpack(archive_path, scratch)
    return refused.value.detail


async def test_a_truncated_archive_is_refused_and_nothing_is_written(
    demo_archive: Path, tmp_path: Path
) -> None:
    data = demo_archive.read_bytes()
    offset, size = _offset(demo_archive, "database.dump")
    for cut, where in (
        (len(data) // 2, "half"),
        (offset + size // 2, "in the dump"),
        (len(data) - 1024, "end"),
    ):
        truncated = tmp_path / f"truncated-{cut}.tar"
        truncated.write_bytes(data[:cut])
        assert "已损坏或不完整" in _refused(truncated, tmp_path / f"scratch-{cut}"), where

    # as a person runs it: exit 1, the reason, and the new data directory stays without a database
    truncated = tmp_path / "cut.tar"
    truncated.write_bytes(data[: len(data) * 2 // 3])
    target = tmp_path / "target"
    refused = await run_jifen("restore", str(truncated), env=jifen_env(target))
    assert refused.returncode == 1, refused.stdout
    assert "archive_damaged" in refused.stderr
    assert "没有写入任何数据" in refused.stderr
    assert not (target / "pgdata").exists()
    assert not (target / "photos").exists()


async def test_one_altered_byte_anywhere_is_refused(demo_archive: Path, tmp_path: Path) -> None:
    dump, dump_size = _offset(demo_archive, "database.dump")
    manifest, manifest_size = _offset(demo_archive, "manifest.json")
    photo, photo_size = _offset(demo_archive, "photos/", prefix=True)
    places = {
        "the dump": dump + dump_size // 2,
        "a photo": photo + photo_size // 2,
        "the manifest": manifest + manifest_size // 2,
        "a tar header": dump - 512 + 20,
        "the padding": photo + photo_size + (1 if photo_size % 512 else -1),
        "the end blocks": demo_archive.stat().st_size - 100,
    }
    for where, position in places.items():
        damaged = _altered(demo_archive, tmp_path / f"{where}.tar", position)
        detail = _refused(damaged, tmp_path / f"scratch {where}")
        assert "已损坏或不完整" in detail, where
    # the untouched archive passes the same check
    checked = archive.unpack(demo_archive, tmp_path / "intact")
    assert checked.manifest["files"]["database.dump"]["size"] == dump_size


async def test_restore_refuses_a_target_with_data_and_fills_an_empty_database(
    demo_archive: Path, settings: Settings, template: TestCluster, tmp_path: Path
) -> None:
    assert settings.migrate_database_url
    # the source database itself is not empty
    with pytest.raises(TargetNotEmpty) as refused:
        await restore(
            archive.unpack(demo_archive, tmp_path / "a"), settings.migrate_database_url, tmp_path / "new"
        )
    assert "已有" in refused.value.detail
    assert not (tmp_path / "new" / "photos").exists()

    # an empty database of a configured server, but a data directory that already holds photos
    name = "jifen_restore_target"
    await template.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await template.admin(f'CREATE DATABASE "{name}"')
    try:
        target_url = template.owner_url_for(name)
        with pytest.raises(TargetNotEmpty) as refused:
            await restore(archive.unpack(demo_archive, tmp_path / "b"), target_url, settings.data_dir)
        assert "照片目录" in refused.value.detail
        conn = await asyncpg.connect(driver_url(target_url))
        try:
            assert await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0
        finally:
            await conn.close()

        # both empty: restored and verified
        report = await restore(archive.unpack(demo_archive, tmp_path / "c"), target_url, tmp_path / "fresh")
        assert not report.problems
        assert any("余额与分录一致" in line for line in report.lines)
        photos = sorted(p.name for p in (tmp_path / "fresh" / "photos").rglob("*") if p.is_file())
        assert photos == sorted(p.name for p in (settings.data_dir / "photos").rglob("*") if p.is_file())
        assert photos
        # a photo lost after the restore: the verification names it
        lost = next(p for p in (tmp_path / "fresh" / "photos").rglob("*") if p.is_file())
        lost.unlink()
        with pytest.raises(VerificationFailed) as failed:
            await verify_restored(target_url, tmp_path / "fresh", RestoreReport(manifest=report.manifest))
        assert f"照片 {lost.name} 缺失" in failed.value.detail
    finally:
        shutil.rmtree(tmp_path / "fresh", ignore_errors=True)
        await template.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_server_newer_than_the_bundled_tools_is_refused_by_name() -> None:
    from jifen.backup import tools
    from jifen.backup.errors import ToolsMismatch

    tools.check_server_version(tools.tools_major() * 10000 + 1)  # the same major version is fine
    tools.check_server_version(150004)
    with pytest.raises(ToolsMismatch) as refused:
        tools.check_server_version((tools.tools_major() + 1) * 10000)
    assert f"PostgreSQL {tools.tools_major() + 1}" in refused.value.detail


async def test_restore_as_another_owner_keeps_definer_functions_with_the_owner_and_the_grants(
    settings: Settings, template: TestCluster, tmp_path: Path
) -> None:
    """A county's own server: the dump was taken as one owner, restored by another (not a superuser); every
    object then belongs to the restoring owner, a SECURITY DEFINER ledger function included, and jifen_app
    keeps exactly its grants."""
    assert settings.migrate_database_url
    source = await asyncpg.connect(driver_url(settings.migrate_database_url))
    try:
        await source.execute(
            """CREATE FUNCTION jifen_probe_post() RETURNS integer LANGUAGE sql SECURITY DEFINER
                   SET search_path = public AS 'SELECT 1';
               REVOKE ALL ON FUNCTION jifen_probe_post() FROM PUBLIC;
               GRANT EXECUTE ON FUNCTION jifen_probe_post() TO jifen_app;"""
        )
    finally:
        await source.close()
    result = await backup(settings.migrate_database_url, settings.data_dir, tmp_path / "probe.tar")
    assert "jifen_probe_post()" in result.manifest["database"]["security_definer_functions"]

    owner, name = "jifen_county_owner", "jifen_county"
    await template.admin(
        f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{owner}') THEN "
        f"CREATE ROLE {owner} LOGIN NOSUPERUSER; END IF; END $$"
    )
    await template.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await template.admin(f'CREATE DATABASE "{name}" OWNER {owner}')
    try:
        target_url = template.owner_url_for(name).replace("postgres@", f"{owner}@", 1)
        report = await restore(archive.unpack(result.path, tmp_path / "u"), target_url, tmp_path / "county")
        assert not report.problems
        conn = await asyncpg.connect(driver_url(target_url))
        try:
            function = await conn.fetchrow(
                """SELECT pg_get_userbyid(proowner) AS owner, prosecdef,
                          has_function_privilege('jifen_app', oid, 'EXECUTE') AS app_may_call
                     FROM pg_proc WHERE proname = 'jifen_probe_post'"""
            )
            assert dict(function) == {"owner": owner, "prosecdef": True, "app_may_call": True}
            assert not await conn.fetchval(
                "SELECT has_function_privilege('public', 'jifen_probe_post()', 'EXECUTE')"
            )
            assert (
                await conn.fetchval(
                    "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner <> $1", owner
                )
                == 0
            )
            # the service still reads the ledger and still may not write it but through ledger_post()
            assert await conn.fetchval("SELECT has_table_privilege('jifen_app', 'postings', 'SELECT')")
            for privilege in ("INSERT", "UPDATE"):
                assert not await conn.fetchval(
                    "SELECT has_table_privilege('jifen_app', 'postings', $1)", privilege
                )
            assert not await conn.fetchval("SELECT has_table_privilege('jifen_app', 'accounts', 'UPDATE')")
            assert await conn.fetchval(
                "SELECT has_function_privilege('jifen_app', 'ledger_post(uuid, uuid, uuid[], text[], text[],"
                " uuid[], integer[], text[], uuid[], uuid[], text[], integer[], uuid[], bigint[], bigint[])',"
                " 'EXECUTE')"
            )
        finally:
            await conn.close()
    finally:
        await template.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
