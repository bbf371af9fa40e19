"""The charts on the town's page, the village admin's dashboard and the villager's page, and the numbers
behind them: points issued, deducted and redeemed per village per local month, the share of households
taking part, a village's top rules, and one household's balance through a year.

"Issued", "deducted", "redeemed" and "taking part" mean what the town overview means by them
(`town/endpoints.py`): awards and rectification returns, deductions, sales net of cancellations, and
households with at least one award or deduction in the month."""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.kit.sql import Sql
from jifen.kit.svg import Series, bar_chart, hbar_chart, line_chart
from jifen.kit.timeutil import LOCAL_TZ, to_local, utcnow
from jifen.models import Village, VillageView
from jifen.town import repository


@dataclass(frozen=True)
class Month:
    """One local month of one village (or of the town, `village_id` None)."""

    village_id: uuid.UUID | None
    month: date  # its first day
    households: int  # on the roll at the month's end
    taking_part: int
    issued: int
    deducted: int
    redeemed: int

    @property
    def share(self) -> float:
        return self.taking_part / self.households if self.households else 0.0

    @property
    def label(self) -> str:
        return f"{self.month.month}月"


def last_months(count: int = 12, now: datetime | None = None) -> list[date]:
    """The first days of the last `count` local months, the current one last."""
    local = to_local(now or utcnow())
    year, month = local.year, local.month
    out = []
    for _ in range(count):
        out.append(date(year, month, 1))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return out[::-1]


def _start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ)


def _next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


# Each month is its roll-up (`village_period_figures`, migration 0017; see `town/repository.py`) plus the
# village's household postings after its roll-up mark, as the town overview reads them: exact whenever it is
# asked, and its cost follows the villages and what is not rolled up yet, not twelve months of postings.
# The households on the roll at a month's end are today's count less those added since (all added since the
# window opened, less those added up to that month: a running sum, not a count per month).
_MONTHLY = """
WITH months AS (
    SELECT m::date AS month, to_char(m, 'YYYY-MM') AS period
      FROM generate_series($1::date, $2::date, interval '1 month') AS m
), chosen AS (
    SELECT v.id, v.code, coalesce(k.chain_id, 0) AS mark
      FROM villages v LEFT JOIN village_rollup_marks k ON k.village_id = v.id
     WHERE $5::uuid IS NULL OR v.id = $5
), tail AS (
    SELECT c.id AS village_id, x.account_id, x.kind, x.amount,
           to_char(x.created_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') AS period
      FROM chosen c
     -- per village, from its mark on (OFFSET 0 keeps it a lookup of the (village_id, chain_id) index; the
     -- window is applied outside it, or the planner would read the window's transactions first instead)
     CROSS JOIN LATERAL (
           SELECT p.account_id, t.kind, p.amount, t.created_at
             FROM postings p
             JOIN ledger_transactions t ON t.village_id = p.village_id AND t.id = p.transaction_id
            WHERE p.village_id = c.id AND p.chain_id > c.mark AND p.account_version IS NOT NULL
           OFFSET 0) x
     WHERE x.created_at >= $3 AND x.created_at < $4
), recent AS (
    SELECT village_id, period,
           count(DISTINCT account_id) FILTER (
               WHERE kind IN ('award', 'deduction')
                 AND NOT EXISTS (SELECT 1 FROM village_period_participants x
                                  WHERE x.village_id = tail.village_id AND x.period = tail.period
                                    AND x.account_id = tail.account_id)) AS taking_part,
           coalesce(sum(amount) FILTER (WHERE kind IN ('award', 'rectification') AND amount > 0), 0)
             AS issued,
           coalesce(-sum(amount) FILTER (WHERE kind = 'deduction'), 0) AS deducted,
           coalesce(-sum(amount) FILTER (WHERE kind IN ('redemption', 'redemption_cancel')), 0) AS redeemed
      FROM tail GROUP BY village_id, period
), joined AS (  -- households added per month since the window opened
    SELECT h.village_id, date_trunc('month', h.created_at AT TIME ZONE 'Asia/Shanghai')::date AS month,
           count(*) AS added
      FROM households h
     WHERE h.created_at >= $3 AND ($5::uuid IS NULL OR h.village_id = $5)
     GROUP BY 1, 2
), since AS (  -- all of them per village
    SELECT village_id, sum(added) AS added FROM joined GROUP BY village_id
)
SELECT c.id AS village_id, m.month,
       (coalesce(n.households, 0) - coalesce(s.added, 0)
         + sum(coalesce(j.added, 0)) OVER (PARTITION BY c.id ORDER BY m.month))::bigint AS households,
       coalesce(f.taking_part, 0) + coalesce(r.taking_part, 0) AS taking_part,
       (coalesce(f.issued, 0) + coalesce(r.issued, 0))::bigint AS issued,
       (coalesce(f.deducted, 0) + coalesce(r.deducted, 0))::bigint AS deducted,
       (coalesce(f.redeemed, 0) + coalesce(r.redeemed, 0))::bigint AS redeemed
  FROM chosen c CROSS JOIN months m
  LEFT JOIN village_households n ON n.village_id = c.id
  LEFT JOIN village_period_figures f ON f.village_id = c.id AND f.period = m.period
  LEFT JOIN recent r ON r.village_id = c.id AND r.period = m.period
  LEFT JOIN joined j ON j.village_id = c.id AND j.month = m.month
  LEFT JOIN since s ON s.village_id = c.id
 ORDER BY c.code, m.month
"""


