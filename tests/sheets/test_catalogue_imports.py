"""Rule and store catalogues from Excel: preview first (nothing written), every bad row with its row number
and a Chinese reason, confirm writes the good rows, the same file twice changes nothing."""

from __future__ import annotations

import io
from typing import Any

import pytest
from openpyxl import Workbook

from tests.factories import VillageSetup, World
from tests.helpers import assert_error

RULES = [
    ("编号", "名称", "类别", "分值", "上限", "上限周期", "审核", "需要照片"),
    ("MQSB", "门前三包达标", "人居环境", 15, 15, "月", "无", "否"),
    ("LDLJ", "乱搭乱建", "六乱整治", -20, None, None, "一人", "是"),
    ("ZYFW", "志愿服务（每小时）", "志愿服务", "2", 40, "每月", "", ""),
    (None, "没有编号的细则", "其他", 5, None, None, None, None),  # row 6: no code
    ("WHJT", "五好家庭", "文明新风", "五十", None, None, None, None),  # row 7: points not a number
    ("MQSB", "门前三包（重复）", "人居环境", 10, None, None, None, None),  # row 8: code twice
    ("HSL", "和事佬", "矛盾调解", 10, 30, "每旬", None, None),  # row 9: unknown period
]


def xlsx(rows: list[tuple[Any, ...]], title: str | None = "幸福村积分细则（2026年）") -> bytes:
    """A sheet as a village keeps it: a merged title row above the header."""
    book = Workbook()
    ws = book.active
    assert ws is not None
    if title:
        ws.append([title])
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(rows[0]))
    for row in rows:
        ws.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.fixture(scope="module")
async def setup(world: World) -> VillageSetup:
    return await world.setup_village(households=1)


async def upload(
    world: World,
    setup: VillageSetup,
    path: str,
    content: bytes,
    name: str,
    *,
    apply: bool = False,
    who: str = "village_admin",
) -> Any:
    return await world.call(
        "POST",
        path,
        setup.people[who],
        params={"apply": str(apply).lower()},
        files={"file": (name, content, "application/octet-stream")},
    )


async def rule_codes(world: World, setup: VillageSetup) -> dict[str, dict[str, Any]]:
    rules = await world.call("GET", f"/villages/{setup.village.id}/rules", setup.people["village_admin"])
    return {r["code"]: r for r in rules.json()["items"]}


async def test_rules_preview_apply_and_again(world: World, setup: VillageSetup) -> None:
    path = f"/villages/{setup.village.id}/imports/rules"
    content = xlsx(RULES)
    preview = await upload(world, setup, path, content, "细则.xlsx")
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["applied"] is False
    assert body["columns"]["分值"] == "分值"
    assert [r["key"] for r in body["add"]] == ["MQSB", "LDLJ", "ZYFW"]
    errors = {e["row"]: e["reason"] for e in body["errors"]}
    assert set(errors) == {6, 7, 8, 9}
    assert "缺少编号" in errors[6]
    assert "五十" in errors[7]
    assert "第 3 行重复" in errors[8]
    assert "每旬" in errors[9]
    assert await rule_codes(world, setup) == {}, "a preview writes nothing"

    applied = (await upload(world, setup, path, content, "细则.xlsx", apply=True)).json()
    assert applied["applied"] is True
    rules = await rule_codes(world, setup)
    assert set(rules) == {"MQSB", "LDLJ", "ZYFW"}
    assert rules["LDLJ"]["review"] == "single"
    assert rules["LDLJ"]["evidence_required"] is True
    assert rules["ZYFW"]["cap"] == {"count": 40, "period": "month"}

    again = (await upload(world, setup, path, content, "细则.xlsx", apply=True)).json()
    assert again["add"] == again["change"] == []
    assert len(again["unchanged"]) == 3
    assert {r["code"]: r["version"] for r in (await rule_codes(world, setup)).values()} == {
        "MQSB": 1,
        "LDLJ": 1,
        "ZYFW": 1,
    }
    events = await world.call(
        "GET", "/audit", setup.people["village_admin"], params={"action": "rule.import"}
    )
    assert len(events.json()["items"]) == 1, "the second upload changed nothing"
    assert events.json()["items"][0]["after"]["file_sha256"] == applied["file_sha256"]

    changed_rows = [RULES[0], ("MQSB", "门前三包达标", "人居环境", 20, 20, "月", "无", "否")]
    changed = (await upload(world, setup, path, xlsx(changed_rows, None), "细则.xlsx", apply=True)).json()
    assert [r["key"] for r in changed["change"]] == ["MQSB"]
    assert any("15 → 20" in c for c in changed["change"][0]["changes"])
    assert (await rule_codes(world, setup))["MQSB"]["version"] == 2


