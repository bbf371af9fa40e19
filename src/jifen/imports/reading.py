"""Reading a household roll (花名册) as villages keep it: an `.xlsx` workbook, or a `.csv` saved by Excel in
UTF-8 (with or without a BOM) or in GBK, as Excel on Chinese Windows saves it.

Every cell comes back as text (or None when empty): a whole number Excel stored as a float (13800000000.0)
reads as "13800000000". Nothing here knows what the columns mean; see `imports/roll.py`.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO
from xml.etree import ElementTree
from xml.parsers import expat

from jifen.kit.errors import BadRequest

MAX_ROWS = 50_000  # more than any village's roll; a bigger sheet is refused, not read
MAX_COLUMNS = 40
MAX_UNPACKED_BYTES = 256 * 1024 * 1024  # a 50,000-row roll unpacks to about 30 MB


class UnsupportedFile(
    BadRequest, code="unsupported_file", detail="只能导入 Excel 的 .xlsx 文件或 .csv 文件"
): ...


class TooManyRows(BadRequest, code="too_many_rows", detail=f"表格超过 {MAX_ROWS} 行，请分成几个文件导入"): ...


@dataclass(frozen=True)
class Sheet:
    name: str
    # (row number as Excel shows it, the cells of the row)
    rows: list[tuple[int, list[str | None]]]


def _text(value: object) -> str | None:
    if value is None:
        return None
    if type(value) is str:
        text = value.replace("\u3000", " ").strip()
        return text or None
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).replace("\u3000", " ").strip()
    return text or None


def read_sheets(data: bytes, file_name: str) -> list[Sheet]:
    """The sheets of the file, by its content (a ZIP is a workbook) rather than its name."""
    if not data.strip():
        raise UnsupportedFile("文件是空的")
    if data[:4] == b"PK\x03\x04":
        return _read_xlsx(data)
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":  # the old binary .xls
        raise UnsupportedFile("这是旧版 Excel（.xls）文件：请在 Excel 中“另存为” .xlsx 格式后再导入")
    if b"\x00" in data[:4096]:
        raise UnsupportedFile(
            f"{file_name or '该文件'} 不是 .xlsx 或 .csv 表格，请用 Excel 另存为 .xlsx 后再导入"
        )
    return [_read_csv(data)]


_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_MAIN = "{" + _MAIN_NS + "}"
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PACKAGE_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"


def _read_xlsx(data: bytes) -> list[Sheet]:
    """The workbook's sheets. The sheet XML is streamed with expat (about three times as fast as
    openpyxl's reader, which a 20,000-household roll notices); a workbook laid out in a way this reader
    does not know is read by openpyxl instead."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise _damaged() from exc
    if sum(member.file_size for member in archive.infolist()) > MAX_UNPACKED_BYTES:
        raise UnsupportedFile("这个 Excel 文件解压后太大，不像是花名册：请只保留花名册的工作表后再导入")
    try:
        return _stream_xlsx(archive)
    except (TooManyRows, UnsupportedFile):
        raise
    except (
        KeyError,
        ValueError,
        IndexError,
        ElementTree.ParseError,
        expat.ExpatError,
        zipfile.BadZipFile,
        OSError,
    ):
        return _openpyxl_xlsx(data)


def _column_index(letters: str) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - ord("A") + 1
    return index - 1


def _damaged() -> UnsupportedFile:
    return UnsupportedFile("无法打开这个 Excel 文件，它可能已损坏：请在 Excel 中打开并另存为 .xlsx")


def _stream_xlsx(archive: zipfile.ZipFile) -> list[Sheet]:
    names = set(archive.namelist())
    shared: list[str | None] = []
    if "xl/sharedStrings.xml" in names:
        with archive.open("xl/sharedStrings.xml") as stream:
            for _, element in ElementTree.iterparse(stream):
                if element.tag == _MAIN + "si":
                    shared.append(_text("".join(t.text or "" for t in element.iter(_MAIN + "t"))))
                    element.clear()
    targets = {
        rel.get("Id"): rel.get("Target", "")
        for rel in ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
        if rel.tag == _PACKAGE_REL + "Relationship"
    }
    workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    sheets: list[Sheet] = []
    for entry in workbook.iter(_MAIN + "sheet"):
        target = targets[entry.get(_REL + "id")].lstrip("/")
        path = target if target.startswith("xl/") else "xl/" + target
        with archive.open(path) as stream:
            sheets.append(Sheet(name=entry.get("name", ""), rows=_SheetRows(shared).read(stream)))
    return sheets


