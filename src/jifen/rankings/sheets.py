"""积分排行榜 and 红黑榜 as spreadsheets, built from the very report the JSON answer carries."""

from __future__ import annotations

from fastapi.responses import StreamingResponse

from jifen.kit.columns import AVAILABLE, EARNED, HOUSEHOLD
from jifen.kit.xlsx import Column, Kind, Sheet, exported_note, period_note, workbook_response
from jifen.rankings.schemas import RankingEntry, RankingOut, RedBlackOut

RANK_COLUMNS = (
    Column("名次", 8, Kind.int),
    *HOUSEHOLD,
    Column("期间得分", 12, Kind.int),
    EARNED,
    AVAILABLE,
)


def _rank_rows(entries: list[RankingEntry]) -> list[tuple[object, ...]]:
    return [(e.rank, e.code, e.head_name, e.grid, e.points, e.lifetime_earned, e.available) for e in entries]


async def ranking_xlsx(
    village_name: str, ranking: RankingOut, lists: RedBlackOut | None
) -> StreamingResponse:
    """积分排行榜 (and, for a month or year, its 红榜 and 黑榜 on their own sheets)."""
    notes = [f"{village_name} 积分排行榜", period_note(ranking.period)]
    if ranking.grid:
        notes.append(f"网格：{ranking.grid}")
    sheets = [Sheet("排行榜", RANK_COLUMNS, _rank_rows(ranking.items), notes=[*notes, exported_note()])]
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
