"""Spreadsheets that open in Excel: Chinese headers in a frozen, bold first row, column widths, numbers as
numbers and times as local (Asia/Shanghai) dates and times.

Rows become SpreadsheetML as they come and go straight into a deflated zip entry of a temporary file, which
is streamed out when the workbook is done. Large exports feed rows from a server-side cursor or keyset
pages in batches (`feed`), so a village's year of postings never sits in memory at once.
"""

from __future__ import annotations

import re
import tempfile
import zipfile
from collections.abc import AsyncIterable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import IO, Annotated, Any, Literal
from urllib.parse import quote
from xml.sax.saxutils import escape

import anyio.to_thread
from fastapi import Depends, Query, Request
from fastapi.responses import StreamingResponse

from jifen.kit.timeutil import to_local, utcnow

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


def exported_note() -> str:
    """The line above a sheet's header that says when it was exported, in local time."""
    return f"导出时间：{to_local(utcnow()):%Y-%m-%d %H:%M}"


def period_note(period: str | None) -> str:
    return f"期间：{period}（北京时间）" if period else "期间：全部"


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


_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
# characters XML 1.0 cannot carry at all
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_EPOCH = datetime(1899, 12, 30)

# cell formats (cellXfs) by kind, plain and bold; the order is the styles.xml below
_NUMFMT = {Kind.text: 0, Kind.int: 1, Kind.datetime: 164, Kind.date: 165, Kind.money: 166, Kind.percent: 167}
_KINDS = list(_NUMFMT)
_STYLE = {kind: index for index, kind in enumerate(_KINDS)}
_BOLD = {kind: len(_KINDS) + index for index, kind in enumerate(_KINDS)}


def _xf(kind: Kind, font: int) -> str:
    applied = (' applyNumberFormat="1"' if _NUMFMT[kind] else "") + (' applyFont="1"' if font else "")
    return f'<xf numFmtId="{_NUMFMT[kind]}" fontId="{font}" fillId="0" borderId="0" xfId="0"{applied}/>'