def _window(village_id: uuid.UUID | None, months: int) -> tuple[object, ...]:
    """`_MONTHLY`'s arguments: the last `months` local months' first days, and the same months as [start, end)
    in UTC."""
    days = last_months(months)
    return days[0], days[-1], _start(days[0]), _start(_next_month(days[-1])), village_id


async def monthly(
    session: AsyncSession, village_id: uuid.UUID | None = None, months: int = 12
) -> dict[uuid.UUID, list[Month]]:
    """Each village's last `months` local months (one village when `village_id` is given), oldest first."""
    rows = await Sql(session).rows(Month, _MONTHLY, *_window(village_id, months))
    out: dict[uuid.UUID, list[Month]] = {}
    for month in rows:
        assert month.village_id is not None
        out.setdefault(month.village_id, []).append(month)
    return out


def _shifted(query: str, by: int) -> str:
    """A statement's parameters renumbered ($1 → $1+by), to sit after another statement's in one statement."""
    return re.sub(r"\$(\d+)", lambda number: f"${int(number.group(1)) + by}", query)


# The town page's two reads in one statement, one round trip: the overview of a period (`town/repository.py`)
# and every village's last 12 months (`_MONTHLY`, as arrays, oldest first), both as they are read alone.
_OVERVIEW_AND_MONTHLY = f"""
WITH overview AS ({repository.OVERVIEW}
), monthly AS ({_shifted(_MONTHLY, 3)}
), series AS (
    SELECT village_id, array_agg(month ORDER BY month) AS months,
           array_agg(households ORDER BY month) AS month_households,
           array_agg(taking_part ORDER BY month) AS month_taking_part,
           array_agg(issued ORDER BY month) AS month_issued,
           array_agg(deducted ORDER BY month) AS month_deducted,
           array_agg(redeemed ORDER BY month) AS month_redeemed
      FROM monthly GROUP BY village_id
)
SELECT o.*, m.months, m.month_households, m.month_taking_part, m.month_issued, m.month_deducted,
       m.month_redeemed
  FROM overview o LEFT JOIN series m USING (village_id)
 ORDER BY o.code
"""


@dataclass(frozen=True, slots=True)
class _FiguresAndMonths(repository.VillageFiguresRow):
    """A village's overview row, and its months as arrays."""

    months: list[date] | None
    month_households: list[int] | None
    month_taking_part: list[int] | None
    month_issued: list[int] | None
    month_deducted: list[int] | None
    month_redeemed: list[int] | None


async def overview_and_monthly(
    session: AsyncSession, period: str, start: datetime, end: datetime
) -> tuple[list[repository.VillageFiguresRow], dict[uuid.UUID, list[Month]]]:
    """`repository.overview(session, period, start, end)` and `monthly(session)`, in one statement."""
    rows = await Sql(session).rows(
        _FiguresAndMonths, _OVERVIEW_AND_MONTHLY, start, end, period, *_window(None, 12)
    )
    months = {
        r.village_id: [
            Month(r.village_id, *month)
            for month in zip(
                r.months or [],
                r.month_households or [],
                r.month_taking_part or [],
                r.month_issued or [],
                r.month_deducted or [],
                r.month_redeemed or [],
                strict=True,
            )
        ]
        for r in rows
    }
    return list(rows), months


