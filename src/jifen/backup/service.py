"""`jifen backup` and `jifen restore`: what goes into the archive, and how a restore proves it is whole.

A backup reads the database in one snapshot: the manifest (chain heads, counts, the photos, the service
role's grants) is computed inside a REPEATABLE READ transaction whose snapshot pg_dump shares
(`--snapshot`), so the dump and the manifest describe the same moment even while awards are being posted.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import asyncpg
import structlog

from jifen.audit import chain
from jifen.backup import archive, tools
from jifen.backup.errors import BackupError, RestoreFailed, TargetNotEmpty, VerificationFailed
from jifen.kit.db import normalise_url
from jifen.kit.embedded import APP_ROLE
from jifen.photos.service import photo_path

log = structlog.get_logger(__name__)


def _driver_url(url: str) -> str:
    return normalise_url(url).replace("postgresql+asyncpg://", "postgresql://", 1)


def _jifen_version() -> str:
    try:
        return version("jifen")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
        return "unknown"


_GRANTS = """
SELECT 'schema ' || n.nspname || ' ' || a.privilege_type AS grant
  FROM pg_namespace n CROSS JOIN LATERAL aclexplode(n.nspacl) a
 WHERE n.nspname = 'public' AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = $1)
UNION ALL
SELECT 'relation ' || c.relname || ' ' || a.privilege_type
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
 CROSS JOIN LATERAL aclexplode(c.relacl) a
 WHERE a.grantee = (SELECT oid FROM pg_roles WHERE rolname = $1)
UNION ALL
SELECT 'function ' || p.oid::regprocedure::text || ' ' || a.privilege_type
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace AND n.nspname = 'public'
 CROSS JOIN LATERAL aclexplode(p.proacl) a
 WHERE a.grantee = (SELECT oid FROM pg_roles WHERE rolname = $1)
ORDER BY 1
"""

# SECURITY DEFINER functions run with their owner's rights: they must belong to the schema owner (the role
# owning the ledger tables), never to the service role, or the service role could rewrite them
_DEFINER_OWNERS = """
SELECT p.oid::regprocedure::text AS function, pg_get_userbyid(p.proowner) AS owner,
       pg_get_userbyid((SELECT relowner FROM pg_class WHERE oid = 'public.accounts'::regclass))
         AS schema_owner
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace AND n.nspname = 'public'
 WHERE p.prosecdef
 ORDER BY 1
