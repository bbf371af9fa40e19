"""Why a backup or a restore was refused; the CLI prints `error: <code>: <detail>` and exits 1."""

from __future__ import annotations

from jifen.kit.errors import JifenError


class BackupError(
    JifenError, code="backup_failed", status=500, detail="备份没有完成，原有数据没有改动；请查看日志后重试"
): ...


class ArchiveDamaged(
    JifenError,
    code="archive_damaged",
    status=400,
    detail="备份文件已损坏或不完整，没有写入任何数据；请换一份备份（例如前一天的）再恢复",
): ...


class TargetNotEmpty(
    JifenError,
    code="target_not_empty",
    status=409,
    detail="恢复的目标已有数据：恢复只写入空的数据目录或空数据库，以免覆盖现有数据",
): ...


class ToolsMismatch(
    JifenError,
    code="pg_tools_mismatch",
    status=500,
    detail="PostgreSQL 服务器的版本比 jifen 自带的 pg_dump/pg_restore 新，无法备份或恢复",
): ...


class RestoreFailed(JifenError, code="restore_failed", status=500, detail="恢复没有完成"): ...


class VerificationFailed(
    JifenError, code="restore_verification_failed", status=500, detail="恢复后的校验没有通过"
): ...
