"""操作日志 as a spreadsheet: the events the filters select, read in keyset pages, newest first."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.audit import repository as audit_repository
from jifen.audit.service import TOWN_SCOPE
from jifen.kit.columns import ACTOR, REASON
from jifen.kit.timeutil import to_local
from jifen.kit.xlsx import BATCH, Column, Kind, Sheet, Writer, exported_note, feed, response

AUDIT_COLUMNS = (
    Column("编号", 10, Kind.int),
    Column("时间", 20, Kind.datetime),
    ACTOR,
    Column("岗位", 16),
    Column("操作", 22),
    Column("对象类型", 14),
    Column("对象", 38),
    REASON,
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
                r.id,
                r.occurred_at,
                r.actor_name,
                r.actor_roles,
                r.action,
                r.record_type,
                r.record_id,
                r.reason,
                _compact(r.before),
                _compact(r.after),
                r.client_addr,
                r.request_id,
            )
        if len(rows) < BATCH:
            return
        before = rows[-1].id


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
                f"{period}；{exported_note()}",
            ],
        )
    )
    await feed(writer, _audit_rows(session, filters))
    return await response(writer, f"{scope_name}-操作日志.xlsx")
