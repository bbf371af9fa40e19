"""What a household roll says: which column is which, the households and members it lists, and every row
that cannot be taken with its reason in Chinese. Pure: nothing here reads the database (see service.py).

Two layouts, as villages keep them:

- one row per household: 户号, 户主, and any of 人口, 电话, 组/网格, 住址 (the phone is the head's);
- one row per person: 户号, 姓名, 与户主关系 (the row whose relation is 户主 names the household), and any of
  电话, 组, 住址, 人口 — in the same sheet, or in a second sheet beside a sheet of households.

Title rows above the header (a merged "幸福村户籍花名册" banner, a date line) are skipped: the header is the
first row, among the first few, whose cells name a 户号 column and at least one other known column.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from jifen.imports.reading import Sheet, column_letter

HEADER_SEARCH_ROWS = 15


class Field(StrEnum):
    code = "code"
    head_name = "head_name"
    name = "name"
    relation = "relation"
    population = "population"
    phone = "phone"
    grid = "grid"
    address = "address"


LABELS: dict[Field, str] = {
    Field.code: "户号",
    Field.head_name: "户主",
    Field.name: "姓名",
    Field.relation: "与户主关系",
    Field.population: "人口",
    Field.phone: "电话",
    Field.grid: "组/网格",
    Field.address: "住址",
}

# the headers villages use, by field; a header is matched after removing spaces, "*" and a bracketed note
SYNONYMS: dict[Field, tuple[str, ...]] = {
    Field.code: ("户号", "户编号", "户编码", "户代码", "家庭编号", "户籍编号", "编号"),
    Field.head_name: ("户主", "户主姓名", "户主名", "户主名字"),
    Field.name: ("姓名", "成员姓名", "家庭成员", "成员", "名字"),
    Field.relation: ("与户主关系", "与户主的关系", "关系", "家庭关系"),
    Field.population: ("人口", "家庭人口", "人口数", "家庭人数", "人数", "户人口"),
    Field.phone: ("电话", "联系电话", "手机", "手机号", "手机号码", "电话号码", "联系方式", "户主电话"),
    Field.grid: ("组", "网格", "村民小组", "小组", "所属网格", "组别", "所在网格", "村组", "网格名称"),
    Field.address: ("住址", "地址", "家庭住址", "详细地址", "居住地址", "现住址", "门牌号"),
}
# a looser match for headers seen only in part ("户主联系电话"): a guess the admin is asked to confirm
_HINTS: tuple[tuple[str, Field], ...] = (
    ("户号", Field.code),
    ("编号", Field.code),
    ("户主", Field.head_name),
    ("关系", Field.relation),
    ("姓名", Field.name),
    ("人口", Field.population),
    ("人数", Field.population),
    ("电话", Field.phone),
    ("手机", Field.phone),
    ("网格", Field.grid),
    ("小组", Field.grid),
    ("地址", Field.address),
    ("住址", Field.address),
)
HEAD_RELATIONS = frozenset({"户主", "本人"})

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}$")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}\d{7,8}$")
_PHONE_NOISE = re.compile(r"[\s\-－—()（）]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NOTE = re.compile(r"[（(【\[].*?[)）】\]]")


def normalise_header(text: str | None) -> str:
    if not text:
        return ""
    return re.sub(r"[\s*:：]", "", _NOTE.sub("", text))


def _match(header: str | None) -> tuple[Field | None, bool]:
    """(field, sure): an exact synonym is sure, a header that contains a hint is a guess."""
    name = normalise_header(header)
    if not name:
        return None, False
    for candidate, synonyms in SYNONYMS.items():
        if name in synonyms:
            return candidate, True
    if name.startswith("户主") and any(h in name for h in ("电话", "手机")):
        return Field.phone, False
    for hint, candidate in _HINTS:
        if hint in name:
            return candidate, False
    return None, False


@dataclass
class Column:
    index: int
    header: str | None
    field: Field | None
    sure: bool

    @property
    def letter(self) -> str:
        return column_letter(self.index)


@dataclass
class Table:
    """One sheet as understood: where its header is and what each column holds."""

    sheet: str
    number: int  # 1 for the first table of the file
    header_row: int
    columns: list[Column]
    rows: list[tuple[int, list[str | None]]]

    def field_index(self) -> dict[Field, int]:
        found: dict[Field, int] = {}
        for column in self.columns:
            if column.field is not None and column.field not in found:
                found[column.field] = column.index
        return found

    @property
    def kind(self) -> str:
        fields = self.field_index()
        if Field.name in fields and Field.relation in fields:
            return "members"
        return "households"

    @property
    def missing(self) -> list[Field]:
        fields = self.field_index()
        needed = (
            (Field.code, Field.name, Field.relation)
            if self.kind == "members"
            else (Field.code, Field.head_name)
        )
        return [f for f in needed if f not in fields]

    @property
    def unsure(self) -> bool:
        chosen = [c.field for c in self.columns if c.field is not None]
        return (
            bool(self.missing)
            or any(not c.sure for c in self.columns if c.field)
            or (len(chosen) != len(set(chosen)))
        )


def find_tables(sheets: Iterable[Sheet], overrides: Mapping[str, str] | None = None) -> list[Table]:
    """Every sheet that has a header row, with its columns matched; `overrides` ("A" or "2:A" → a field
    name, or "" to ignore the column) is the admin's choice from the column picker and always wins."""
    tables: list[Table] = []
    for sheet in sheets:
        found = _header(sheet)
        if found is None:
            continue
        position, columns = found
        table = Table(
            sheet=sheet.name,
            number=len(tables) + 1,
            header_row=sheet.rows[position][0],
            columns=columns,
            rows=sheet.rows[position + 1 :],
        )
        _apply_overrides(table, overrides or {})
        tables.append(table)
    return tables


