"""The shape every catalogue import answers in: upload → preview (what would be added, changed, left alone,
and every bad row with its row number and a reason) → confirm with `apply=true`, which writes every good
row in one transaction. The same file twice changes nothing the second time."""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path
from typing import Annotated, Literal

from fastapi import File, Query, UploadFile
from pydantic import BaseModel, Field

from jifen.kit.errors import BadRequest

MAX_UPLOAD = 1024 * 1024  # a catalogue of 5,000 rows is well under this

Apply = Annotated[bool, Query(description="false (default): a dry run that writes nothing")]
Upload = Annotated[UploadFile, File(description="an .xlsx or .csv file (UTF-8 or GBK)")]


class TooLarge(BadRequest):
    code = "file_too_large"
    default_detail = "文件太大（最多 1 MB）"


class ImportRow(BaseModel):
    row: int = Field(description="the row number Excel shows")
    key: str = Field(description="the code or name the row is matched by")
    name: str
    action: Literal["add", "change", "unchanged"]
    changes: list[str] = Field(default_factory=list, description="what changes, in Chinese")


class RowError(BaseModel):
    row: int
    reason: str


class ImportResult(BaseModel):
    file_sha256: str
    applied: bool = Field(description="true: the good rows were written")
    columns: dict[str, str] = Field(description="how the header was understood: field → column header")
    add: list[ImportRow]
    change: list[ImportRow]
    unchanged: list[ImportRow]
    errors: list[RowError]


async def read_upload(file: UploadFile) -> tuple[str, bytes]:
    content = await file.read(MAX_UPLOAD + 1)
    if len(content) > MAX_UPLOAD:
        raise TooLarge()
    return file.filename or "", content


# a period as villages write it → the API's period name
PERIODS = {
    "日": "day", "天": "day", "每日": "day", "每天": "day", "day": "day",
    "周": "week", "每周": "week", "week": "week",
    "月": "month", "每月": "month", "month": "month",
    "季": "quarter", "季度": "quarter", "每季": "quarter", "quarter": "quarter",
    "年": "year", "每年": "year", "year": "year",
}  # fmt: skip


class BadRow(ValueError):
    pass


def parse_int(text: str, what: str) -> int:
    cleaned = text.replace(",", "").replace("＋", "+").replace("－", "-").replace("分", "").strip()
    try:
        return int(cleaned)
    except ValueError:
        raise BadRow(f"{what}“{text}”不是整数，请填写如 10 或 -5") from None


# ------------------------------------------------------------------------------------------ the pages' stash
# A page previews an upload, then confirms it with a second form: the file waits under the data directory,
# named by its SHA-256, until the confirm (or a day) has passed. The confirm names the hash, never a path.

STASH_HOURS = 24


def stash(data_dir: Path, content: bytes) -> str:
    folder = data_dir / "imports"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    cutoff = time.time() - STASH_HOURS * 3600
    for old in folder.iterdir():
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
    digest = hashlib.sha256(content).hexdigest()
    (folder / digest).write_bytes(content)
    return digest


def unstash(data_dir: Path, digest: str) -> bytes | None:
    """The stashed upload with this hash, or None (gone, or not a hash)."""
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        return None
    path = data_dir / "imports" / digest
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        return None
    return content if hashlib.sha256(content).hexdigest() == digest else None


def drop(data_dir: Path, digest: str) -> None:
    if re.fullmatch(r"[0-9a-f]{64}", digest):
        (data_dir / "imports" / digest).unlink(missing_ok=True)