def town_total(villages: Iterable[Sequence[Month]]) -> list[Month]:
    """The villages' months added up, month by month."""
    series = list(villages)
    if not series:
        return []
    return [
        Month(
            village_id=None,
            month=months[0].month,
            households=sum(m.households for m in months),
            taking_part=sum(m.taking_part for m in months),
            issued=sum(m.issued for m in months),
            deducted=sum(m.deducted for m in months),
            redeemed=sum(m.redeemed for m in months),
        )
        for months in zip(*series, strict=True)
    ]


@dataclass(frozen=True)
class RuleFigure:
    code: str
    name: str
    points: int  # net points the rule moved on households (deductions negative)
    awards: int  # how many awards or deductions


# the period's transactions from the (village_id, created_at) index (a posting's `created_at` is its
# transaction's); a household's posting is one with an `account_version` (town/repository.py)
_TOP_RULES = """
WITH used AS (  -- per rule first, then its code and name (a rule is one code, its current version one name)
    SELECT t.rule_id, sum(p.amount)::bigint AS points, count(DISTINCT t.id) AS awards
      FROM ledger_transactions t
      JOIN postings p
        ON p.village_id = t.village_id AND p.transaction_id = t.id AND p.account_version IS NOT NULL
     WHERE t.village_id = $1 AND t.created_at >= $2 AND t.created_at < $3 AND t.kind IN ('award', 'deduction')
     GROUP BY t.rule_id
)
SELECT r.code, rv.name, u.points, u.awards
  FROM used u
  JOIN rules r ON r.village_id = $1 AND r.id = u.rule_id
  JOIN rule_versions rv
         ON rv.village_id = r.village_id AND rv.rule_id = r.id AND rv.version = r.current_version
 ORDER BY u.awards DESC, abs(u.points) DESC, r.code
 LIMIT $4
"""


async def top_rules(
    session: AsyncSession, village_id: uuid.UUID, months: int = 12, limit: int = 8
) -> list[RuleFigure]:
    """The rules used most in the last `months` local months, with the points they moved."""
    days = last_months(months)
    return await Sql(session).rows(
        RuleFigure, _TOP_RULES, village_id, _start(days[0]), _start(_next_month(days[-1])), limit
    )


@dataclass(frozen=True)
class BalancePoint:
    day: date
    balance: int


@dataclass(frozen=True)
class BalanceRow:
    day: date | None  # None: the balance before the year
    balance: int | None


_BALANCES = """
WITH account AS (
    SELECT id FROM accounts WHERE village_id = $1 AND household_id = $2 AND kind = 'household'
)
(SELECT NULL::date AS day, p.balance_after AS balance
   FROM postings p, account
  WHERE p.village_id = $1 AND p.account_id = account.id AND p.created_at < $3
  ORDER BY p.account_version DESC LIMIT 1)
UNION ALL
(SELECT DISTINCT ON (1) (p.created_at AT TIME ZONE 'Asia/Shanghai')::date AS day, p.balance_after AS balance
   FROM postings p, account
  WHERE p.village_id = $1 AND p.account_id = account.id AND p.created_at >= $3 AND p.created_at < $4
  ORDER BY 1, p.account_version DESC)
"""


async def balance_over_year(
    session: AsyncSession, village_id: uuid.UUID, household_id: uuid.UUID, year: int | None = None
) -> tuple[int, list[BalancePoint]]:
    """The household's posted balance at the start of a local year (this one by default) and at the end of
    every day in it that moved points."""
    year = year or to_local(utcnow()).year
    rows = await Sql(session).rows(
        BalanceRow,
        _BALANCES,
        village_id,
        household_id,
        _start(date(year, 1, 1)),
        _start(date(year + 1, 1, 1)),
    )
    opening = next((r.balance for r in rows if r.day is None), 0) or 0
    return opening, [BalancePoint(r.day, r.balance or 0) for r in rows if r.day is not None]


@dataclass(frozen=True)
class Chart:
    heading: str
    svg: Markup


def _moves(months: list[Month]) -> list[Series]:
    return [
        Series("发放", [m.issued for m in months]),
        Series("扣减", [m.deducted for m in months]),
        Series("兑换", [m.redeemed for m in months]),
    ]


