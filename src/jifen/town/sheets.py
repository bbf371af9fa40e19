"""The town overview as a spreadsheet: the villages side by side, with the town's totals."""

from __future__ import annotations

from fastapi.responses import StreamingResponse

from jifen.kit.columns import POSTED
from jifen.kit.xlsx import Column, Kind, Sheet, period_note, workbook_response
from jifen.town.service import TownOverview

TOWN_COLUMNS = (
    Column("村代码", 10),
    Column("村名", 14),
    Column("农户数", 10, Kind.int),
    Column("参与户数", 10, Kind.int),
    Column("参与率", 10, Kind.percent),
    Column("发放积分", 12, Kind.int),
    Column("扣减积分", 12, Kind.int),
    Column("兑换积分", 12, Kind.int),
    POSTED,
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
        "各村概况", TOWN_COLUMNS, rows, notes=[f"{town_name} 各村积分概况", period_note(overview.period)]
    )
    return await workbook_response([sheet], f"{town_name}-各村概况-{overview.period}.xlsx")