"""


async def _village_facts(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """Per chain scope (each village, and the town's records): the chain head and what it holds."""
    names = await chain.village_names(conn)
    facts = []
    for scope in await chain.scopes(conn):
        code, name = names.get(scope, ("TOWN", "镇级记录"))
        head = await conn.fetchrow(
            "SELECT seq, link_hash FROM chain_links WHERE scope = $1 ORDER BY seq DESC LIMIT 1", scope
        )
        counts = await conn.fetchrow(
            """
            SELECT (SELECT count(*) FROM households WHERE village_id = $1) AS households,
                   (SELECT count(*) FROM ledger_transactions WHERE village_id = $1) AS transactions,
                   (SELECT count(*) FROM postings WHERE village_id = $1) AS postings,
                   (SELECT count(*) FROM audit_events WHERE scope = $1) AS audit_events,
                   (SELECT count(*) FROM photos WHERE village_id = $1) AS photos,
                   (SELECT coalesce(sum(posted), 0) FROM accounts
                     WHERE village_id = $1 AND kind = 'household') AS household_points
            """,
            scope,
        )
        facts.append(
            {
                "scope": str(scope),
                "code": code,
                "name": name,
                "chain_seq": head["seq"] if head else 0,
                "chain_head": bytes(head["link_hash"]).hex() if head else None,
                "counts": {key: int(value) for key, value in dict(counts).items()},
            }
        )
    return facts


@dataclass
class BackupResult:
    path: Path
    manifest: dict[str, Any]
    size: int
    seconds: float


async def backup(owner_url: str, data_dir: Path, target: Path) -> BackupResult:
    """Write one archive of the database (as the schema owner) and the photo store to `target`."""
    started = time.perf_counter()
    target = target.resolve()
    if target.exists():
        raise BackupError(f"{target} 已经存在：请换一个文件名，以免覆盖已有的备份")
    if not target.parent.is_dir():
        raise BackupError(f"目录 {target.parent} 不存在：请先建好存放备份的目录")
    conn = await asyncpg.connect(_driver_url(owner_url))
    writer = archive.ArchiveWriter(target)
    try:
        tools.check_server_version(int(await conn.fetchval("SHOW server_version_num")))
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
            manifest: dict[str, Any] = {
                "format": archive.FORMAT,
                "jifen_version": _jifen_version(),
                "created_at": (await conn.fetchval("SELECT now()")).astimezone(UTC).isoformat(),
                "database": {
                    "server_version": await conn.fetchval("SHOW server_version"),
                    "migration_revision": await conn.fetchval("SELECT version_num FROM alembic_version"),
                    "app_role": APP_ROLE,
                    "app_role_grants": [row["grant"] for row in await conn.fetch(_GRANTS, APP_ROLE)],
                    "security_definer_functions": [
                        row["function"] for row in await conn.fetch(_DEFINER_OWNERS)
                    ],
                },
                "villages": await _village_facts(conn),
                "secret_key_included": False,
            }
            photos = await conn.fetch("SELECT DISTINCT sha256, size FROM photos ORDER BY sha256")
            with tempfile.TemporaryDirectory(prefix=".jifen-dump-", dir=target.parent) as scratch:
                dump = Path(scratch) / archive.DUMP
                # the dump runs while this transaction holds the snapshot open
                try:
                    await tools.run(
                        "pg_dump",
                        "--format=custom",
                        f"--snapshot={snapshot}",
                        f"--file={dump}",
                        url=owner_url,
                    )
                except RuntimeError as exc:
                    raise BackupError(f"pg_dump 没有完成，没有写出备份：{exc}") from exc
                await asyncio.to_thread(writer.add_file, archive.DUMP, dump)
        for row in photos:
            source = photo_path(data_dir, row["sha256"])
            if not source.is_file():
                raise BackupError(
                    f"照片 {row['sha256']} 在照片目录 {data_dir / 'photos'} 中找不到："
                    "请先把照片目录找回来再备份"
                )
            name = f"photos/{row['sha256'][:2]}/{row['sha256']}"
            try:
                await asyncio.to_thread(writer.add_file, name, source, expected_sha256=row["sha256"])
            except ValueError as exc:
                raise BackupError(f"照片 {row['sha256']} 的内容与它的 SHA-256 不符（文件已损坏）") from exc
        manifest["files"] = writer.files
        writer.add_manifest(manifest)
        await asyncio.to_thread(writer.commit)
    except BaseException:
        writer.abort()
        raise
    finally:
        await conn.close()
    result = BackupResult(target, manifest, target.stat().st_size, time.perf_counter() - started)
    log.info(
        "backup_written",
        path=str(target),
        bytes=result.size,
        photos=len(photos),
        seconds=round(result.seconds, 2),
    )
    return result


@dataclass
class RestoreReport:
    manifest: dict[str, Any]
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


async def _relations(conn: asyncpg.Connection) -> int:
    count: int = await conn.fetchval(
        """SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')"""
    )
    return count


def _photo_files(data_dir: Path) -> list[Path]:
    photos = data_dir / "photos"
    return [path for path in photos.rglob("*") if path.is_file()] if photos.is_dir() else []


def check_photo_store_empty(data_dir: Path) -> None:
    found = _photo_files(data_dir)
    if found:
        raise TargetNotEmpty(
            f"照片目录 {data_dir / 'photos'} 里已有 {len(found)} 个文件：恢复只写入空的数据目录；"
            "请换一个新的数据目录（JIFEN_DATA_DIR）"
        )


async def restore(unpacked: archive.Unpacked, owner_url: str, data_dir: Path) -> RestoreReport:
    """Restore a checked archive into an empty database and photo store, then verify what was restored."""
    report = RestoreReport(manifest=unpacked.manifest)
    check_photo_store_empty(data_dir)
    conn = await asyncpg.connect(_driver_url(owner_url))
    try:
        tools.check_server_version(int(await conn.fetchval("SHOW server_version_num")))
        existing = await _relations(conn)
        if existing:
            database = await conn.fetchval("SELECT current_database()")
            raise TargetNotEmpty(
                f"数据库 {database} 里已有 {existing} 张表或序列：恢复只写入空的数据库，以免覆盖现有数据；"
                "请新建一个空数据库，或换一个新的数据目录（JIFEN_DATA_DIR）"
            )
        app_role = unpacked.manifest["database"]["app_role"]
        if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", app_role):
            raise RestoreFailed(
                f"数据库服务器上没有角色 {app_role}：请先以管理员身份执行"
                f" CREATE ROLE {app_role} LOGIN PASSWORD '…'"
                "（见 README），再恢复"
            )
    finally:
        await conn.close()
    started = time.perf_counter()
    try:
        # --no-owner: everything belongs to the restoring role (the schema owner, as when migrating), so the
        # SECURITY DEFINER functions keep running with the owner's rights; the grants to jifen_app come back
        await tools.run(
            "pg_restore",
            "--no-owner",
            "--single-transaction",
            "--exit-on-error",
            f"--dbname={tools.libpq_env(owner_url)['PGDATABASE']}",
            str(unpacked.dump),
            url=owner_url,
        )
    except RuntimeError as exc:
        raise RestoreFailed(f"pg_restore 没有完成，数据库保持为空：{exc}") from exc
    report.lines.append(f"数据库已恢复（{time.perf_counter() - started:.1f} 秒）")
    moved = 0
    for sha256, source in unpacked.photos():
        destination = photo_path(data_dir, sha256)
        destination.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(shutil.move, source, destination)
        moved += 1
    report.lines.append(f"照片已放回：{moved} 个文件，在 {data_dir / 'photos'}")
    await verify_restored(owner_url, data_dir, report)
    return report


async def verify_restored(owner_url: str, data_dir: Path, report: RestoreReport) -> RestoreReport:
    """The chain, the balances, the grants, every photo's hash and the manifest's chain heads; problems are
    listed in order, the first one is what a refusal names."""
    conn = await asyncpg.connect(_driver_url(owner_url))
    try:
        await _verify_villages(conn, report)
        await _verify_balances(conn, report)
        await _verify_grants(conn, report)
        photos = await conn.fetch("SELECT DISTINCT sha256, size FROM photos ORDER BY sha256")
    finally:
        await conn.close()
    await _verify_photos(data_dir, photos, report)
    if report.problems:
        raise VerificationFailed(
            f"恢复后的校验没有通过：{report.problems[0]}（共 {len(report.problems)} 个问题）",
            problems=report.problems,
        )
    return report


async def _verify_villages(conn: Any, report: RestoreReport) -> None:
    """Each village of the manifest: there, its chain intact, its head and its counts as when backed up."""
    facts = {fact["scope"]: fact for fact in await _village_facts(conn)}
    for expected in report.manifest["villages"]:
        label = f"{expected['code']} {expected['name']}"
        restored = facts.get(expected["scope"])
        if restored is None:
            report.problems.append(f"{label}: 恢复后的数据库里没有这个村")
            continue
        verdict = await chain.verify(conn, uuid.UUID(expected["scope"]))
        if not verdict.ok:
            bad = verdict.first_bad or {}
            report.problems.append(
                f"{label}: 防篡改链在 {bad.get('kind')} {bad.get('id')} 处断开（{bad.get('problem')}）"
            )
        elif (restored["chain_seq"], restored["chain_head"]) != (
            expected["chain_seq"],
            expected["chain_head"],
        ):
            report.problems.append(
                f"{label}: 链头 {restored['chain_head']}（第 {restored['chain_seq']} 条）与备份清单的"
                f" {expected['chain_head']}（第 {expected['chain_seq']} 条）不符"
            )
        if restored["counts"] != expected["counts"]:
            report.problems.append(
                f"{label}: 记录数与备份清单不符：恢复后 {restored['counts']}，清单 {expected['counts']}"
            )
        report.lines.append(
            f"{label}: 链完整，{verdict.checked} 条已链接记录，链头 {restored['chain_head'] or '-'}，"
            f"{restored['counts']['households']} 户，户积分合计 {restored['counts']['household_points']}"
        )


async def _verify_balances(conn: Any, report: RestoreReport) -> None:
    """Every household's balance is the sum of its postings, and every transaction's postings sum to zero."""
    unbalanced = await conn.fetchrow(
        """SELECT a.id, a.posted, coalesce(sum(p.amount), 0) AS postings
             FROM accounts a LEFT JOIN postings p ON p.village_id = a.village_id AND p.account_id = a.id
            WHERE a.kind = 'household'
            GROUP BY a.village_id, a.id HAVING a.posted <> coalesce(sum(p.amount), 0) LIMIT 1"""
    )
    if unbalanced is not None:
        report.problems.append(
            f"账户 {unbalanced['id']} 的余额 {unbalanced['posted']}"
            f" 与其分录合计 {unbalanced['postings']} 不符"
        )
    lopsided = await conn.fetchval(
        "SELECT transaction_id FROM postings GROUP BY village_id, transaction_id"
        " HAVING sum(amount) <> 0 LIMIT 1"
    )
    if lopsided is not None:
        report.problems.append(f"交易 {lopsided} 的分录合计不为零")
    if unbalanced is None and lopsided is None:
        report.lines.append("余额与分录一致，每笔交易的分录合计为零")


async def _verify_grants(conn: Any, report: RestoreReport) -> None:
    """The service role holds exactly the grants it held when backed up; the SECURITY DEFINER functions belong
    to the schema's owner."""
    database = report.manifest["database"]
    grants = [row["grant"] for row in await conn.fetch(_GRANTS, database["app_role"])]
    if set(grants) != set(database["app_role_grants"]):
        missing = sorted(set(database["app_role_grants"]) - set(grants))
        extra = sorted(set(grants) - set(database["app_role_grants"]))
        report.problems.append(
            f"{database['app_role']} 的权限与备份时不同：缺少 {missing[:3]}，多出 {extra[:3]}"
        )
    for row in await conn.fetch(_DEFINER_OWNERS):
        if row["owner"] != row["schema_owner"] or row["owner"] == database["app_role"]:
            report.problems.append(
                f"SECURITY DEFINER 函数 {row['function']} 属于 {row['owner']}，应属于 {row['schema_owner']}"
            )
    if set(grants) == set(database["app_role_grants"]):
        report.lines.append(f"{database['app_role']} 的权限与备份时一致（{len(grants)} 项）")


async def _verify_photos(data_dir: Path, photos: Sequence[Any], report: RestoreReport) -> None:
    """Every photo the database names is on disk with the bytes its SHA-256 says."""
    bad_photos = 0
    for row in photos:
        path = photo_path(data_dir, row["sha256"])
        if not path.is_file():
            report.problems.append(f"照片 {row['sha256']} 缺失")
            bad_photos += 1
            continue
        digest, size = await asyncio.to_thread(archive.file_digest, path)
        if digest != row["sha256"] or size != row["size"]:
            report.problems.append(f"照片 {row['sha256']} 的内容与其 SHA-256 不符")
            bad_photos += 1
    report.lines.append(
        f"照片校验：{len(photos)} 张，"
        + ("SHA-256 全部一致" if not bad_photos else f"{bad_photos} 张缺失或内容不符")
    )


def scratch_directory() -> Path:
    return Path(tempfile.mkdtemp(prefix="jifen-restore-"))
