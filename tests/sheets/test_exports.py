"""Every export opens with openpyxl and says what the JSON (or the ledger itself) says: the headers a clerk
reads, numbers as numbers, times as local times, totals that add up, and the same read scope as the JSON."""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pytest
from httpx import Response
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import text

from jifen.audit import sheets as audit_sheets
from jifen.households import sheets as roll_sheets
from jifen.kit.timeutil import to_local, utcnow
from jifen.kit.xlsx import XLSX_MEDIA_TYPE
from jifen.models import Role
from jifen.users.schemas import RoleGrantIn
from tests.factories import Person, VillageSetup, World
from tests.ledger.helpers import award, make_rule
from tests.store.helpers import cancel, make_item, redeem

MONTH = to_local(utcnow()).strftime("%Y-%m")


@dataclass
class Scene:
    setup: VillageSetup
    other: VillageSetup
    town: Person
    grid_cadre: Person


@pytest.fixture(scope="module")
async def scene(world: World) -> Scene:
    """A village with six households in two grids: awards, a deduction, a reversal, two sales (one
    cancelled); a second village; the town admin; a cadre of 一组."""
    setup = await world.setup_village(households=6)
    other = await world.setup_village(households=1)
    admin = setup.people["village_admin"]
    plus = await make_rule(world, setup, 10, code="MQSB")
    minus = await make_rule(world, setup, -5, code="JQSY")
    for index, household in enumerate(setup.households[:5]):
        response = await award(world, admin, household.id, plus, quantity=index + 1)
        assert response.status_code == 201, response.text
    assert (await award(world, admin, setup.households[1].id, minus)).status_code == 201
    wrong = await award(world, admin, setup.households[4].id, plus)
    reversed_ = await world.call(
        "POST",
        f"/transactions/{wrong.json()['transaction_id']}/reverse",
        admin,
        json={"reason": "评错了户"},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert reversed_.status_code == 201, reversed_.text
    soap = await make_item(world, setup, "香皂", 5, 20)
    sold = await redeem(
        world, setup.people["clerk"], setup.store.id, setup.households[4].id, [(soap["id"], 2)]
    )
    assert sold.status_code == 201, sold.text
    again = await redeem(
        world, setup.people["clerk"], setup.store.id, setup.households[3].id, [(soap["id"], 1)]
    )
    assert (await cancel(world, setup.people["clerk"], again.json()["id"])).status_code == 200
    grid_cadre = await world.person(RoleGrantIn(role=Role.cadre, village_id=setup.village.id, grid="一组"))
    return Scene(setup, other, await world.town_admin(), grid_cadre)


def sheet_of(response: Response, title: str | None = None) -> Worksheet:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == XLSX_MEDIA_TYPE
    assert response.headers["content-disposition"].startswith("attachment;")
    book = load_workbook(io.BytesIO(response.content))
    ws = book[title] if title else book.worksheets[0]
    assert isinstance(ws, Worksheet)
    return ws


def table(ws: Worksheet, first_header: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The header row (found by its first cell) and the rows under it; the header row is frozen."""
    rows = list(ws.iter_rows(values_only=True))
    at = next(i for i, row in enumerate(rows) if row[0] == first_header)
    assert ws.freeze_panes == f"A{at + 2}", "the header row stays in view while scrolling"
    assert ws.cell(row=at + 1, column=1).font.bold
    widths = [ws.column_dimensions[c].width for c in "AB"]
    assert all(w and w >= 8 for w in widths), widths
    return [str(h) for h in rows[at]], rows[at + 1 :]


async def get(world: World, path: str, who: Person | None, **params: Any) -> Response:
    return await world.call("GET", path, who, params={"format": "xlsx", **params})


async def db_rows(world: World, sql: str, **params: Any) -> list[Any]:
    async with world.session() as session:
        return list((await session.execute(text(sql), params)).all())


# ---------------------------------------------------------------------------------------------- the roll


async def test_roll_has_every_household_with_its_balance(world: World, scene: Scene) -> None:
    setup = scene.setup
    path = f"/villages/{setup.village.id}/households"
    headers, rows = table(sheet_of(await get(world, path, setup.people["village_admin"])), "户号")
    assert headers[:3] == ["户号", "户主", "网格"]
    assert {"在册积分", "可用积分", "累计获得", "建档日期"} <= set(headers)
    assert [r[0] for r in rows] == sorted(h.code for h in setup.households)
    for row in rows:
        household = next(h for h in setup.households if h.code == row[0])
        balance = (await world.call("GET", f"/households/{household.id}/balance", scene.town)).json()
        shown = dict(zip(headers, row, strict=True))
        assert shown["在册积分"] == balance["posted"]
        assert shown["可用积分"] == balance["available"]
        assert isinstance(shown["可用积分"], int)
        assert isinstance(shown["建档日期"], datetime | date)
        assert shown["人口"] == 1


async def test_roll_by_accept_header_and_cut_to_a_cadres_grid(world: World, scene: Scene) -> None:
    setup = scene.setup
    path = f"/api/v1/villages/{setup.village.id}/households"
    response = await world.client.get(path, headers={**scene.grid_cadre.headers, "Accept": XLSX_MEDIA_TYPE})
    _, rows = table(sheet_of(response), "户号")
    assert rows
    assert {r[2] for r in rows} == {"一组"}
    json = await world.call("GET", f"/villages/{setup.village.id}/households", scene.grid_cadre)
    assert [r[0] for r in rows] == [h["code"] for h in json.json()["items"]]


@pytest.mark.parametrize(("who", "status"), [("villager", 403), ("other", 404), ("nobody", 401)])
async def test_roll_refused_like_the_json(world: World, scene: Scene, who: str, status: int) -> None:
    person = {"villager": scene.setup.people["villager"], "other": scene.other.people["village_admin"]}
    path = f"/villages/{scene.setup.village.id}/households"
    as_json = await world.call("GET", path, person.get(who))
    as_xlsx = await get(world, path, person.get(who))
    assert as_json.status_code == as_xlsx.status_code == status
    assert as_xlsx.json()["error"] == as_json.json()["error"]


# ---------------------------------------------------------------------------------------------- the ledger


async def test_ledger_has_every_posting_and_totals_match(world: World, scene: Scene) -> None:
    setup = scene.setup
    path = f"/villages/{setup.village.id}/exports/ledger"
    response = await world.call("GET", path, setup.people["village_admin"], params={"period": MONTH})
    headers, rows = table(sheet_of(response), "记账时间")
    assert headers[:3] == ["记账时间", "交易号", "类型"]
    postings = await db_rows(world, "SELECT amount FROM postings WHERE village_id = :v", v=setup.village.id)
    body = [r for r in rows if not str(r[0]).startswith(("合计", "其中"))]
    amount = headers.index("积分")
    assert len(body) == len(postings)
    assert sum(r[amount] for r in body) == sum(p.amount for p in postings) == 0
    assert all(isinstance(r[amount], int) for r in body)
    assert all(isinstance(r[0], datetime) and r[0].tzinfo is None for r in body)
    # the times are local: the newest posting was made moments ago, Beijing time
    assert abs((max(r[0] for r in body) - to_local(utcnow()).replace(tzinfo=None)).total_seconds()) < 600
    total, credit, debit = rows[-3], rows[-2], rows[-1]
    assert str(total[0]).startswith(f"合计 {len(postings)} 条")
    assert total[amount] == 0
    assert credit[amount] == sum(p.amount for p in postings if p.amount > 0)
    assert debit[amount] == sum(p.amount for p in postings if p.amount < 0)
    kinds = {r[2] for r in body}
    assert {"奖励", "扣分", "冲正", "兑换", "取消兑换"} <= kinds
    rule = headers.index("规则编号")
    assert {"MQSB", "JQSY"} <= {r[rule] for r in body}
    reason = headers.index("原因")
    assert "评错了户" in {r[reason] for r in body}


async def test_ledger_of_another_month_is_empty(world: World, scene: Scene) -> None:
    path = f"/villages/{scene.setup.village.id}/exports/ledger"
    response = await world.call("GET", path, scene.town, params={"period": "2020-01"})
    _, rows = table(sheet_of(response), "记账时间")
    assert str(rows[0][0]).startswith("合计 0 条")


@pytest.mark.parametrize(
    ("who", "status"), [("cadre", 403), ("clerk", 403), ("villager", 403), ("other", 404), ("nobody", 401)]
)
async def test_ledger_refused(world: World, scene: Scene, who: str, status: int) -> None:
    person = {**scene.setup.people, "other": scene.other.people["village_admin"]}.get(who)
    path = f"/villages/{scene.setup.village.id}/exports/ledger"
    response = await world.call("GET", path, person, params={"period": MONTH})
    assert response.status_code == status


async def test_ledger_bad_period(world: World, scene: Scene) -> None:
    path = f"/villages/{scene.setup.village.id}/exports/ledger"
    response = await world.call("GET", path, scene.town, params={"period": "十一月"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_period"


# ---------------------------------------------------------------------------------------------- ranking


async def test_ranking_matches_the_ranking_and_its_lists(world: World, scene: Scene) -> None:
    setup = scene.setup
    path = f"/villages/{setup.village.id}/rankings"
    villager = setup.people["villager"]
    response = await get(world, path, villager, period=MONTH)
    headers, rows = table(sheet_of(response, "排行榜"), "名次")
    ranking = (await world.call("GET", path, villager, params={"period": MONTH})).json()["items"]
    assert [(r[0], r[1], r[4]) for r in rows] == [(e["rank"], e["code"], e["points"]) for e in ranking]
    assert headers[4] == "期间得分"
    lists = (await world.call("GET", f"{path}/lists", villager, params={"period": MONTH})).json()
    for title, key in (("红榜", "red"), ("黑榜", "black")):
        _, listed = table(sheet_of(response, title), "名次")
        assert [r[1] for r in listed] == [e["code"] for e in lists[key]]
    alone = await get(world, f"{path}/lists", villager, period=MONTH)
    _, red = table(sheet_of(alone, "红榜"), "名次")
    assert [r[1] for r in red] == [e["code"] for e in lists["red"]]


# ---------------------------------------------------------------------------------------------- money


async def test_settlement_matches_the_report(world: World, scene: Scene) -> None:
    setup = scene.setup
    path = f"/stores/{setup.store.id}/settlement"
    report = (await world.call("GET", path, setup.people["village_admin"], params={"period": MONTH})).json()
    response = await get(world, path, setup.people["clerk"], period=MONTH)
    headers, lines = table(sheet_of(response, "结算明细"), "商品")
    assert [(r[0], r[4], r[5]) for r in lines] == [
        (x["name"], x["quantity"], x["points"]) for x in report["lines"]
    ]
    money = headers.index("金额（元）")
    assert [float(r[money]) for r in lines] == [x["amount_fen"] / 100 for x in report["lines"]]
    _, cancelled = table(sheet_of(response, "取消的兑换"), "小票号")
    assert len(cancelled) == len(report["cancellations"]) == 1
    _, totals = table(sheet_of(response, "合计"), "项目")
    assert totals[-1][1] == report["totals"]["points"]
    refused = await get(world, path, setup.people["villager"], period=MONTH)
    assert refused.status_code == (await world.call("GET", path, setup.people["villager"])).status_code
    assert refused.status_code in (403, 404)


async def test_funding_overview_matches(world: World, scene: Scene) -> None:
    setup = scene.setup
    path = f"/villages/{setup.village.id}/funding"
    overview = (await world.call("GET", path, setup.people["village_admin"])).json()
    _, rows = table(sheet_of(await get(world, path, setup.people["village_admin"]), "资金概况"), "项目")
    figures = {r[0]: r for r in rows}
    assert figures["在册积分（全部农户）"][1] == overview["points_outstanding"]
    assert float(figures["在册积分（全部农户）"][2]) == overview["outstanding_fen"] / 100
    assert float(figures["结余（负数为缺口）"][2]) == overview["surplus_fen"] / 100
    refused = await get(world, path, setup.people["villager"])
    assert refused.status_code == (await world.call("GET", path, setup.people["villager"])).status_code


async def test_town_overview_across_villages(world: World, scene: Scene) -> None:
    overview = (await world.call("GET", "/town/overview", scene.town)).json()
    ws = sheet_of(await get(world, "/town/overview", scene.town))
    assert "幸福镇" in str(ws["A1"].value)
    headers, rows = table(ws, "村代码")
    by_code = {r[0]: dict(zip(headers, r, strict=True)) for r in rows}
    for village in overview["villages"]:
        shown = by_code[village["code"]]
        assert (shown["发放积分"], shown["扣减积分"], shown["兑换积分"]) == (
            village["issued"],
            village["deducted"],
            village["redeemed"],
        )
    assert by_code["合计"]["发放积分"] == sum(v["issued"] for v in overview["villages"])
    ours = by_code[scene.setup.village.code]
    assert ours["参与率"] == pytest.approx(ours["参与户数"] / ours["农户数"])
    refused = await get(world, "/town/overview", scene.setup.people["village_admin"])
    assert refused.status_code == 403


# ---------------------------------------------------------------------------------------------- audit


async def test_audit_trail_of_a_period(world: World, scene: Scene) -> None:
    setup = scene.setup
    admin = setup.people["village_admin"]
    start = to_local(utcnow()).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    params = {"since": start.replace(tzinfo=None).isoformat(), "limit": 200}
    events = (await world.call("GET", "/audit", admin, params=params)).json()["items"]
    headers, rows = table(sheet_of(await get(world, "/audit", admin, **params)), "编号")
    assert [r[0] for r in rows] == [e["id"] for e in events]
    assert headers[1] == "时间"
    assert all(isinstance(r[1], datetime) for r in rows)
    assert "household.create" in {r[headers.index("操作")] for r in rows}
    assert (
        await get(world, "/audit", setup.people["cadre"], village_id=str(setup.village.id))
    ).status_code == 403
    mine = await get(world, "/audit", scene.other.people["village_admin"], village_id=str(setup.village.id))
    assert mine.status_code == 404


async def test_keyset_pages_join_up(world: World, scene: Scene, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows fetched two at a time come out whole and in order, as if read at once."""
    setup, admin = scene.setup, scene.setup.people["village_admin"]
    path = f"/villages/{setup.village.id}/households"
    _, whole = table(sheet_of(await get(world, path, admin)), "户号")
    params = {"since": "2020-01-01T00:00:00"}
    _, trail = table(sheet_of(await get(world, "/audit", admin, **params)), "编号")
    monkeypatch.setattr(roll_sheets, "BATCH", 2)
    monkeypatch.setattr(audit_sheets, "BATCH", 2)
    _, paged = table(sheet_of(await get(world, path, admin)), "户号")
    _, paged_trail = table(sheet_of(await get(world, "/audit", admin, **params)), "编号")
    assert len(whole) == 6
    assert paged == whole
    assert len(trail) > 4
    assert paged_trail == trail