def _header(sheet: Sheet) -> tuple[int, list[Column]] | None:
    for position, (_, row) in enumerate(sheet.rows[:HEADER_SEARCH_ROWS]):
        cells = row[: max((i + 1 for i, cell in enumerate(row) if cell), default=0)]
        columns = [Column(i, cell, *_match(cell)) for i, cell in enumerate(cells)]
        fields = {c.field for c in columns if c.field is not None}
        if Field.code in fields and len(fields) >= 2:
            return position, columns
    return None


def _apply_overrides(table: Table, overrides: Mapping[str, str]) -> None:
    for key, value in overrides.items():
        number, _, letter = key.rpartition(":")
        if (int(number) if number.isdigit() else 1) != table.number:
            continue
        wanted = Field(value) if value in Field.__members__ else None
        for column in table.columns:
            if column.letter == letter.upper():
                column.field, column.sure = wanted, True
            elif wanted is not None and column.field is wanted:
                column.field, column.sure = None, True  # one column per field: the picked one


@dataclass
class MemberRow:
    sheet: str
    row: int
    name: str
    phone: str | None
    relation: str | None


@dataclass
class HouseholdRow:
    """One household as the file gives it; None: the file does not say (the stored value stays)."""

    sheet: str
    row: int
    code: str
    head_name: str | None = None
    population: int | None = None
    grid: str | None = None
    address: str | None = None
    members: list[MemberRow] = field(default_factory=list)


@dataclass
class BadRow:
    sheet: str
    row: int
    code: str | None
    reasons: list[str]


@dataclass
class Roll:
    tables: list[Table]
    households: dict[str, HouseholdRow]
    bad: list[BadRow]
    rows: int  # data rows read

    @property
    def missing(self) -> list[str]:
        return [f"{LABELS[f]}（{t.sheet}）" for t in self.tables for f in t.missing]

    @property
    def unsure(self) -> bool:
        return not self.tables or any(t.unsure for t in self.tables)


def normalise_phone(text: str) -> str | None:
    """The digits of a mobile or landline number, or None when it is not one."""
    digits = _PHONE_NOISE.sub("", text) if not text.isdigit() else text
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if _MOBILE.match(digits) or _LANDLINE.match(digits):
        return digits
    return None


class _Cells:
    """One data row's values by field, checked as they are read; each problem adds a reason."""

    def __init__(self, cells: list[str | None], index: dict[Field, int]) -> None:
        self.cells = cells
        self.index = index
        self.reasons: list[str] = []

    def raw(self, name: Field) -> str | None:
        position = self.index.get(name)
        if position is None or position >= len(self.cells):
            return None
        return self.cells[position]

    def text(self, name: Field, limit: int) -> str | None:
        value = self.raw(name)
        if value is None:
            return None
        if _CONTROL.search(value):
            self.reasons.append(f"{LABELS[name]}含有不可见的控制字符")
            return None
        if len(value) > limit:
            self.reasons.append(f"{LABELS[name]}太长（最多 {limit} 个字）")
            return None
        return value

    def code(self) -> str | None:
        value = self.raw(Field.code)
        if value is None:
            self.reasons.append("缺少户号")
            return None
        if not _CODE.match(value):
            self.reasons.append(f"户号“{value[:40]}”只能由字母、数字和 - _ . 组成，最多 32 位")
            return None
        return value

    def phone(self) -> str | None:
        value = self.raw(Field.phone)
        if value is None:
            return None
        phone = normalise_phone(value)
        if phone is None:
            self.reasons.append(f"电话“{value[:40]}”不是有效的手机号或固定电话")
        return phone

    def population(self) -> int | None:
        value = self.raw(Field.population)
        if value is None:
            return None
        if not value.isdigit() or not 1 <= int(value) <= 99:
            self.reasons.append(f"人口“{value[:40]}”应是 1 到 99 的整数")
            return None
        return int(value)

    def grid(self, fixed: frozenset[str]) -> str | None:
        value = self.text(Field.grid, 32)
        if value is not None and fixed and value not in fixed:
            self.reasons.append(f"网格“{value}”不是本村的网格（本村网格：{'、'.join(sorted(fixed))}）")
            return None
        return value


