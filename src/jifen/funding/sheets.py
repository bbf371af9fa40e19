"""A store's settlement and the village's funding overview as spreadsheets, built from the reports the JSON
answers carry."""

from __future__ import annotations

from fastapi.responses import StreamingResponse

from jifen.funding.schemas import FundingOverview, SettlementReport
from jifen.kit.columns import HOUSEHOLD_CODE, POINTS, REASON, YUAN
from jifen.kit.timeutil import to_local
from jifen.kit.xlsx import Column, Kind, Sheet, exported_note, workbook_response


async def settlement_xlsx(report: SettlementReport) -> StreamingResponse:
    """A store's settlement: per item net of cancellations, the cancellations, and the total owed."""
    notes = [
        f"{report.store_name} 结算单",
        f"期间：{report.first_day} 至 {report.last_day}（含）" + ("" if report.ended else "，尚未结束"),
        exported_note(),
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
            YUAN,
        ),
        [(x.name, x.unit, x.sold, x.cancelled, x.quantity, x.points, x.amount_fen) for x in report.lines],
        notes=notes,
    )
    cancelled = Sheet(
        "取消的兑换",
        (
            Column("小票号", 16),
            HOUSEHOLD_CODE,
            Column("兑换时间", 20, Kind.datetime),
            Column("取消时间", 20, Kind.datetime),
            Column("本期兑换", 10),
            REASON,
            POINTS,
            YUAN,
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
