"""The shape every catalogue import answers in: upload → preview (what would be added, changed, left alone,
and every bad row with its row number and a reason) → confirm with `apply=true`, which writes every good
row in one transaction. The same file twice changes nothing the second time."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import APIRouter, File, Query, UploadFile
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile as StarletteUpload

from jifen.kit.errors import BadRequest, Forbidden, NotAuthenticated, NotFound, error_responses
from jifen.kit.tables import MissingColumns, Table, UnreadableFile, read_table

MAX_UPLOAD = 1024 * 1024  # a catalogue of 5,000 rows is well under this

Apply = Annotated[bool, Query(description="false (default): a dry run that writes nothing")]
Upload = Annotated[UploadFile, File(description="an .xlsx or .csv file (UTF-8 or GBK)")]


class TooLarge(BadRequest, code="file_too_large", detail="文件太大（最多 1 MB）"): ...


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


IMPORT_ERRORS = (UnreadableFile, MissingColumns, TooLarge)
IMPORT_RESPONSES = error_responses(NotAuthenticated, Forbidden, NotFound, *IMPORT_ERRORS)


def import_route(router: APIRouter, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A catalogue import's POST: it answers an `ImportResult`, refused as every import is."""
    return router.post(path, response_model=ImportResult, responses=IMPORT_RESPONSES)


M = TypeVar("M", bound=BaseModel)
Row = TypeVar("Row")  # a row as the model it describes
Existing = TypeVar("Existing")  # the record it is matched with


@dataclass
class Change(Generic[Row, Existing]):
    current: Existing
    row: Row
    fields: list[str]  # the terms that differ

    def patch(self, model: type[M]) -> M:
        """The differing terms as the catalogue's patch model."""
        return model.model_validate({k: getattr(self.row, k) for k in self.fields})


@dataclass
class Plan(Generic[Row, Existing]):
    result: ImportResult
    adds: list[Row] = field(default_factory=list)
    changes: list[Change[Row, Existing]] = field(default_factory=list)

    def audit_after(self) -> dict[str, Any]:
        """What the file's one audit event records."""
        return {"file_sha256": self.result.file_sha256, "added": len(self.adds), "changed": len(self.changes)}

    def done(self) -> ImportResult:
        self.result.applied = True
        return self.result

    async def apply(
        self,
        add: Callable[[Row], Awaitable[object]],
        change: Callable[[Change[Row, Existing]], Awaitable[object]],
        record: Callable[[Plan[Row, Existing]], Awaitable[None]],
    ) -> ImportResult:
        """Every good row written in the caller's transaction: the new ones (`add`), then the changed ones
        (`change`), then the file's one audit event (`record`, given the plan)."""
        for row in self.adds:
            await add(row)
        for changed in self.changes:
            await change(changed)
        await record(self)
        return self.done()


@dataclass(frozen=True)
class Matcher(Generic[Row, Existing]):
    """How one catalogue's rows are read and matched: `parse` a row (raising BadRow), its `key` and `name`,
    its terms compared with an existing record's, and `notes` on an unchanged term worth telling."""

    synonyms: Mapping[str, tuple[str, ...]]  # field → the headers it goes by
    required: tuple[str, ...]  # the fields a header row must name
    field_names: Mapping[str, str]  # field → its Chinese name
    term_names: Mapping[str, str]  # compared term → its Chinese name
    parse: Callable[[Table, list[str]], Row]
    key: Callable[[Row], str]
    name: Callable[[Row], str]
    row_terms: Callable[[Row], dict[str, object]]
    record_terms: Callable[[Existing], dict[str, object]]
    duplicate: Callable[[str, int], str]  # the reason for a key seen before on row n
    notes: Callable[[Existing, Row], list[str]] = lambda current, row: []

    def read(self, filename: str, content: bytes) -> Table:
        return read_table(filename, content, self.synonyms, self.required)

    async def upload(self, file: StarletteUpload) -> Table:
        return self.read(*await read_upload(file))

    def plan(self, table: Table, existing: Mapping[str, Existing]) -> Plan[Row, Existing]:
        """Every row sorted into add, change, unchanged or refused; nothing is written."""
        planned: Plan[Row, Existing] = Plan(
            ImportResult(
                file_sha256=table.sha256,
                applied=False,
                columns={self.field_names[f]: table.headers[i] for f, i in table.columns.items()},
                add=[],
                change=[],
                unchanged=[],
                errors=[],
            )
        )
        result, seen = planned.result, dict[str, int]()
        for number, cells in table.rows:
            try:
                row = self.parse(table, cells)
            except BadRow as exc:
                result.errors.append(RowError(row=number, reason=str(exc)))
                continue
            key = self.key(row)
            if key in seen:
                result.errors.append(RowError(row=number, reason=self.duplicate(key, seen[key])))
                continue
            seen[key] = number
            current = existing.get(key)
            if current is None:
                planned.adds.append(row)
                result.add.append(ImportRow(row=number, key=key, name=self.name(row), action="add"))
                continue
            now, wanted = self.record_terms(current), self.row_terms(row)
            changed = [k for k in wanted if wanted[k] != now[k]]
            shown = ImportRow(
                row=number,
                key=key,
                name=self.name(row),
                action="change" if changed else "unchanged",
                changes=[f"{self.term_names[k]}：{now[k] or '无'} → {wanted[k] or '无'}" for k in changed]
                + self.notes(current, row),
            )
            if changed:
                planned.changes.append(Change(current, row, changed))
                result.change.append(shown)
            else:
                result.unchanged.append(shown)
        return planned


async def read_upload(file: StarletteUpload) -> tuple[str, bytes]:
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


def limit_of(
    table: Table, cells: list[str], count: str, period: str, names: Mapping[str, str]
) -> dict[str, object] | None:
    """A count per period (a rule's cap, an item's limit) from its two columns; the period defaults to a
    month; None when the count is left empty. `names`: field → its Chinese name, for the reasons."""
    if not table.value(cells, count):
        return None
    period_text = table.value(cells, period) or "月"
    found = PERIODS.get(period_text.lower())
    if found is None:
        raise BadRow(f"{names[period]}“{period_text}”无法识别，请填写 日、周、月、季 或 年")
    return {"count": parse_int(table.value(cells, count), names[count]), "period": found}


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
