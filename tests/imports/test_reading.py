"""Reading rolls as Excel and WPS save them, without a database: shared strings (what Excel writes, where
openpyxl writes inline strings), rich text runs, numbers stored as floats, empty cells skipped in the XML,
and what openpyxl itself reads from the same file."""

from __future__ import annotations

import io
import zipfile

import pytest

from jifen.imports.reading import UnsupportedFile, _openpyxl_xlsx, read_sheets
from jifen.imports.roll import find_tables, normalise_phone, read_roll

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


SML = "application/vnd.openxmlformats-officedocument.spreadsheetml"
PACKAGE = "http://schemas.openxmlformats.org/package/2006"
RELATIONSHIP = f"{REL}/"


def _part(name: str, kind: str) -> str:
    return f'<Override PartName="/{name}" ContentType="{SML}.{kind}+xml"/>'


def _relationship(number: int, kind: str, target: str) -> str:
    return f'<Relationship Id="rId{number}" Type="{RELATIONSHIP}{kind}" Target="{target}"/>'


def _excel_like() -> bytes:
    """A workbook laid out as Excel writes it: every text in xl/sharedStrings.xml."""
    strings = ["幸福村花名册", "户号", "户主", "电话", "住址", "XF-001", "王建国"]
    shared = "".join(f"<si><t>{s}</t></si>" for s in strings)
    shared += '<si><r><t>一组</t></r><r><rPr><b/></rPr><t xml:space="preserve"> 12号</t></r></si>'
    shared += "<si><t>一组 &amp; 二组</t></si>"
    cells = [
        '<row r="1"><c r="A1" t="s"><v>0</v></c></row>',
        '<row r="3"><c r="A3" t="s"><v>1</v></c><c r="B3" t="s"><v>2</v></c>',
        '<c r="C3" t="s"><v>3</v></c><c r="E3" t="s"><v>4</v></c></row>',
        '<row r="4"><c r="A4" t="s"><v>5</v></c><c r="B4" t="s"><v>6</v></c>',
        '<c r="C4"><v>13800000000</v></c><c r="E4" t="s"><v>7</v></c></row>',
        '<row r="5"><c r="A5"><v>2.0</v></c><c r="B5" t="s"><v>8</v></c>',
        '<c r="C5"><v>1.3800000001E10</v></c></row>',
    ]
    files = {
        "[Content_Types].xml": (
            f'<Types xmlns="{PACKAGE}/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships'
            '+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            + _part("xl/workbook.xml", "sheet.main")
            + _part("xl/worksheets/sheet1.xml", "worksheet")
            + _part("xl/sharedStrings.xml", "sharedStrings")
            + "</Types>"
        ),
        "_rels/.rels": (
            f'<Relationships xmlns="{PACKAGE}/relationships">'
            + _relationship(1, "officeDocument", "xl/workbook.xml")
            + "</Relationships>"
        ),
        "xl/workbook.xml": (
            f'<workbook xmlns="{MAIN}" xmlns:r="{REL}"><sheets>'
            '<sheet name="花名册" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'<Relationships xmlns="{PACKAGE}/relationships">'
            + _relationship(1, "worksheet", "worksheets/sheet1.xml")
            + _relationship(2, "sharedStrings", "sharedStrings.xml")
            + "</Relationships>"
        ),
        "xl/sharedStrings.xml": f'<sst xmlns="{MAIN}">{shared}</sst>',
        "xl/worksheets/sheet1.xml": (
            f'<worksheet xmlns="{MAIN}"><sheetData>{"".join(cells)}</sheetData></worksheet>'
        ),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return out.getvalue()


def test_an_excel_workbook_with_shared_strings_reads_as_openpyxl_reads_it() -> None:
    data = _excel_like()

    [sheet] = read_sheets(data, "roll.xlsx")
    [by_openpyxl] = _openpyxl_xlsx(data)

    assert sheet.name == "花名册"
    assert sheet.rows == [
        (1, ["幸福村花名册"]),
        (3, ["户号", "户主", "电话", None, "住址"]),
        (4, ["XF-001", "王建国", "13800000000", None, "一组 12号"]),
        (5, ["2", "一组 & 二组", "13800000001"]),
    ]
    assert sheet.rows == [
        (n, cells[: len(mine)]) for (n, cells), (_, mine) in zip(by_openpyxl.rows, sheet.rows, strict=True)
    ]
    roll = read_roll(find_tables([sheet]))
    assert roll.tables[0].header_row == 3
    assert roll.households["XF-001"].members[0].phone == "13800000000"
    assert roll.households["2"].head_name == "一组 & 二组"


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("138 0013 8000", "13800138000"),
        ("138-0013-8000", "13800138000"),
        ("+86 138 0013 8000", "13800138000"),
        ("0571-87654321", "057187654321"),
        ("1380013", None),
        ("12345678901", None),
        ("电话", None),
    ],
)
def test_phone_numbers_as_people_write_them(written: str, read: str | None) -> None:
    assert normalise_phone(written) == read


def test_csv_in_gbk_and_utf8_with_a_bom_read_the_same() -> None:
    text = "户号,户主\r\nA-1,张三\r\n"

    gbk = read_sheets(text.encode("gbk"), "a.csv")
    bom = read_sheets(text.encode("utf-8-sig"), "a.csv")
    tabs = read_sheets(text.replace(",", "\t").encode("utf-8"), "a.csv")

    assert gbk == bom == tabs
    assert gbk[0].rows == [(1, ["户号", "户主"]), (2, ["A-1", "张三"])]


def test_an_old_xls_is_refused_with_what_to_do() -> None:
    with pytest.raises(UnsupportedFile, match="另存为"):
        read_sheets(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512, "roll.xls")
