"""The large exports: the household roll with balances, the ledger of a period and the audit trail of a
period. Rows come from the database a page at a time (keyset pages, or a server-side cursor for the
ledger) and go straight into the write-only workbook, so a village's year of 100,000 postings is never in
memory at once."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.audit import repository as audit_repository
from jifen.audit.service import TOWN_SCOPE
from jifen.kit.db import driver
from jifen.kit.timeutil import to_local, utcnow
from jifen.kit.xlsx import BATCH, Column, Kind, Sheet, Writer, feed, response
from jifen.models import TransactionKind

# ---------------------------------------------------------------------------------------------- the roll

ROLL_COLUMNS = (
    Column("户号", 12),
    Column("户主", 12),
    Column("网格", 12),
    Column("住址", 28),
    Column("类别", 10),
    Column("人口", 8, Kind.int),
    Column("在册积分", 12, Kind.int),
    Column("冻结积分", 12, Kind.int),
    Column("可用积分", 12, Kind.int),
    Column("累计获得", 12, Kind.int),
    Column("建档日期", 12, Kind.date),
)

_ROLL = """
SELECT h.code, h.head_name, h.grid, h.address, h."class" AS household_class,
       (SELECT count(*) FROM members m WHERE m.village_id = h.village_id AND m.household_id = h.id) AS people,
       coalesce(a.posted, 0) AS posted, coalesce(a.held, 0) AS held, coalesce(a.lifetime_earned, 0) AS earned,
       h.created_at
  FROM households h
  LEFT JOIN accounts a ON a.village_id = h.village_id AND a.household_id = h.id AND a.kind = 'household'
 WHERE h.village_id = $1 AND h.code > $2
   AND ($3::text IS NULL OR h.grid = $3)
   AND ($4::text[] IS NULL OR h.grid = ANY($4))
   AND ($5::text IS NULL OR h.code ILIKE $5 || '%' ESCAPE '\\'
        OR h.head_name ILIKE '%' || $5 || '%' ESCAPE '\\')
 ORDER BY h.code
 LIMIT $6