class _SheetRows:
    """One worksheet's rows from expat's callbacks: no element objects are built, which makes a
    20,000-row sheet read in about 60% of the time ElementTree's iterparse takes."""

    _ROW, _CELL, _VALUE, _TEXT = (_MAIN_NS + " " + tag for tag in ("row", "c", "v", "t"))

    def __init__(self, shared: list[str | None]) -> None:
        self.shared = shared
        self.rows: list[tuple[int, list[str | None]]] = []
        self.number = 0
        self.cells: list[str | None] = []
        self.index = 0
        self.kind: str | None = None
        self.text: list[str] = []
        self.collecting = False

    def read(self, stream: IO[bytes]) -> list[tuple[int, list[str | None]]]:
        parser = expat.ParserCreate(namespace_separator=" ")
        parser.buffer_text = True
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._characters
        parser.ParseFile(stream)
        return self.rows

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        if name == self._CELL:
            ref = attributes.get("r")
            self.index = _column_of(ref) if ref else len(self.cells)
            self.kind = attributes.get("t")
            self.text.clear()
        elif name in (self._VALUE, self._TEXT):
            self.collecting = True
        elif name == self._ROW:
            self.number = int(attributes.get("r") or self.number + 1)
            if self.number > MAX_ROWS + 20:
                raise TooManyRows()
            self.cells = []

    def _characters(self, data: str) -> None:
        if self.collecting:
            self.text.append(data)

    def _end(self, name: str) -> None:
        if name in (self._VALUE, self._TEXT):
            self.collecting = False
        elif name == self._CELL:
            if 0 <= self.index < MAX_COLUMNS:
                self.cells.extend([None] * (self.index - len(self.cells)))
                self.cells.append(self._value("".join(self.text) if self.text else None))
        elif name == self._ROW and any(self.cells):
            self.rows.append((self.number, self.cells))

    def _value(self, raw: str | None) -> str | None:
        kind = self.kind
        if kind == "inlineStr":
            return _text(raw or "")
        if raw is None:
            return None
        if kind == "s":
            return self.shared[int(raw)]  # already through _text
        if kind in ("str", "e"):
            return _text(raw)
        if kind == "b":
            return _text(raw == "1")
        if raw.isdigit() and raw.isascii():
            return raw.lstrip("0") or "0"
        return _text(float(raw) if any(ch in raw for ch in ".eE") else int(raw))


_COLUMNS: dict[str, int] = {}


def _column_of(ref: str) -> int:
    """ "C12" → 2; -1 for a reference that is none."""
    letters = ref.rstrip("0123456789")
    index = _COLUMNS.get(letters)
    if index is None:
        valid = 1 <= len(letters) <= 3 and letters.isascii() and letters.isalpha() and letters.isupper()
        index = _column_index(letters) if valid else -1
        if len(_COLUMNS) < 1000:
            _COLUMNS[letters] = index
    return index


def _openpyxl_xlsx(data: bytes) -> list[Sheet]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds on a damaged or foreign workbook
        raise _damaged() from exc
    sheets: list[Sheet] = []
    try:
        for worksheet in workbook.worksheets:
            rows: list[tuple[int, list[str | None]]] = []
            # a sheet's own dimension, when it gives one, spares reading (and padding) empty columns
            width = min(worksheet.max_column or MAX_COLUMNS, MAX_COLUMNS)
            for number, values in enumerate(worksheet.iter_rows(max_col=width, values_only=True), start=1):
                if number > MAX_ROWS + 20:
                    raise TooManyRows()
                cells = [_text(v) for v in values]
                if any(cells):
                    rows.append((number, cells))
            sheets.append(Sheet(name=worksheet.title, rows=rows))
    except TooManyRows:
        raise
    except Exception as exc:
        raise _damaged() from exc
    finally:
        workbook.close()
    return sheets


def decode_text(data: bytes) -> str:
    """UTF-8 (a BOM or not) when it decodes as such, else GB18030 (a superset of GBK and GB2312)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise UnsupportedFile("无法识别 CSV 文件的编码：请在 Excel 中另存为“CSV UTF-8”或 .xlsx") from exc


def _read_csv(data: bytes) -> Sheet:
    text = decode_text(data)
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", "\t", ";"), key=first_line.count)
    rows: list[tuple[int, list[str | None]]] = []
    try:
        for number, values in enumerate(
            csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), start=1
        ):
            if number > MAX_ROWS + 20:
                raise TooManyRows()
            cells = [_text(v) for v in values[:MAX_COLUMNS]]
            if any(cells):
                rows.append((number, cells))
    except csv.Error as exc:  # a cell longer than the csv module's limit, a stray NUL
        raise UnsupportedFile("无法读取这个 CSV 文件：请在 Excel 中打开并另存为 .xlsx 或“CSV UTF-8”") from exc
    return Sheet(name="CSV", rows=rows)


def column_letter(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA: the column as Excel names it."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters
