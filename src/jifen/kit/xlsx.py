"""Spreadsheets that open in Excel: Chinese headers in a frozen, bold first row, column widths, numbers as
numbers and times as local (Asia/Shanghai) dates and times.

Rows go through openpyxl's write-only mode, which keeps them in a temporary file instead of in memory; the
finished workbook is spooled to a temporary file too and streamed out. Large exports feed rows from a
server-side cursor in batches (`write_rows`), so a village's year of postings never sits in memory at once.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import IO, Annotated, Any, Literal
from urllib.parse import quote

import anyio.to_thread
from fastapi import Depends, Query, Request
from fastapi.responses import StreamingResponse
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from jifen.kit.timeutil import to_local

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BATCH = 1000  # rows handed to the writer thread at a time
CHUNK = 64 * 1024  # bytes per streamed piece of the finished file
SPOOL = 4 * 1024 * 1024  # a finished workbook larger than this is spooled to disk

# the spreadsheet MIME type as an OpenAPI `responses=` entry for a GET that also answers in xlsx
XLSX_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        "description": "JSON, or with `?format=xlsx` (or `Accept: " + XLSX_MEDIA_TYPE + "`) a spreadsheet",
    }
}


class Kind(StrEnum):
    text = "text"
    int = "int"  # points, counts
    money = "money"  # yuan, from fen
    datetime = "datetime"  # shown in local time
    date = "date"
    percent = "percent"  # a share 0..1


FORMATS = {
    Kind.int: "0",
    Kind.money: "#,##0.00",
    Kind.datetime: "yyyy-mm-dd hh:mm:ss",
    Kind.date: "yyyy-mm-dd",
    Kind.percent: "0.0%",
}


@dataclass(frozen=True)
class Column:
    header: str
    width: float = 12
    kind: Kind = Kind.text


@dataclass
class Sheet:
    """One worksheet: its title (≤ 31 characters), its columns, and rows as value tuples in column order.
    `rows` may be filled later with `Writer.write_rows` for a streamed export."""

    title: str
    columns: Sequence[Column]
    rows: Iterable[Sequence[Any]] = field(default_factory=list)
    notes: Sequence[str] = ()  # lines above the header (the period, who exported it); the header stays frozen


def wants_xlsx(
    request: Request,
    format: Annotated[
        Literal["json", "xlsx"] | None,
        Query(description="`xlsx`: the same table as an Excel spreadsheet (or `Accept` of the xlsx type)"),
    ] = None,
) -> bool:
    """A FastAPI dependency: does the caller want the spreadsheet instead of JSON?"""
    if format is not None:
        return format == "xlsx"
    return XLSX_MEDIA_TYPE in request.headers.get("accept", "")


XlsxWanted = Annotated[bool, Depends(wants_xlsx)]


def cell_value(value: Any, kind: Kind) -> Any:
    """What the cell holds: local naive datetimes (Excel has no zones), yuan from fen, numbers as numbers."""
    if value is None:
        return None
    if kind is Kind.datetime and isinstance(value, datetime):
        return to_local(value).replace(tzinfo=None) if value.tzinfo else value
    if kind is Kind.date and isinstance(value, datetime):
        return to_local(value).date() if value.tzinfo else value.date()
    if kind is Kind.money:
        return (Decimal(int(value)) / 100).quantize(Decimal("0.01"))
    if kind is Kind.int:
        return int(value)
    if kind is Kind.percent:
        return float(value)
    if isinstance(value, (int, float, Decimal, date)):
        return value
    return str(value)


class Writer:
    """A write-only workbook being filled; every method is synchronous (run it in a worker thread)."""

    def __init__(self) -> None:
        self.book = Workbook(write_only=True)
        self.bold = Font(bold=True)
        self._sheet: WriteOnlyWorksheet | None = None
        self._columns: Sequence[Column] = ()

    def start(self, sheet: Sheet) -> None:
        ws = self.book.create_sheet(title=sheet.title[:31])
        for index, column in enumerate(sheet.columns, start=1):
            ws.column_dimensions[get_column_letter(index)].width = column.width
        ws.freeze_panes = f"A{len(sheet.notes) + 2}"
        for note in sheet.notes:
            ws.append([note])
        header = []
        for column in sheet.columns:
            cell = WriteOnlyCell(ws, value=column.header)
            cell.font = self.bold
            cell.alignment = Alignment(horizontal="center")
            header.append(cell)
        ws.append(header)
        self._sheet, self._columns = ws, sheet.columns
        self.write_rows(sheet.rows)

    def write_rows(self, rows: Iterable[Sequence[Any]]) -> None:
        ws = self._sheet
        assert ws is not None
        columns = self._columns
        for row in rows:
            cells: list[Any] = []
            for column, value in zip(columns, row, strict=True):
                shown = cell_value(value, column.kind)
                fmt = FORMATS.get(column.kind)
                if fmt is None or shown is None:
                    cells.append(shown)
                else:
                    cell = WriteOnlyCell(ws, value=shown)
                    cell.number_format = fmt
                    cells.append(cell)
            ws.append(cells)

    def total(self, label: str, values: Sequence[Any]) -> None:
        """A bold closing row: `label` in the first column, then `values` under the columns after it."""
        ws = self._sheet
        assert ws is not None
        first = WriteOnlyCell(ws, value=label)
        first.font = self.bold
        cells = [first]
        for column, value in zip(self._columns[1:], values, strict=False):
            cell = WriteOnlyCell(ws, value=cell_value(value, column.kind))
            cell.font = self.bold
            if fmt := FORMATS.get(column.kind):
                cell.number_format = fmt
            cells.append(cell)
        ws.append(cells)

    def finish(self) -> IO[bytes]:
        out = tempfile.SpooledTemporaryFile(max_size=SPOOL)
        self.book.save(out)
        out.seek(0)
        return out


async def feed(writer: Writer, rows: AsyncIterable[Sequence[Any]]) -> int:
    """Hand rows from an async source (a server-side cursor) to the writer in batches, in a worker thread;
    returns how many rows were written."""
    batch: list[Sequence[Any]] = []
    count = 0
    async for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            await anyio.to_thread.run_sync(writer.write_rows, batch)
            count += len(batch)
            batch = []
    if batch:
        await anyio.to_thread.run_sync(writer.write_rows, batch)
        count += len(batch)
    return count


def _chunks(file: IO[bytes]) -> Iterator[bytes]:
    try:
        while piece := file.read(CHUNK):
            yield piece
    finally:
        file.close()


def disposition(filename: str) -> str:
    """An attachment named in Chinese for browsers, with an ASCII fallback for old clients."""
    return f"attachment; filename=\"export.xlsx\"; filename*=UTF-8''{quote(filename)}"


async def response(writer: Writer, filename: str) -> StreamingResponse:
    """The finished workbook as a download, streamed from its temporary file."""
    file = await anyio.to_thread.run_sync(writer.finish)
    return StreamingResponse(
        _chunks(file),
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": disposition(filename), "Cache-Control": "no-store"},
    )


async def workbook_response(sheets: Sequence[Sheet], filename: str) -> StreamingResponse:
    """A small workbook whose rows are all at hand (a ranking, a report): every sheet written, then sent."""
    writer = Writer()

    def build() -> None:
        for sheet in sheets:
            writer.start(sheet)

    await anyio.to_thread.run_sync(build)
    return await response(writer, filename)