async def test_store_catalogue_from_a_gbk_csv(world: World, setup: VillageSetup) -> None:
    path = f"/stores/{setup.store.id}/imports/items"
    csv = (
        "商品名称,兑换积分,库存,单位,每户限购\n"
        "香皂,5,100,块,\n食用油（5L）,85,20,桶,1\n大米,50,,袋,\n洗衣粉,,10,袋,\n"
    )
    content = csv.encode("gbk")
    preview = (await upload(world, setup, path, content, "超市商品.csv")).json()
    assert [r["key"] for r in preview["add"]] == ["香皂", "食用油（5L）", "大米"]
    assert preview["errors"] == [{"row": 5, "reason": "缺少兑换积分"}]
    applied = (await upload(world, setup, path, content, "超市商品.csv", apply=True)).json()
    assert applied["applied"] is True
    items = await world.call("GET", f"/stores/{setup.store.id}/items", setup.people["clerk"])
    shelf = {i["name"]: i for i in items.json()["items"]}
    assert (shelf["香皂"]["price_points"], shelf["香皂"]["stock"]) == (5, 100)
    assert shelf["食用油（5L）"]["limit"] == {"count": 1, "period": "month"}

    again = (await upload(world, setup, path, content, "超市商品.csv", apply=True)).json()
    assert again["add"] == again["change"] == []
    raised = csv.replace("香皂,5,100", "香皂,6,300").encode("gbk")
    changed = (await upload(world, setup, path, raised, "超市商品.csv", apply=True)).json()
    assert [r["key"] for r in changed["change"]] == ["香皂"]
    assert any("不变" in c for c in changed["change"][0]["changes"]), "stock moves by restock only"
    items = await world.call("GET", f"/stores/{setup.store.id}/items", setup.people["clerk"])
    soap = next(i for i in items.json()["items"] if i["name"] == "香皂")
    assert (soap["price_points"], soap["stock"]) == (6, 100)


async def test_unreadable_and_headless_files(world: World, setup: VillageSetup) -> None:
    path = f"/villages/{setup.village.id}/imports/rules"
    assert_error(await upload(world, setup, path, b"\x00\x01garbage", "细则.pdf"), 400, "unreadable_file")
    assert_error(await upload(world, setup, path, b"PK\x03\x04broken", "细则.xlsx"), 400, "unreadable_file")
    headless = "姓名,电话\n张三,13800000000\n".encode()
    body = assert_error(await upload(world, setup, path, headless, "细则.csv"), 400, "missing_columns")
    assert "编号" in body["detail"]


@pytest.mark.parametrize(
    ("who", "what", "status"),
    [("cadre", "rules", 403), ("clerk", "items", 403), ("villager", "rules", 403)],
)
async def test_only_the_village_admin_imports(
    world: World, setup: VillageSetup, who: str, what: str, status: int
) -> None:
    path = (
        f"/villages/{setup.village.id}/imports/rules"
        if what == "rules"
        else f"/stores/{setup.store.id}/imports/items"
    )
    response = await upload(world, setup, path, xlsx(RULES), "x.xlsx", who=who)
    assert response.status_code == status
