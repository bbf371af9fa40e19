"""The SVG charts: their numbers agree with the town overview and the ledger, and each is a well-formed,
named and described image a screen reader can read."""

from __future__ import annotations

import itertools
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import asyncpg
import pytest

from jifen.audit import chain
from jifen.kit import svg
from jifen.kit.timeutil import to_local, utcnow
from jifen.town import charts as figures
from jifen.town import repository as town
from tests.audit.test_chain import service_db  # noqa: F401 (the fixture)
from tests.factories import Person, VillageSetup, World
from tests.ledger.helpers import award, balance, make_rule
from tests.store.helpers import make_item, redeem

NS = "{http://www.w3.org/2000/svg}"


@dataclass
class Scene:
    setup: VillageSetup
    quiet: VillageSetup
    town: Person


@pytest.fixture(scope="module")
async def scene(world: World) -> Scene:
    """Four households: three earn under 门前三包 (one twice), one loses under 家禽散养, one buys soap; a
    second village where nothing happened."""
    setup = await world.setup_village(households=4)
    admin = setup.people["village_admin"]
    often = await make_rule(world, setup, 15, code="MQSB")
    rare = await make_rule(world, setup, -8, code="JQSY")
    for household in setup.households[:3]:
        assert (await award(world, admin, household.id, often)).status_code == 201
    assert (await award(world, admin, setup.households[0].id, often)).status_code == 201
    assert (await award(world, admin, setup.households[1].id, rare)).status_code == 201
    soap = await make_item(world, setup, "香皂", 5, 10)
    sale = await redeem(
        world, setup.people["clerk"], setup.store.id, setup.households[0].id, [(soap["id"], 3)]
    )
    assert sale.status_code == 201, sale.text
    return Scene(setup, await world.setup_village(households=2), await world.town_admin())


def parsed(markup: str, layout: str = "wide") -> ET.Element:
    """One drawing of the chart (each chart is drawn wide and narrow, both named and described alike)."""
    drawings = list(ET.fromstring(f"<drawings>{markup}</drawings>"))
    assert [d.get("class") for d in drawings] == ["chart chart-wide", "chart chart-narrow"]
    for root in drawings:
        assert root.tag == f"{NS}svg"
        assert root.get("role") == "img"
        ids = (root.get("aria-labelledby") or "").split()
        named = {el.get("id"): (el.text or "") for el in root if el.tag in (f"{NS}title", f"{NS}desc")}
        assert len(ids) == 2
        assert all(named.get(i) for i in ids), "the chart is named and described"
    assert drawings[0].find(f"{NS}desc").text == drawings[1].find(f"{NS}desc").text  # type: ignore[union-attr]
    return drawings[0 if layout == "wide" else 1]


def desc(root: ET.Element) -> str:
    return next(el.text or "" for el in root if el.tag == f"{NS}desc")


def texts(root: ET.Element) -> list[str]:
    return [el.text or "" for el in root.iter(f"{NS}text")]


async def test_monthly_figures_agree_with_the_town_overview(world: World, scene: Scene) -> None:
    overview = (await world.call("GET", "/town/overview", scene.town)).json()["villages"]
    async with world.session() as session, session.begin():
        by_village = await figures.monthly(session)
    assert {str(v) for v in by_village} == {v["village_id"] for v in overview}
    for village in overview:
        months = by_village[uuid.UUID(village["village_id"])]
        assert len(months) == 12
        this = months[-1]
        assert this.month == to_local(utcnow()).date().replace(day=1)
        assert (this.issued, this.deducted, this.redeemed, this.taking_part, this.households) == (
            village["issued"],
            village["deducted"],
            village["redeemed"],
            village["taking_part"],
            village["households"],
        )
        assert all(m.issued == 0 for m in months[:-1]), "nothing happened before this month"
    ours = by_village[scene.setup.village.id][-1]
    assert (ours.issued, ours.deducted, ours.redeemed, ours.taking_part) == (60, 8, 15, 3)
    assert ours.share == pytest.approx(3 / 4)


