"""Made-up household rolls shaped like the ones villages keep: the downloadable template, the sample roll of
`docs/samples/` (500 households in 6 grids, with a few deliberate bad rows), the 20,000-household roll
the benchmark imports, and a store catalogue of three items. Every name is invented; every phone number is
in the 170-0000-xxxx range, which no real subscriber of the roll is given here (a test range, clearly fake).

`python docs/samples/make_samples.py` writes the sample files again.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass, field
from pathlib import Path

GRIDS = ("第一网格", "第二网格", "第三网格", "第四网格", "第五网格", "第六网格")
HEADER = ("户号", "户主", "人口", "电话", "网格", "住址")
MEMBER_HEADER = ("户号", "姓名", "与户主关系", "电话")
# the same columns as a roll exported from another system names them (the GBK CSV uses these)
HEADER_VARIANT = ("户编号", "户主姓名", "家庭人口", "联系电话", "村民小组", "家庭住址")

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
)
_GIVEN = "建国华明伟芳秀英玉兰志强军平红梅丽娟海燕春生金福德荣桂花永安文静晓东春林小红亮洁凤霞宝山成刚"


@dataclass
class SampleHousehold:
    code: str | None
    head: str
    population: int | str | None
    phone: str | None
    grid: str | None
    address: str | None
    members: list[tuple[str, str, str | None]] = field(default_factory=list)  # name, relation, phone


def _name(rng: random.Random, surname: str | None = None) -> str:
    given = "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2, 2))))
    return (surname or rng.choice(_SURNAMES)) + given


def fake_phone(n: int) -> str:
    return f"1700000{n % 10000:04d}"


def households(count: int, *, prefix: str = "XF", seed: int = 2026) -> list[SampleHousehold]:
    """`count` good households, XF-0001 on, spread over six grids, with their family members."""
    rng = random.Random(seed)
    width = max(4, len(str(count)))
    rows: list[SampleHousehold] = []
    for i in range(1, count + 1):
        surname = rng.choice(_SURNAMES)
        head = _name(rng, surname)
        grid = GRIDS[(i - 1) * len(GRIDS) // count]
        population = rng.choice((1, 2, 3, 3, 4, 4, 5, 6))
        household = SampleHousehold(
            code=f"{prefix}-{i:0{width}d}",
            head=head,
            population=population,
            phone=fake_phone(i) if rng.random() < 0.9 else None,
            grid=grid,
            address=f"{'一二三四五六'[GRIDS.index(grid)]}组{rng.randint(1, 120)}号",
        )
        household.members.append((head, "户主", household.phone))
        relations = ["配偶", "子", "女", "儿媳", "孙子", "孙女", "父亲", "母亲"]
        for j in range(population - 1):
            relation = relations[j % len(relations)]
            member_surname = surname if relation not in ("配偶", "儿媳", "母亲") else None
            phone = fake_phone(i * 7 + j + 5000) if rng.random() < 0.3 else None
            name = _name(rng, member_surname)
            while any(name == m[0] for m in household.members):  # one name once in a household
                name = _name(rng, member_surname)
            household.members.append((name, relation, phone))
        rows.append(household)
    return rows


def with_bad_rows(rows: list[SampleHousehold]) -> list[SampleHousehold]:
    """The sample's deliberate mistakes, spread through the roll: a row without 户号, a 户号 given twice, a
    phone that is no phone, a population written in words."""
    bad = list(rows)
    bad.insert(40, SampleHousehold(None, "赵无号", 3, fake_phone(9001), GRIDS[0], "一组9号"))
    twin = rows[122]
    bad.insert(200, SampleHousehold(twin.code, "钱重复", 2, fake_phone(9002), GRIDS[2], "三组8号"))
    bad.insert(300, SampleHousehold("XF-0501", "孙错号", 2, "1380013", GRIDS[3], "四组5号"))
    bad.insert(420, SampleHousehold("XF-0502", "李三口", "三口", fake_phone(9004), GRIDS[5], "六组2号"))
    return bad


def _cells(h: SampleHousehold) -> list[object]:
    return [h.code, h.head, h.population, h.phone, h.grid, h.address]


def roll_xlsx(rows: list[SampleHousehold], *, title: str | None = None, members_sheet: bool = True) -> bytes:
    """A workbook as a village keeps it: a merged title row and a date line above the header, households on
    the first sheet, one row per person on a second sheet 家庭成员."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    workbook = Workbook(write_only=False)
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "花名册"
    first_row = 1
    if title:
        sheet.append([title])
        sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADER))
        sheet["A1"].font = Font(bold=True, size=14)
        sheet["A1"].alignment = Alignment(horizontal="center")
        sheet.append(["填表日期：2026年11月30日", None, None, None, "单位：户、人"])
        first_row = 3
    sheet.append(list(HEADER))
    for cell in sheet[first_row]:
        cell.font = Font(bold=True)
    for h in rows:
        sheet.append(_cells(h))
    for letter, width in zip("ABCDEF", (12, 10, 6, 15, 12, 20), strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = f"A{first_row + 1}"
    if members_sheet:
        people = workbook.create_sheet("家庭成员")
        people.append(list(MEMBER_HEADER))
        for h in rows:
            if h.code:
                for name, relation, phone in h.members:
                    people.append([h.code, name, relation, phone])
        for letter, width in zip("ABCD", (12, 10, 12, 15), strict=True):
            people.column_dimensions[letter].width = width
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def roll_csv(
    rows: list[SampleHousehold], *, encoding: str = "gbk", header: tuple[str, ...] = HEADER_VARIANT
) -> bytes:
    """One row per household, as Excel on Chinese Windows saves a CSV (GBK, CRLF)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for h in rows:
        writer.writerow(["" if v is None else v for v in _cells(h)])
    return out.getvalue().encode(encoding)


def template_xlsx() -> bytes:
    """The downloadable template: the columns jifen reads, with three example households and their members."""
    examples = [
        SampleHousehold(
            "XF-0001",
            "王建国",
            3,
            "17000000001",
            GRIDS[0],
            "一组12号",
            [("王建国", "户主", "17000000001"), ("李秀英", "配偶", "17000000002"), ("王小明", "子", None)],
        ),
        SampleHousehold(
            "XF-0002", "张玉兰", 1, "17000000003", GRIDS[0], "一组15号", [("张玉兰", "户主", None)]
        ),
        SampleHousehold(
            "XF-0003",
            "刘志强",
            2,
            None,
            GRIDS[1],
            "二组3号",
            [("刘志强", "户主", None), ("陈春梅", "配偶", None)],
        ),
    ]
    return roll_xlsx(examples, title="××村户籍花名册（示例：请删除示例行后填写本村各户）")


# the store catalogue of the README's walkthrough: name, points, stock, unit, category
CATALOGUE = (
    ("香皂", 5, 100, "块", "日用品"),
    ("洗衣粉", 10, 50, "袋", "日用品"),
    ("食用油 5L", 85, 20, "桶", "粮油"),
)


def catalogue_xlsx() -> bytes:
    """Three items for the points supermarket, as `从 Excel 导入商品` reads them."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "商品"
    sheet.append(["商品名称", "兑换积分", "库存", "单位", "类别"])
    for item in CATALOGUE:
        sheet.append(list(item))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


SAMPLE_COUNT = 500


def write_samples(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    rows = with_bad_rows(households(SAMPLE_COUNT))
    files = {
        "roll-500.xlsx": roll_xlsx(rows, title="幸福村户籍花名册（示例数据：姓名、电话均为虚构）"),
        "roll-500-gbk.csv": roll_csv(rows),
        "template.xlsx": template_xlsx(),
        "catalogue.xlsx": catalogue_xlsx(),
    }
    written = []
    for name, data in files.items():
        path = directory / name
        path.write_bytes(data)
        written.append(path)
    return written
