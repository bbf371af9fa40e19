"""The charts each page shows, ready to place in a template: the town's, a village admin's dashboard's and
a villager's."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.charts import figures
from jifen.charts.svg import Series, bar_chart, hbar_chart, line_chart
from jifen.kit.timeutil import to_local, utcnow
from jifen.models import Village


@dataclass(frozen=True)
class Chart:
    heading: str
    svg: Markup


def _moves(months: list[figures.Month]) -> list[Series]:
    return [
        Series("发放", [m.issued for m in months]),
        Series("扣减", [m.deducted for m in months]),
        Series("兑换", [m.redeemed for m in months]),
    ]


async def town_charts(session: AsyncSession, town_name: str) -> list[Chart]:
    """Points issued, deducted and redeemed per village per month, and the share of households taking
    part, over the last 12 months."""
    by_village = await figures.monthly(session)
    names = {v: name for v, name in (await session.execute(select(Village.id, Village.name))).all()}
    villages = [(names.get(v, "?"), months) for v, months in by_village.items()]
    months = figures.last_months()
    labels = [f"{m.month}月" for m in months]
    charts = []
    for heading, measure in (
        ("各村每月发放积分", "issued"),
        ("各村每月扣减积分", "deducted"),
        ("各村每月兑换积分", "redeemed"),
    ):
        series = [Series(name, [getattr(m, measure) for m in ms]) for name, ms in villages]
        charts.append(Chart(heading, bar_chart(f"{town_name}{heading}（近12个月）", labels, series)))
    total = figures.town_total(by_village)
    share = [Series(name, [m.share for m in ms]) for name, ms in villages]
    if len(villages) > 1:
        share.append(Series("全镇", [m.share for m in total]))
    charts.append(
        Chart(
            "参与积分的农户占比",
            line_chart(f"{town_name}各村参与积分的农户占比（近12个月）", labels, share, percent=True),
        )
    )
    return charts


async def village_charts(session: AsyncSession, village: Village) -> list[Chart]:
    """The village's points issued, deducted and redeemed per month, its households taking part, and the
    rules used most, over the last 12 months."""
    months = (await figures.monthly(session, village.id)).get(village.id, [])
    labels = [m.label for m in months]
    rules = await figures.top_rules(session, village.id)
    return [
        Chart(
            "每月积分",
            bar_chart(f"{village.name}每月发放、扣减、兑换积分（近12个月）", labels, _moves(months)),
        ),
        Chart(
            "参与农户占比",
            line_chart(
                f"{village.name}参与积分的农户占比（近12个月）",
                labels,
                [Series("参与户占比", [m.share for m in months])],
                percent=True,
            ),
        ),
        Chart(
            "用得最多的积分项目",
            hbar_chart(
                f"{village.name}近12个月用得最多的积分项目（次数）",
                [(f"{r.name}（{r.points:+d}分）", r.awards) for r in rules],
            ),
        ),
    ]


async def household_chart(session: AsyncSession, village_id: uuid.UUID, household_id: uuid.UUID) -> Chart:
    """The household's balance through this year: one point per month's end (today for this month)."""
    today = to_local(utcnow()).date()
    opening, points = await figures.balance_over_year(session, village_id, household_id, today.year)
    labels, values, balance = [], [], opening
    for month in range(1, today.month + 1):
        for point in points:
            if point.day.month == month:
                balance = point.balance
        labels.append(f"{month}月")
        values.append(balance)
    return Chart(
        "今年的积分余额",
        line_chart(f"{today.year}年每月底的积分余额", labels, [Series("积分余额", values)], unit="分"),
    )