async def town_charts(
    session: AsyncSession, town_name: str, names: Mapping[uuid.UUID, str] | None = None
) -> list[Chart]:
    """Points issued, deducted and redeemed per village per month, and the share of households taking
    part, over the last 12 months (`names`: the villages' names, when the caller has them)."""
    by_village = await monthly(session)
    if names is None or any(v not in names for v in by_village):
        names = {v: name for v, name in (await session.execute(select(Village.id, Village.name))).all()}
    return draw_town_charts(town_name, by_village, names)


def draw_town_charts(
    town_name: str, by_village: Mapping[uuid.UUID, Sequence[Month]], names: Mapping[uuid.UUID, str]
) -> list[Chart]:
    """`town_charts` from figures already read (`monthly`, or `overview_and_monthly` with the names)."""
    villages = tuple((names.get(v, "?"), tuple(months)) for v, months in by_village.items())
    return list(_town_charts(town_name, tuple(f"{m.month}月" for m in last_months()), villages))


# the drawing is a pure function of the figures: drawn again only when a figure changed (the figures
# themselves are read every time)
@functools.lru_cache(maxsize=64)
def _town_charts(
    town_name: str, labels: tuple[str, ...], villages: tuple[tuple[str, tuple[Month, ...]], ...]
) -> tuple[Chart, ...]:
    charts = []
    for heading, measure in (
        ("各村每月发放积分", "issued"),
        ("各村每月扣减积分", "deducted"),
        ("各村每月兑换积分", "redeemed"),
    ):
        series = [Series(name, [getattr(m, measure) for m in ms]) for name, ms in villages]
        charts.append(Chart(heading, bar_chart(f"{town_name}{heading}（近12个月）", labels, series)))
    total = town_total(ms for _, ms in villages)
    share = [Series(name, [m.share for m in ms]) for name, ms in villages]
    if len(villages) > 1:
        share.append(Series("全镇", [m.share for m in total]))
    charts.append(
        Chart(
            "参与积分的农户占比",
            line_chart(f"{town_name}各村参与积分的农户占比（近12个月）", labels, share, percent=True),
        )
    )
    return tuple(charts)


async def village_charts(session: AsyncSession, village: VillageView) -> list[Chart]:
    """The village's points issued, deducted and redeemed per month, its households taking part, and the
    rules used most, over the last 12 months."""
    months = (await monthly(session, village.id)).get(village.id, [])
    rules = await top_rules(session, village.id)
    return list(_village_charts(village.name, tuple(months), tuple(rules)))


@functools.lru_cache(maxsize=256)
def _village_charts(name: str, months: tuple[Month, ...], rules: tuple[RuleFigure, ...]) -> tuple[Chart, ...]:
    labels = [m.label for m in months]
    return (
        Chart(
            "每月积分",
            bar_chart(f"{name}每月发放、扣减、兑换积分（近12个月）", labels, _moves(list(months))),
        ),
        Chart(
            "参与农户占比",
            line_chart(
                f"{name}参与积分的农户占比（近12个月）",
                labels,
                [Series("参与户占比", [m.share for m in months])],
                percent=True,
            ),
        ),
        Chart(
            "用得最多的积分项目",
            hbar_chart(
                f"{name}近12个月用得最多的积分项目（次数）",
                [(f"{r.name}（{r.points:+d}分）", r.awards) for r in rules],
            ),
        ),
    )


async def household_chart(session: AsyncSession, village_id: uuid.UUID, household_id: uuid.UUID) -> Chart:
    """The household's balance through this year: one point per month's end (today for this month)."""
    today = to_local(utcnow()).date()
    opening, points = await balance_over_year(session, village_id, household_id, today.year)
    return _household_chart(today.year, today.month, opening, tuple(points))


@functools.lru_cache(maxsize=4096)
def _household_chart(year: int, this_month: int, opening: int, points: tuple[BalancePoint, ...]) -> Chart:
    labels, values, balance = [], [], opening
    for month in range(1, this_month + 1):
        for point in points:
            if point.day.month == month:
                balance = point.balance
        labels.append(f"{month}月")
        values.append(balance)
    return Chart(
        "今年的积分余额",
        line_chart(f"{year}年每月底的积分余额", labels, [Series("积分余额", values)], unit="分"),
    )