"""


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def _roll_rows(
    session: AsyncSession,
    village_id: uuid.UUID,
    *,
    grid: str | None,
    grids: frozenset[str] | None,
    q: str | None,
    addresses: bool,
) -> AsyncIterator[Sequence[Any]]:
    connection = await driver(session)
    after = ""
    pattern = _like_escape(q) if q else None
    while True:
        rows = await connection.fetch(
            _ROLL, village_id, after, grid, sorted(grids) if grids is not None else None, pattern, BATCH
        )
        for r in rows:
            yield (
                r["code"],
                r["head_name"],
                r["grid"],
                r["address"] if addresses else None,
                r["household_class"],
                r["people"],
                r["posted"],
                r["held"],
                r["posted"] - r["held"],
                r["earned"],
                r["created_at"],
            )
        if len(rows) < BATCH:
            return
        after = rows[-1]["code"]


async def roll_xlsx(
    session: AsyncSession,
    village_id: uuid.UUID,
    village_name: str,
    *,
    grid: str | None,
    grids: frozenset[str] | None,
    q: str | None,
    addresses: bool,
) -> StreamingResponse:
    """花名册: every household the caller may list (a cadre: their grids), with its points. Addresses only
    for those who may read them (not the counter)."""
    notes = [f"{village_name} 农户花名册（含积分）", f"导出时间：{to_local(utcnow()):%Y-%m-%d %H:%M}"]
    if grid or grids is not None:
        notes.insert(1, "网格：" + (grid or "、".join(sorted(grids or ()))))
    writer = Writer()
    writer.start(Sheet("花名册", ROLL_COLUMNS, notes=notes))
    await feed(writer, _roll_rows(session, village_id, grid=grid, grids=grids, q=q, addresses=addresses))
    return await response(writer, f"{village_name}-花名册.xlsx")


# ---------------------------------------------------------------------------------------------- the ledger

KIND_NAMES = {
    TransactionKind.award: "奖励",
    TransactionKind.deduction: "扣分",
    TransactionKind.reversal: "冲正",
    TransactionKind.redemption: "兑换",
    TransactionKind.redemption_cancel: "取消兑换",
    TransactionKind.expiry: "清零",
    TransactionKind.rectification: "整改返还",
    TransactionKind.adjustment: "调整",
}
ACCOUNT_NAMES = {
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
    Column("户主", 12),
    Column("积分", 10, Kind.int),
    Column("记账后余额", 12, Kind.int),
    Column("规则编号", 12),
    Column("规则", 20),
    Column("规则版本", 8, Kind.int),
    Column("操作人", 14),
    Column("摘要", 30),
    Column("原因", 30),
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


async def _ledger_rows(
    session: AsyncSession, village_id: uuid.UUID, start: datetime, end: datetime, totals: dict[str, int]
) -> AsyncIterator[Sequence[Any]]:
    connection = await driver(session)
    # a server-side cursor inside the request's transaction: the rows arrive BATCH at a time
    async for r in connection.cursor(_LEDGER, village_id, start, end, prefetch=BATCH):
        amount = r["amount"]
        totals["credit" if amount > 0 else "debit"] += amount
        totals["postings"] += 1
        yield (
            r["created_at"],
            str(r["transaction_id"]),
            KIND_NAMES.get(r["kind"], r["kind"]),
            ACCOUNT_NAMES.get(r["account_kind"], r["account_kind"]),
            r["owner"],
            r["head_name"],
            amount,
            r["balance_after"],
            r["rule_code"],
            r["rule_name"],
            r["rule_version"],
            r["actor"],
            r["memo"],
            r["reason"],
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
                f"期间：{period}（北京时间）；导出时间：{to_local(utcnow()):%Y-%m-%d %H:%M}",
            ],
        )
    )
    totals = {"credit": 0, "debit": 0, "postings": 0}
    await feed(writer, _ledger_rows(session, village_id, start, end, totals))
    writer.total(f"合计 {totals['postings']} 条", [None] * 5 + [totals["credit"] + totals["debit"]])
    writer.total("其中记入", [None] * 5 + [totals["credit"]])
    writer.total("其中记出", [None] * 5 + [totals["debit"]])
    return await response(writer, f"{village_name}-积分流水-{period}.xlsx")


# ------------------------------------------------------------------------------------------ the audit trail

AUDIT_COLUMNS = (
    Column("编号", 10, Kind.int),
    Column("时间", 20, Kind.datetime),
    Column("操作人", 14),
    Column("岗位", 16),
    Column("操作", 22),
    Column("对象类型", 14),
    Column("对象", 38),
    Column("原因", 30),
    Column("修改前", 40),
    Column("修改后", 40),
    Column("来源地址", 16),
    Column("请求号", 20),
)


async def _audit_rows(session: AsyncSession, filters: dict[str, Any]) -> AsyncIterator[Sequence[Any]]:
    before: int | None = None
    while True:
        rows = await audit_repository.events(session, **filters, before_id=before, limit=BATCH)
        for r in rows:
            yield (
                r["id"],
                r["occurred_at"],
                r["actor_name"],
                r["actor_roles"],
                r["action"],
                r["record_type"],
                r["record_id"],
                r["reason"],
                _compact(r["before"]),
                _compact(r["after"]),
                r["client_addr"],
                r["request_id"],
            )
        if len(rows) < BATCH:
            return
        before = rows[-1]["id"]


def _compact(document: str | None) -> str | None:
    """A JSON document as one readable line (Chinese as itself), cut to what a cell shows."""
    if document is None:
        return None
    text = json.dumps(json.loads(document), ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= 2000 else text[:2000] + "…"


def _between(since: datetime | None, until: datetime | None) -> str:
    shown = (f"{to_local(since):%Y-%m-%d %H:%M} 起" if since else "") + (
        f" 至 {to_local(until):%Y-%m-%d %H:%M} 前" if until else ""
    )
    return "期间：" + (shown.strip() or "全部")


async def audit_xlsx(session: AsyncSession, scope_name: str, filters: dict[str, Any]) -> StreamingResponse:
    """操作日志: every audit event the filters select, newest first (as the JSON lists them)."""
    if filters.get("scope") == TOWN_SCOPE:
        scope_name = "镇级"
    period = _between(filters.get("since"), filters.get("until"))
    writer = Writer()
    writer.start(
        Sheet(
            "操作日志",
            AUDIT_COLUMNS,
            notes=[
                f"{scope_name} 操作日志",
                f"{period}；导出时间：{to_local(utcnow()):%Y-%m-%d %H:%M}",
            ],
        )
    )
    await feed(writer, _audit_rows(session, filters))
    return await response(writer, f"{scope_name}-操作日志.xlsx")