def read_roll(tables: list[Table], *, fixed_grids: frozenset[str] = frozenset()) -> Roll:
    """The households and members the tables list, and every row refused with why."""
    roll = Roll(tables=tables, households={}, bad=[], rows=0)
    if any(t.missing for t in tables):
        return roll  # the columns must be picked first
    seen_heads: dict[str, list[tuple[str, int]]] = {}
    bad_heads: set[str] = set()
    member_rows: list[tuple[MemberRow, str, _Cells]] = []
    household_sheet = any(t.kind == "households" for t in tables)
    for table in sorted(tables, key=lambda t: t.kind != "households"):
        index = table.field_index()
        kind = table.kind
        for number, cells in table.rows:
            roll.rows += 1
            row = _Cells(cells, index)
            code = row.code()
            if kind == "households":
                household = HouseholdRow(
                    sheet=table.sheet,
                    row=number,
                    code=code or "",
                    head_name=row.text(Field.head_name, 64),
                    population=row.population(),
                    grid=row.grid(fixed_grids),
                    address=row.text(Field.address, 200),
                )
                if household.head_name is None and row.raw(Field.head_name) is None:
                    row.reasons.append("缺少户主姓名")
                phone = row.phone()
                if row.reasons or code is None:
                    roll.bad.append(BadRow(table.sheet, number, code, row.reasons))
                    bad_heads.add(household.code)
                    continue
                assert household.head_name is not None
                household.members.append(MemberRow(table.sheet, number, household.head_name, phone, "户主"))
                seen_heads.setdefault(household.code, []).append((table.sheet, number))
                if household.code in roll.households:
                    continue  # refused below, with every row that has the code
                roll.households[household.code] = household
            else:
                name = row.text(Field.name, 64)
                if name is None and row.raw(Field.name) is None:
                    row.reasons.append("缺少姓名")
                relation = row.text(Field.relation, 16) or "成员"
                member = MemberRow(table.sheet, number, name or "", row.phone(), relation)
                if relation in HEAD_RELATIONS and code is not None:
                    head = HouseholdRow(
                        sheet=table.sheet,
                        row=number,
                        code=code,
                        head_name=name,
                        population=row.population(),
                        grid=row.grid(fixed_grids),
                        address=row.text(Field.address, 200),
                    )
                    if not row.reasons and not household_sheet:
                        # (a person sheet beside a household sheet adds members only)
                        seen_heads.setdefault(code, []).append((table.sheet, number))
                        if code not in roll.households:
                            roll.households[code] = head
                if row.reasons or code is None:
                    roll.bad.append(BadRow(table.sheet, number, code, row.reasons))
                    if relation in HEAD_RELATIONS and code is not None:
                        bad_heads.add(code)
                    continue
                member_rows.append((member, code, row))
    bad_heads |= _refuse_duplicates(roll, seen_heads)
    _attach_members(roll, member_rows, bad_heads)
    sort_refused(roll.bad, tables)
    return roll


def sort_refused(bad: list[BadRow], tables: list[Table]) -> None:
    """The first sheet's rows first (the households), then the other sheets', each by row number."""
    first = tables[0].sheet if tables else ""
    bad.sort(key=lambda b: (b.sheet != first, b.sheet, b.row))


def _refuse_duplicates(roll: Roll, seen: dict[str, list[tuple[str, int]]]) -> set[str]:
    refused: set[str] = set()
    for code, places in seen.items():
        if len(places) < 2:
            continue
        refused.add(code)
        roll.households.pop(code, None)
        rows = "、".join(str(row) for _, row in places)
        for sheet, row in places:
            reason = f"户号 {code} 在文件中出现了不止一次（第 {rows} 行），请只保留一行"
            roll.bad.append(BadRow(sheet, row, code, [reason]))
    return refused


def _attach_members(roll: Roll, member_rows: list[tuple[MemberRow, str, _Cells]], refused: set[str]) -> None:
    for member, code, _ in member_rows:
        household = roll.households.get(code)
        if household is None:
            if code in refused:
                reason = f"户号 {code} 的户主行有错，该成员未导入"
                roll.bad.append(BadRow(member.sheet, member.row, code, [reason]))
            else:
                # a member of a household already on the roll: the service decides (it knows the database)
                household = roll.households.setdefault(code, HouseholdRow(member.sheet, member.row, code))
        if household is None:
            continue
        same = next((m for m in household.members if m.name == member.name), None)
        if same is None:
            household.members.append(member)
        elif same.row != member.row:
            if member.relation in HEAD_RELATIONS or same.relation == member.relation:
                # the head listed again among the people: take what the person row adds
                same.phone = member.phone or same.phone
                same.relation = member.relation or same.relation
            else:
                roll.bad.append(
                    BadRow(member.sheet, member.row, code, [f"{member.name} 在户号 {code} 中重复出现"])
                )
