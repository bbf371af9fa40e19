"""The pages of issue 14 (items 3–6) as a person uses them: printing household cards, downloading the
tables as spreadsheets, picking a rule set, importing a catalogue, and the charts where they belong."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from openpyxl import load_workbook

from jifen.kit.xlsx import XLSX_MEDIA_TYPE
from jifen.models import Role
from jifen.users.schemas import RoleGrantIn
from tests.factories import Person, VillageSetup, World
from tests.ledger.helpers import award, make_rule
from tests.web.test_admin_pages import browser

SECTION = re.compile(r'<section class="cardsheet"')
CARD = re.compile(r'<div class="hcard-code">([^<]+)</div>')


@dataclass
class Scene:
    setup: VillageSetup
    grid_cadre: Person
    town: Person


@pytest.fixture(scope="module")
async def scene(world: World) -> Scene:
    """Eleven households in two grids (一组 gets six), some points, a cadre of 二组, the town admin."""
    setup = await world.setup_village(households=11)
    rule = await make_rule(world, setup, 10, code="MQSB")
    for household in setup.households[:4]:
        assert (await award(world, setup.people["village_admin"], household.id, rule)).status_code == 201
    cadre = await world.person(RoleGrantIn(role=Role.cadre, village_id=setup.village.id, grid="二组"))
    return Scene(setup, cadre, await world.town_admin())


async def test_cards_for_the_village_and_for_a_grid(app: FastAPI, scene: Scene) -> None:
    async with browser(app, scene.setup.people["village_admin"]) as admin:
        page = await admin.get("/staff/cards")
        assert page.status_code == 200, page.text
        assert len(SECTION.findall(page.text)) == 2, "eleven cards: two A4 sheets of eight"
        assert sorted(CARD.findall(page.text)) == sorted(h.code for h in scene.setup.households)
        assert page.text.count("<svg") >= 11, "a QR code on every card"
        one = await admin.get("/staff/cards?grid=一组")
        assert len(CARD.findall(one.text)) == 6
    async with browser(app, scene.grid_cadre) as cadre:
        own = await cadre.get("/staff/cards")
        codes = set(CARD.findall(own.text))
        assert codes == {h.code for h in scene.setup.households if h.grid == "二组"}
        assert (await cadre.get("/staff/cards?grid=一组")).status_code == 403
    async with browser(app, scene.setup.people["clerk"]) as clerk:
        assert (await clerk.get("/staff/cards")).status_code == 403


@pytest.mark.parametrize(
    ("who", "path", "status"),
    [
        ("village_admin", "/staff/households.xlsx", 200),
        ("village_admin", "/admin/ledger.xlsx", 200),
        ("village_admin", "/admin/audit.xlsx", 200),
        ("village_admin", "/admin/funding.xlsx", 200),
        ("villager", "/rankings.xlsx", 200),
        ("villager", "/admin/ledger.xlsx", 403),
        ("cadre", "/admin/audit.xlsx", 403),
        ("town", "/town/overview.xlsx", 200),
        ("village_admin", "/town/overview.xlsx", 403),
    ],
)
async def test_downloads_behind_the_tables(
    app: FastAPI, scene: Scene, who: str, path: str, status: int
) -> None:
    person = scene.town if who == "town" else scene.setup.people[who]
    async with browser(app, person) as b:
        response = await b.http.get(path)
    assert response.status_code == status, response.text[:300]
    if status == 200:
        assert response.headers["content-type"] == XLSX_MEDIA_TYPE
        book = load_workbook(io.BytesIO(response.content))
        assert book.worksheets[0].max_row >= 2


RANKED = re.compile(
    r"<tr[^>]*><td>(\d+)</td><td>(\S+) ([^<]*)</td><td>([^<]*)</td><td class=\"num\">([^<]+)</td></tr>"
)


async def test_the_ranking_download_is_the_ranking_page(app: FastAPI, scene: Scene) -> None:
    """The villager's 排行榜 page and the spreadsheet behind its download button list the same households
    in the same order with the same points."""
    async with browser(app, scene.setup.people["villager"]) as villager:
        page = await villager.get("/rankings")
        shown = [
            (int(rank), code, head, int(points.replace("+", "").replace("−", "-")))
            for rank, code, head, _, points in RANKED.findall(page.text)
        ]
        link = re.search(r'href="(/rankings\.xlsx\?period=[^"]+)"', page.text)
        assert link, "a download button beside the table"
        response = await villager.http.get(link.group(1))
    assert response.headers["content-type"] == XLSX_MEDIA_TYPE
    sheet = load_workbook(io.BytesIO(response.content))["排行榜"]
    rows = list(sheet.iter_rows(values_only=True))
    header = next(i for i, row in enumerate(rows) if row[0] == "名次")
    downloaded = [(r[0], r[1], r[2], r[4]) for r in rows[header + 1 :] if r[0] is not None]
    assert len(shown) == len(scene.setup.households)
    assert sum(points for *_, points in shown) == 40
    assert downloaded == shown


async def test_pick_a_rule_set_on_the_page(app: FastAPI, world: World) -> None:
    setup = await world.setup_village(households=1)
    async with browser(app, setup.people["village_admin"]) as admin:
        page = await admin.get("/admin/rule-sets")
        assert "门前三包达标" in page.text
        form = {
            "set": "environment",
            "points-MQSB": "20",
            "cap-MQSB": "20",
            "points-LJFL": "10",
            "cap-LJFL": "10",
        }
        done = await admin.http.post(
            "/admin/rule-sets",
            data={**form, "csrf_token": admin.csrf, "pick": ["MQSB", "LJFL"]},  # type: ignore[dict-item]
        )
        assert done.status_code == 303, done.text
        again = await admin.http.post(
            "/admin/rule-sets",
            data={**form, "csrf_token": admin.csrf, "pick": ["MQSB"]},  # type: ignore[dict-item]
        )
        assert again.status_code == 409
        assert "已存在" in again.text
    rules = await world.call("GET", f"/villages/{setup.village.id}/rules", setup.people["village_admin"])
    assert {r["code"]: r["points"] for r in rules.json()["items"]} == {"MQSB": 20, "LJFL": 10}


async def test_import_a_store_catalogue_on_the_page(app: FastAPI, world: World) -> None:
    setup = await world.setup_village(households=1)
    csv = "商品名称,兑换积分,库存\n香皂,5,100\n大米,50,20\n洗衣粉,,10\n".encode("gbk")
    path = f"/admin/stores/{setup.store.id}/import"
    async with browser(app, setup.people["village_admin"]) as admin:
        await admin.get(path)
        preview = await admin.http.post(
            path, data={"csrf_token": admin.csrf}, files={"file": ("商品.csv", csv, "text/csv")}
        )
        assert preview.status_code == 200, preview.text
        assert "缺少兑换积分" in preview.text
        digest = re.search(r'name="sha256" value="([0-9a-f]{64})"', preview.text)
        assert digest
        items = await world.call("GET", f"/stores/{setup.store.id}/items", setup.people["clerk"])
        assert items.json()["items"] == [], "the preview wrote nothing"
        confirmed = await admin.http.post(
            path, data={"csrf_token": admin.csrf, "sha256": digest.group(1), "filename": "商品.csv"}
        )
        assert confirmed.status_code == 200
        assert "已导入" in confirmed.text
    items = await world.call("GET", f"/stores/{setup.store.id}/items", setup.people["clerk"])
    assert sorted(i["name"] for i in items.json()["items"]) == ["大米", "香皂"]


async def test_charts_where_people_look(app: FastAPI, scene: Scene) -> None:
    async with browser(app, scene.town) as town:
        page = await town.get("/town")
        assert page.text.count('<svg class="chart chart-wide"') == 4
        assert "幸福镇" in page.text.split("</header>")[0], "the town's name in the header"
    async with browser(app, scene.setup.people["village_admin"]) as admin:
        page = await admin.get("/admin")
        assert page.text.count('<svg class="chart chart-wide"') == 3
    async with browser(app, scene.setup.people["villager"]) as villager:
        page = await villager.get("/me")
        assert page.text.count('<svg class="chart chart-wide"') == 1
        assert "积分余额" in page.text
