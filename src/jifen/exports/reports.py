"""The small tables the pages show, as spreadsheets: a ranking with its red and black lists, a store's
settlement, the funding overview, the town overview. Their rows are already at hand (the JSON report), so
each builds its sheets from the report the JSON answer carries — the spreadsheet cannot disagree with it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi.responses import StreamingResponse

from jifen.funding.schemas import FundingOverview, SettlementReport
from jifen.kit.timeutil import to_local, utcnow
from jifen.kit.xlsx import Column, Kind, Sheet, workbook_response
from jifen.rankings.schemas import RankingEntry, RankingOut, RedBlackOut

if TYPE_CHECKING:  # the town overview answers in xlsx through this module
    from jifen.town.endpoints import TownOverview

RANK_COLUMNS = (
    Column("名次", 8, Kind.int),
    Column("户号", 12),
    Column("户主", 12),
    Column("网格", 12),
    Column("期间得分", 12, Kind.int),
    Column("累计获得", 12, Kind.int),
    Column("可用积分", 12, Kind.int),
)


def _rank_rows(entries: list[RankingEntry]) -> list[tuple[object, ...]]:
    return [(e.rank, e.code, e.head_name, e.grid, e.points, e.lifetime_earned, e.available) for e in entries]


def _period_name(period: str | None) -> str:
    return f"期间：{period}（北京时间）" if period else "期间：全部"


def _exported() -> str:
    return f"导出时间：{to_local(utcnow()):%Y-%m-%d %H:%M}"


async def ranking_xlsx(
    village_name: str, ranking: RankingOut, lists: RedBlackOut | None
) -> StreamingResponse:
    """积分排行榜 (and, for a month or year, its 红榜 and 黑榜 on their own sheets)."""
    notes = [f"{village_name} 积分排行榜", _period_name(ranking.period)]
    if ranking.grid:
        notes.append(f"网格：{ranking.grid}")
    sheets = [Sheet("排行榜", RANK_COLUMNS, _rank_rows(ranking.items), notes=[*notes, _exported()])]
    if lists is not None:
        sheets.append(Sheet("红榜", RANK_COLUMNS, _rank_rows(lists.red), notes=[f"{village_name} 红榜"]))
        sheets.append(Sheet("黑榜", RANK_COLUMNS, _rank_rows(lists.black), notes=[f"{village_name} 黑榜"]))
    return await workbook_response(sheets, f"{village_name}-积分排行榜-{ranking.period or '全部'}.xlsx")


async def red_black_xlsx(village_name: str, lists: RedBlackOut) -> StreamingResponse:
    sheets = [
        Sheet("红榜", RANK_COLUMNS, _rank_rows(lists.red), notes=[f"{village_name} 红榜 {lists.period}"]),
        Sheet("黑榜", RANK_COLUMNS, _rank_rows(lists.black), notes=[f"{village_name} 黑榜 {lists.period}"]),
    ]
    return await workbook_response(sheets, f"{village_name}-红黑榜-{lists.period}.xlsx")


async def settlement_xlsx(report: SettlementReport) -> StreamingResponse:
    """A store's settlement: per item net of cancellations, the cancellations, and the total owed."""
    notes = [
        f"{report.store_name} 结算单",
        f"期间：{report.first_day} 至 {report.last_day}（含）" + ("" if report.ended else "，尚未结束"),
        _exported(),
    ]
    lines = Sheet(
        "结算明细",
        (
            Column("商品", 20),
            Column("单位", 8),
            Column("售出", 10, Kind.int),
            Column("取消", 10, Kind.int),
            Column("净数量", 10, Kind.int),
            Column("积分", 12, Kind.int),
            Column("金额（元）", 14, Kind.money),
        ),
        [(x.name, x.unit, x.sold, x.cancelled, x.quantity, x.points, x.amount_fen) for x in report.lines],
        notes=notes,
    )
    cancelled = Sheet(
        "取消的兑换",
        (
            Column("小票号", 16),
            Column("户号", 12),
            Column("兑换时间", 20, Kind.datetime),
            Column("取消时间", 20, Kind.datetime),
            Column("本期兑换", 10),
            Column("原因", 30),
            Column("积分", 10, Kind.int),
            Column("金额（元）", 14, Kind.money),
        ),
        [
            (
                c.receipt_no,
                c.household_code,
                c.sold_at,
                c.cancelled_at,
                "是" if c.sold_in_period else "否",
                c.reason,
                c.points,
                c.amount_fen,
            )
            for c in report.cancellations
        ],
    )
    totals = report.totals
    summary = Sheet(
        "合计",
        (Column("项目", 20), Column("数值", 16, Kind.int), Column("金额（元）", 16, Kind.money)),
        [
            ("兑换笔数", totals.sales, None),
            ("取消笔数", totals.cancellations, None),
            ("应结积分与金额", totals.points, totals.amount_fen),
        ],
    )
    return await workbook_response(
        [lines, cancelled, summary], f"{report.store_name}-结算单-{report.period}.xlsx"
    )


