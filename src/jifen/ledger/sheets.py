"""积分流水 as a spreadsheet: every posting of a period, read through a server-side cursor and written as it
comes, so a village's year of 100,000 postings is never in memory at once."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.auth.dependencies import VillageAccess, village_role
from jifen.kit.columns import ACTOR, HEAD_NAME, POINTS, REASON
from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.error_sets import READ_ERRORS
from jifen.kit.errors import error_responses
from jifen.kit.periods import InvalidPeriod, parse_period
from jifen.kit.sql import Sql
from jifen.kit.xlsx import BATCH, XLSX_MEDIA_TYPE, Column, Kind, Sheet, Writer, exported_note, feed, response
from jifen.models import Role, TransactionKind

KIND_NAMES: dict[str, str] = {
    TransactionKind.award: "奖励",
    TransactionKind.deduction: "扣分",
    TransactionKind.reversal: "冲正",
    TransactionKind.redemption: "兑换",
    TransactionKind.redemption_cancel: "取消兑换",
    TransactionKind.expiry: "清零",
    TransactionKind.rectification: "整改返还",
    TransactionKind.adjustment: "调整",
}
ACCOUNT_NAMES: dict[str, str] = {
    "household": "农户",
    "issuing": "村发放账户",
    "deductions": "扣分账户",
    "store": "超市",
    "expiry": "清零账户",
}

LEDGER_COLUMNS = (
    Column("记账时间", 20, Kind.datetime),
    Column("交易号", 38),
    Column("类型", 10),
    Column("账户", 12),
    Column("户号/超市", 14),
    HEAD_NAME,
    POINTS,
    Column("记账后余额", 12, Kind.int),
    Column("规则编号", 12),
    Column("规则", 20),
    Column("规则版本", 8, Kind.int),
    ACTOR,
    Column("摘要", 30),
    REASON,
)

_LEDGER = """
SELECT p.created_at, p.transaction_id, t.kind, a.kind AS account_kind,
       coalesce(h.code, s.name) AS owner, h.head_name, p.amount, p.balance_after,
       r.code AS rule_code, rv.name AS rule_name, t.rule_version,
       coalesce(u.display_name, u.username) AS actor, t.memo, t.reason
  FROM postings p
  JOIN ledger_transactions t ON t.village_id = p.village_id AND t.id = p.transaction_id
  JOIN accounts a ON a.village_id = p.village_id AND a.id = p.account_id
  LEFT JOIN households h ON h.village_id = a.village_id AND h.id = a.household_id
  LEFT JOIN stores s ON s.village_id = a.village_id AND s.id = a.store_id
  LEFT JOIN rules r ON r.village_id = t.village_id AND r.id = t.rule_id
  LEFT JOIN rule_versions rv
         ON rv.village_id = t.village_id AND rv.rule_id = t.rule_id AND rv.version = t.rule_version
  LEFT JOIN users u ON u.id = t.actor_id
 WHERE p.village_id = $1 AND p.created_at >= $2 AND p.created_at < $3
 ORDER BY p.created_at, p.transaction_id, p.id
"""


@dataclass(frozen=True)
class LedgerRow:
    created_at: datetime
    transaction_id: uuid.UUID
    kind: str
    account_kind: str
    owner: str | None
    head_name: str | None
    amount: int
    balance_after: int | None
    rule_code: str | None
    rule_name: str | None
    rule_version: int | None
    actor: str | None
    memo: str | None
    reason: str | None


async def _ledger_rows(
    session: AsyncSession, village_id: uuid.UUID, start: datetime, end: datetime, totals: dict[str, int]
) -> AsyncIterator[Sequence[Any]]:
    # a server-side cursor inside the request's transaction: the rows arrive BATCH at a time
    async for r in Sql(session).cursor(LedgerRow, _LEDGER, village_id, start, end, prefetch=BATCH):
        amount = r.amount
        totals["credit" if amount > 0 else "debit"] += amount
        totals["postings"] += 1
        yield (
            r.created_at,
            str(r.transaction_id),
            KIND_NAMES.get(r.kind, r.kind),
            ACCOUNT_NAMES.get(r.account_kind, r.account_kind),
            r.owner,
            r.head_name,
            amount,
            r.balance_after,
            r.rule_code,
            r.rule_name,
            r.rule_version,
            r.actor,
            r.memo,
            r.reason,
        )


async def ledger_xlsx(
    session: AsyncSession,
    village_id: uuid.UUID,
    village_name: str,
    period: str,
    start: datetime,
    end: datetime,
) -> StreamingResponse:
    """积分流水: every posting of the period, both sides of each transaction, with its rule, actor and reason;
    a closing row sums the points in and out (double entry: they cancel)."""
    writer = Writer()
    writer.start(
        Sheet(
            "积分流水",
            LEDGER_COLUMNS,
            notes=[
                f"{village_name} 积分流水（每笔记账的借贷两方）",
                f"期间：{period}（北京时间）；{exported_note()}",
            ],
        )
    )
    totals = {"credit": 0, "debit": 0, "postings": 0}
    await feed(writer, _ledger_rows(session, village_id, start, end, totals))
    writer.total(f"合计 {totals['postings']} 条", [None] * 5 + [totals["credit"] + totals["debit"]])
    writer.total("其中记入", [None] * 5 + [totals["credit"]])
    writer.total("其中记出", [None] * 5 + [totals["debit"]])
    return await response(writer, f"{village_name}-积分流水-{period}.xlsx")


router = APIRouter(tags=["exports"], route_class=AutoCommitRoute)

LedgerReader = Annotated[VillageAccess, Depends(village_role(Role.village_admin))]


@router.get(
    "/villages/{village_id}/exports/ledger",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
            "description": "the spreadsheet",
        },
        **error_responses(*READ_ERRORS, InvalidPeriod),
    },
)
async def export_ledger(
    access: LedgerReader,
    session: Session,
    period: Annotated[
        str,
        Query(max_length=20, description="2026-11, 2026-Q4, 2026 or 2026-11-01/2026-11-15 (village time)"),
    ],
) -> StreamingResponse:
    """积分流水 as a spreadsheet: every posting of the period (both sides of each transaction) with its
    rule, actor, memo and reason, oldest first, and closing rows that total the points in and out. The
    village admin and the town admin."""
    window = parse_period(period)
    return await ledger_xlsx(
        session, access.village.id, access.village.name, window.label, window.starts_at, window.ends_at
    )