async def test_town_charts(world: World, scene: Scene) -> None:
    async with world.session() as session, session.begin():
        charts = await figures.town_charts(session, "幸福镇")
    assert [c.heading for c in charts] == [
        "各村每月发放积分",
        "各村每月扣减积分",
        "各村每月兑换积分",
        "参与积分的农户占比",
    ]
    issued = parsed(str(charts[0].svg))
    assert "幸福镇" in next(el.text or "" for el in issued if el.tag == f"{NS}title")
    month = f"{to_local(utcnow()).month}月"
    assert f"{month} 60" in desc(issued), desc(issued)
    assert {"测试村", month} <= set(texts(issued)), "villages and months are labelled in text"
    share = parsed(str(charts[3].svg))
    assert f"{month} 75%" in desc(share)
    assert "全镇" in texts(share)


async def test_village_dashboard_charts(world: World, scene: Scene) -> None:
    async with world.session() as session, session.begin():
        moves, share, rules = await figures.village_charts(session, scene.setup.village)
        quiet = await figures.village_charts(session, scene.quiet.village)
    described = desc(parsed(str(moves.svg)))
    month = f"{to_local(utcnow()).month}月"
    assert "发放：" in described
    assert f"{month} 60" in described
    assert f"{month} 15" in described.split("兑换：")[1]
    assert f"{month} 75%" in desc(parsed(str(share.svg)))
    ranked = parsed(str(rules.svg))
    labels = [t for t in texts(ranked) if "（" in t]
    assert labels[0].startswith("门前三包"), labels
    assert "4次" in texts(ranked)
    assert "暂无数据" in texts(parsed(str(quiet[2].svg)))


async def test_household_balance_over_the_year(world: World, scene: Scene) -> None:
    household = scene.setup.households[0]
    now = await balance(world, scene.setup.people["village_admin"], household.id)
    async with world.session() as session, session.begin():
        chart = await figures.household_chart(session, scene.setup.village.id, household.id)
        opening, points = await figures.balance_over_year(session, scene.setup.village.id, household.id)
    assert opening == 0
    assert points[-1].balance == now["posted"] == 15 + 15 - 15
    root = parsed(str(chart.svg))
    assert desc(root).endswith(f"{to_local(utcnow()).month}月 {now['posted']}。")


def test_svg_escapes_names_and_handles_no_data() -> None:
    markup = svg.bar_chart("<村>", ["1月"], [svg.Series("a&b", [0])])
    root = parsed(str(markup))
    assert "a&b" in texts(root)
    assert svg.line_chart("空", [], []).startswith("<svg")


def test_the_narrow_drawing_fits_a_phone() -> None:
    """Drawn for a phone, text is 16 units in a 340-unit picture (≥ 15 px on a 390-px screen); the month
    labels do not run into each other, the current month is labelled, and a long legend wraps inside."""
    months = [f"{m}月" for m in (12, *range(1, 12))]
    names = ["幸福村", "新风村", "和平村", "东方红村", "向阳村", "团结村", "全镇"]
    markup = str(svg.bar_chart("各村每月发放积分", months, [svg.Series(n, [10] * 12) for n in names]))
    narrow = parsed(markup, "narrow")
    assert (narrow.get("font-size"), (narrow.get("viewBox") or "").split()[2]) == ("16", "340")
    labels = [t for t in narrow.iter(f"{NS}text") if t.text in months]
    assert labels[-1].text == "11月"
    xs = [float(t.get("x") or 0) for t in labels]
    assert len(xs) >= 4
    assert min(b - a for a, b in itertools.pairwise(xs)) > svg.text_width("12月", 16)
    legend = [t for t in narrow.iter(f"{NS}text") if t.text in names]
    assert [t.text for t in legend] == names
    assert all(float(t.get("x") or 0) + svg.text_width(t.text or "", 16) <= 340 for t in legend)
    assert len({t.get("y") for t in legend}) >= 2, "the legend wraps onto a second row"
    wide = parsed(markup)
    assert len([t for t in wide.iter(f"{NS}text") if t.text in months]) == 12, "a desk shows every month"


def test_the_axis_counts_in_round_steps() -> None:
    """Gridlines at 0, 50, … 250 for a peak of 230 (not 62.5, 187.5), and never a fraction of a point."""
    markup = str(svg.bar_chart("各村每月兑换积分", ["11月", "12月"], [svg.Series("幸福村", [230, 70])]))
    for layout in ("wide", "narrow"):
        axis = [t.text for t in parsed(markup, layout).iter(f"{NS}text") if t.get("text-anchor") == "end"]
        assert axis == ["0", "50", "100", "150", "200", "250"]
    few = parsed(str(svg.bar_chart("一户", ["12月"], [svg.Series("发放", [3])])))
    assert [t.text for t in few.iter(f"{NS}text") if t.get("text-anchor") == "end"] == ["0", "1", "2", "3"]