_STYLES = (
    _HEAD + f'<styleSheet xmlns="{_MAIN}">'
    '<numFmts count="4"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm:ss"/>'
    '<numFmt numFmtId="165" formatCode="yyyy-mm-dd"/><numFmt numFmtId="166" formatCode="#,##0.00"/>'
    '<numFmt numFmtId="167" formatCode="0.0%"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    f'<cellXfs count="{2 * len(_KINDS)}">'
    + "".join(_xf(k, font) for font in (0, 1) for k in _KINDS)
    + '</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


def _column(index: int) -> str:
    """A, B, … Z, AA, … for a 0-based column index."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def _text_cell(ref: str, text: str, style: int) -> str:
    clean = escape(_ILLEGAL.sub("", text))
    space = ' xml:space="preserve"' if clean != clean.strip() else ""
    styled = f' s="{style}"' if style else ""
    return f'<c r="{ref}" t="inlineStr"{styled}><is><t{space}>{clean}</t></is></c>'


def _cell(ref: str, value: Any, kind: Kind, bold: bool) -> str:
    """One cell's XML: numbers as numbers, dates as Excel serial days in local time, the rest as text."""
    style = (_BOLD if bold else _STYLE)[kind]
    if isinstance(value, bool):
        value = "是" if value else "否"
    if isinstance(value, datetime):
        serial = (value - _EPOCH).total_seconds() / 86400
        return f'<c r="{ref}" s="{_BOLD[kind] if bold else _STYLE[kind]}"><v>{serial!r}</v></c>'
    if isinstance(value, date):
        serial = (datetime(value.year, value.month, value.day) - _EPOCH).days
        return f'<c r="{ref}" s="{(_BOLD if bold else _STYLE)[Kind.date]}"><v>{serial}</v></c>'
    if isinstance(value, (int, float, Decimal)):
        styled = f' s="{style}"' if style else ""
        return f'<c r="{ref}"{styled}><v>{value}</v></c>'
    return _text_cell(ref, str(value), (_BOLD if bold else _STYLE)[Kind.text])


class Writer:
    """A workbook written as it goes: each row becomes XML in a deflated zip entry at once, so nothing but the
    current batch is ever in memory. Every method is synchronous (run it in a worker thread). SpreadsheetML
    by hand rather than openpyxl's write-only mode: openpyxl spends about a millisecond a row, which is two
    minutes for a village's year of postings; this writes the same rows in seconds."""

    def __init__(self) -> None:
        self._file = tempfile.SpooledTemporaryFile(max_size=SPOOL)
        self._zip = zipfile.ZipFile(self._file, "w", zipfile.ZIP_DEFLATED, compresslevel=6)
        self._titles: list[str] = []
        self._sheet: IO[bytes] | None = None
        self._columns: Sequence[Column] = ()
        self._refs: list[str] = []
        self._row = 0

    def start(self, sheet: Sheet) -> None:
        """Begin a worksheet: its notes, then its bold header row, frozen, with the columns' widths."""
        self._end_sheet()
        title = _ILLEGAL.sub("", re.sub(r"[\\/*?:\[\]]", " ", sheet.title))[:31] or "Sheet"
        self._titles.append(title)
        self._sheet = self._zip.open(f"xl/worksheets/sheet{len(self._titles)}.xml", "w", force_zip64=True)
        self._columns = sheet.columns
        self._refs = [_column(i) for i in range(len(sheet.columns))]
        self._row = 0
        header_row = len(sheet.notes) + 1
        cols = "".join(
            f'<col min="{i}" max="{i}" width="{c.width}" customWidth="1"/>'
            for i, c in enumerate(sheet.columns, start=1)
        )
        self._put(
            _HEAD + f'<worksheet xmlns="{_MAIN}" xmlns:r="{_REL}"><sheetViews><sheetView workbookViewId="0">'
            f'<pane ySplit="{header_row}" topLeftCell="A{header_row + 1}" activePane="bottomLeft" '
            f'state="frozen"/><selection pane="bottomLeft" activeCell="A{header_row + 1}" '
            f'sqref="A{header_row + 1}"/></sheetView></sheetViews><sheetFormatPr defaultRowHeight="15"/>'
            f"<cols>{cols}</cols><sheetData>"
        )
        for note in sheet.notes:
            self._row += 1
            self._put(f'<row r="{self._row}">{_text_cell(f"A{self._row}", note, 0)}</row>')
        self._row += 1
        self._put(
            f'<row r="{self._row}">'
            + "".join(
                _text_cell(f"{ref}{self._row}", c.header, _BOLD[Kind.text])
                for ref, c in zip(self._refs, sheet.columns, strict=True)
            )
            + "</row>"
        )
        self.write_rows(sheet.rows)

    def _put(self, xml: str) -> None:
        assert self._sheet is not None
        self._sheet.write(xml.encode("utf-8"))

    def write_rows(self, rows: Iterable[Sequence[Any]], *, bold: bool = False) -> None:
        parts: list[str] = []
        for row in rows:
            self._row += 1
            number = self._row
            cells = [
                _cell(f"{ref}{number}", shown, column.kind, bold)
                for ref, column, value in zip(self._refs, self._columns, row, strict=True)
                if (shown := cell_value(value, column.kind)) is not None
            ]
            parts.append(f'<row r="{number}">{"".join(cells)}</row>')
        if parts:
            self._put("".join(parts))

    def total(self, label: str, values: Sequence[Any]) -> None:
        """A bold closing row: `label` in the first column, then `values` under the columns after it."""
        padded = [label, *values, *[None] * (len(self._columns) - 1 - len(values))]
        first, *rest = self._columns
        saved = self._columns
        self._columns = [Column(first.header, first.width), *rest]
        try:
            self.write_rows([padded], bold=True)
        finally:
            self._columns = saved

    def _end_sheet(self) -> None:
        if self._sheet is not None:
            self._put("</sheetData></worksheet>")
            self._sheet.close()
            self._sheet = None

    def finish(self) -> IO[bytes]:
        """Close the last sheet, write the workbook's parts, and hand back the file from its start."""
        self._end_sheet()
        count = len(self._titles)
        sheets = "".join(
            f'<sheet name="{escape(t, {chr(34): "&quot;"})}" sheetId="{i}" r:id="rId{i}"/>'
            for i, t in enumerate(self._titles, start=1)
        )
        parts = {
            "[Content_Types].xml": _HEAD
            + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/styles.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            + "".join(
                f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
                'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                for i in range(1, count + 1)
            )
            + "</Types>",
            "_rels/.rels": _HEAD + f'<Relationships xmlns="{_PKG}"><Relationship Id="rId1" '
            f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
            "xl/workbook.xml": _HEAD + f'<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>{sheets}</sheets>'
            "</workbook>",
            "xl/_rels/workbook.xml.rels": _HEAD
            + f'<Relationships xmlns="{_PKG}">'
            + "".join(
                f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
                for i in range(1, count + 1)
            )
            + f'<Relationship Id="rId{count + 1}" Type="{_REL}/styles" Target="styles.xml"/></Relationships>',
            "xl/styles.xml": _STYLES,
        }
        for name, xml in parts.items():
            self._zip.writestr(name, xml)
        self._zip.close()
        self._file.seek(0)
        return self._file


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
