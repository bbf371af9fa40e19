"""The shape every catalogue import answers in: upload → preview (what would be added, changed, left alone,
and every bad row with its row number and a reason) → confirm with `apply=true`, which writes every good
row in one transaction. The same file twice changes nothing the second time."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import File, Query, UploadFile
from pydantic import BaseModel, Field

from jifen.kit.errors import BadRequest
from jifen.models import Period

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


PERIODS = {
    "日": Period.day, "天": Period.day, "每日": Period.day, "每天": Period.day, "day": Period.day,
    "周": Period.week, "每周": Period.week, "week": Period.week,
    "月": Period.month, "每月": Period.month, "month": Period.month,
    "季": Period.quarter, "季度": Period.quarter, "每季": Period.quarter, "quarter": Period.quarter,
    "年": Period.year, "每年": Period.year, "year": Period.year,
}  # fmt: skip


class BadRow(ValueError):
    pass


def parse_int(text: str, what: str) -> int:
    cleaned = text.replace(",", "").replace("＋", "+").replace("－", "-").replace("分", "").strip()
    try:
        return int(cleaned)
    except ValueError:
        raise BadRow(f"{what}“{text}”不是整数，请填写如 10 或 -5") from None