async def funding_xlsx(village_name: str, overview: FundingOverview) -> StreamingResponse:
    """资金概况: what is owed in points and money, what was received and spent, per store."""
    figures = Sheet(
        "资金概况",
        (Column("项目", 26), Column("积分", 14, Kind.int), Column("金额（元）", 16, Kind.money)),
        [
            ("农户数", overview.households, None),
            ("在册积分（全部农户）", overview.points_outstanding, overview.outstanding_fen),
            ("其中预约冻结", overview.points_held, None),
            ("已收资金", None, overview.funds_received_fen),
            ("已付超市结算", None, overview.funds_spent_fen),
            ("账上资金", None, overview.cash_fen),
            ("未结算兑换（欠超市）", None, overview.unsettled_fen),
            ("结余（负数为缺口）", None, overview.surplus_fen),
        ],
        notes=[
            f"{village_name} 积分超市资金概况",
            f"每积分 {overview.peg.yuan_per_point}；截至 {to_local(overview.as_of):%Y-%m-%d %H:%M}",
            "资金充足" if overview.funded else "资金不足：请补充资金",
        ],
    )
    stores = Sheet(
        "各超市",
        (
            Column("超市", 20),
            Column("已结算（元）", 14, Kind.money),
            Column("未结算积分", 14, Kind.int),
            Column("未结算（元）", 14, Kind.money),
            Column("最近结算期间", 16),
        ),
        [
            (s.name, s.settled_fen, s.unsettled_points, s.unsettled_fen, s.last_settled_period)
            for s in overview.stores
        ],
    )
    return await workbook_response([figures, stores], f"{village_name}-资金概况.xlsx")


TOWN_COLUMNS = (
    Column("村代码", 10),
    Column("村名", 14),
    Column("农户数", 10, Kind.int),
    Column("参与户数", 10, Kind.int),
    Column("参与率", 10, Kind.percent),
    Column("发放积分", 12, Kind.int),
    Column("扣减积分", 12, Kind.int),
    Column("兑换积分", 12, Kind.int),
    Column("在册积分", 12, Kind.int),
)


async def town_xlsx(town_name: str, overview: TownOverview) -> StreamingResponse:
    """The villages side by side for a period, with the town's totals."""
    rows: list[tuple[object, ...]] = [
        (
            v.code,
            v.name,
            v.households,
            v.taking_part,
            v.taking_part / v.households if v.households else 0,
            v.issued,
            v.deducted,
            v.redeemed,
            v.outstanding,
        )
        for v in overview.villages
    ]
    households = sum(v.households for v in overview.villages)
    taking_part = sum(v.taking_part for v in overview.villages)
    rows.append(
        (
            "合计",
            None,
            households,
            taking_part,
            taking_part / households if households else 0,
            sum(v.issued for v in overview.villages),
            sum(v.deducted for v in overview.villages),
            sum(v.redeemed for v in overview.villages),
            sum(v.outstanding for v in overview.villages),
        )
    )
    sheet = Sheet(
        "各村概况", TOWN_COLUMNS, rows, notes=[f"{town_name} 各村积分概况", _period_name(overview.period)]
    )
    return await workbook_response([sheet], f"{town_name}-各村概况-{overview.period}.xlsx")
