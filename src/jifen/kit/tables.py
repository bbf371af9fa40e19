"""Reading a table a village keeps in Excel: `.xlsx` (openpyxl, read-only) or `.csv` in UTF-8 or GBK (as
Excel on Chinese Windows saves it). Title rows above the header are skipped: the header is the first row
that names the required columns, by their Chinese names or a common synonym."""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from openpyxl import load_workbook

from jifen.kit.errors import BadRequest

MAX_ROWS = 5000  # a catalogue longer than this is not a catalogue
HEADER_SEARCH = 10  # the header is among the first rows


class UnreadableFile(
    BadRequest, code="unreadable_file", detail="无法读取该文件：请上传 Excel（.xlsx）或 CSV 文件"
): ...


class MissingColumns(BadRequest, code="missing_columns", detail="表格缺少必需的列"): ...


@dataclass(frozen=True)
class Table:
    sha256: str
    columns: dict[str, int]  # field → column index
    headers: list[str]  # the header row as written
    rows: list[tuple[int, list[str]]]  # (row number as Excel shows it, cells)

    def value(self, cells: Sequence[str], field: str) -> str:
        index = self.columns.get(field)
        return cells[index].strip() if index is not None and index < len(cells) else ""


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _xlsx_rows(content: bytes) -> list[list[str]]:
    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise UnreadableFile("无法读取该 Excel 文件：请用 Excel 另存为 .xlsx 后再上传") from exc
    try:
        sheet = book.worksheets[0]
        rows = []
        for row in sheet.iter_rows(values_only=True):
            rows.append([_text(v) for v in row])
            if len(rows) > MAX_ROWS + HEADER_SEARCH:
                raise UnreadableFile(f"表格超过 {MAX_ROWS} 行，请分成几个文件上传")
        return rows
    finally:
        book.close()


def _csv_rows(content: bytes) -> list[list[str]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise UnreadableFile("无法识别 CSV 文件的编码：请用 UTF-8 或 GBK 保存")
    if "\x00" in text:
        raise UnreadableFile("CSV 文件中有无法识别的字符：请用 Excel 另存为 CSV（UTF-8）")
    rows = [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text))]
    if len(rows) > MAX_ROWS + HEADER_SEARCH:
        raise UnreadableFile(f"表格超过 {MAX_ROWS} 行，请分成几个文件上传")
    return rows


def read_table(
    filename: str, content: bytes, synonyms: Mapping[str, Sequence[str]], required: Sequence[str]
) -> Table:
    """The file's first sheet as rows under its header. `synonyms` names each field's possible headers;
    every field in `required` must be found."""
    if not content:
        raise UnreadableFile("文件是空的")
    lowered = filename.lower()
    if lowered.endswith(".xlsx") or content[:2] == b"PK":
        raw = _xlsx_rows(content)
    elif lowered.endswith((".csv", ".txt")):
        raw = _csv_rows(content)
    else:
        raise UnreadableFile()
    lookup = {name.lower(): field for field, names in synonyms.items() for name in names}
    for at, row in enumerate(raw[:HEADER_SEARCH]):
        columns: dict[str, int] = {}
        for index, cell in enumerate(row):
            field = lookup.get(cell.replace(" ", "").replace("\u3000", "").lower())
            if field is not None and field not in columns:
                columns[field] = index
        if all(f in columns for f in required):
            rows = [
                (at + 2 + offset, cells)
                for offset, cells in enumerate(raw[at + 1 :])
                if any(c for c in cells)
            ]
            return Table(hashlib.sha256(content).hexdigest(), columns, row, rows)
    wanted = "、".join(synonyms[f][0] for f in required)
    raise MissingColumns(f"没有找到表头：表格需要这些列：{wanted}")