# the months as they were computed before the roll-ups: every posting of the twelve months, every household
DIRECT = """
WITH months AS (
    SELECT m::date AS month
      FROM generate_series($1::date, $2::date, interval '1 month') AS m
), moves AS (
    SELECT p.village_id, p.account_id, t.kind, p.amount,
           date_trunc('month', p.created_at AT TIME ZONE 'Asia/Shanghai')::date AS month
      FROM postings p
      JOIN ledger_transactions t ON t.village_id = p.village_id AND t.id = p.transaction_id
      JOIN accounts a ON a.village_id = p.village_id AND a.id = p.account_id AND a.kind = 'household'
     WHERE p.created_at >= $3 AND p.created_at < $4 AND ($5::uuid IS NULL OR p.village_id = $5)
), figures AS (
    SELECT village_id, month,
           count(DISTINCT account_id) FILTER (WHERE kind IN ('award', 'deduction')) AS taking_part,
           coalesce(sum(amount) FILTER (WHERE kind IN ('award', 'rectification') AND amount > 0), 0)
             AS issued,
           coalesce(-sum(amount) FILTER (WHERE kind = 'deduction'), 0) AS deducted,
           coalesce(-sum(amount) FILTER (WHERE kind IN ('redemption', 'redemption_cancel')), 0) AS redeemed
      FROM moves GROUP BY village_id, month
)
SELECT v.id AS village_id, m.month,
       (SELECT count(*) FROM households h
         WHERE h.village_id = v.id
           AND h.created_at < ((m.month + interval '1 month')::timestamp AT TIME ZONE 'Asia/Shanghai'))
         AS households,
       coalesce(f.taking_part, 0) AS taking_part, coalesce(f.issued, 0)::bigint AS issued,
       coalesce(f.deducted, 0)::bigint AS deducted, coalesce(f.redeemed, 0)::bigint AS redeemed
  FROM villages v CROSS JOIN months m
  LEFT JOIN figures f ON f.village_id = v.id AND f.month = m.month
 WHERE $5::uuid IS NULL OR v.id = $5
 ORDER BY v.code, m.month
"""


async def test_monthly_figures_agree_with_the_ledger_before_and_after_each_roll_up(
    world: World,
    service_db: asyncpg.Connection,  # noqa: F811 (the fixture imported above)
) -> None:
    setup = await world.setup_village(households=3)
    admin = setup.people["village_admin"]
    days = figures.last_months()
    window = (days[0], days[-1], figures._start(days[0]), figures._start(figures._next_month(days[-1])))

    async def agree() -> figures.Month:
        async with world.session() as session, session.begin():
            answered = [m for months in (await figures.monthly(session)).values() for m in months]
            one = await figures.monthly(session, setup.village.id)
        direct = [figures.Month(**row) for row in await service_db.fetch(DIRECT, *window, None)]
        assert sorted(answered, key=repr) == sorted(direct, key=repr)
        assert one == {setup.village.id: [m for m in direct if m.village_id == setup.village.id]}
        return one[setup.village.id][-1]

    async def roll_up() -> None:
        upto = await chain.horizon(service_db)
        assert upto is not None
        assert await town.roll_up(service_db, upto, villages=10_000) >= 1

    plus = await make_rule(world, setup, 10)
    for household in setup.households[:2]:
        assert (await award(world, admin, household.id, plus)).status_code == 201
    soap = await make_item(world, setup, "肥皂", 4, 10)
    sale = await redeem(
        world, setup.people["clerk"], setup.store.id, setup.households[0].id, [(soap["id"], 2)]
    )
    assert sale.status_code == 201, sale.text
    this = await agree()  # nothing of this village rolled up yet: all of it read after the mark
    assert (this.issued, this.deducted, this.redeemed, this.taking_part, this.households) == (20, 0, 8, 2, 3)
    await roll_up()
    assert await agree() == this

    # after the roll-up: the same household again (taking part once), a deduction, a newcomer
    minus = await make_rule(world, setup, -3)
    assert (await award(world, admin, setup.households[1].id, minus)).status_code == 201
    assert (await award(world, admin, setup.households[2].id, plus)).status_code == 201
    this = await agree()
    assert (this.issued, this.deducted, this.redeemed, this.taking_part) == (30, 3, 8, 3)
    await roll_up()
    assert await agree() == this
