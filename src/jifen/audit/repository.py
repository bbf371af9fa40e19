from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.audit.schemas import AuditEventOut, CheckpointOut
from jifen.audit.service import TOWN_SCOPE
from jifen.kit.db import driver


async def events(
    session: AsyncSession,
    *,
    scope: uuid.UUID | None,
    actor_id: uuid.UUID | None,
    record_type: str | None,
    record_id: str | None,
    action: str | None,
    since: datetime | None,
    until: datetime | None,
    before_id: int | None,
    limit: int,
) -> list[Any]:
    conditions, args = [], []

    def where(sql: str, value: Any) -> None:
        args.append(value)
        conditions.append(sql.format(f"${len(args)}"))

    if scope is not None:
        where("scope = {}", scope)
    if actor_id is not None:
        where("actor_id = {}", actor_id)
    if record_type is not None:
        where("record_type = {}", record_type)
    if record_id is not None:
        where("record_id = {}", record_id)
    if action is not None:
        where("action = {}", action)
    if since is not None:
        where("occurred_at >= {}", since)
    if until is not None:
        where("occurred_at < {}", until)
    if before_id is not None:
        where("id < {}", before_id)
    args.append(limit)
    sql = (
        "SELECT scope, id, occurred_at, actor_id, actor_name, actor_roles, action, record_type, record_id,"
        # as text: the pooled connections decode jsonb themselves (SQLAlchemy's codec), a bare one does not
        " before::text AS before, after::text AS after, reason, request_id, client_addr FROM audit_events"
        + (" WHERE " + " AND ".join(conditions) if conditions else "")
        + f" ORDER BY id DESC LIMIT ${len(args)}"
    )
    return list(await (await driver(session)).fetch(sql, *args))


def event_out(row: Any) -> AuditEventOut:
    return AuditEventOut(
        id=row["id"],
        village_id=None if row["scope"] == TOWN_SCOPE else row["scope"],
        occurred_at=row["occurred_at"],
        actor_id=row["actor_id"],
        actor_name=row["actor_name"],
        actor_roles=row["actor_roles"],
        action=row["action"],
        record_type=row["record_type"],
        record_id=row["record_id"],
        before=json.loads(row["before"]) if row["before"] is not None else None,
        after=json.loads(row["after"]) if row["after"] is not None else None,
        reason=row["reason"],
        request_id=row["request_id"],
        client_addr=row["client_addr"],
    )


async def checkpoints(session: AsyncSession, scope: uuid.UUID) -> list[CheckpointOut]:
    rows = await (await driver(session)).fetch(
        "SELECT id, scope, seq, digest, records, sealed_at FROM checkpoints WHERE scope = $1"
        " ORDER BY id DESC",
        scope,
    )
    return [
        CheckpointOut(
            id=row["id"],
            village_id=row["scope"],
            seq=row["seq"],
            digest=bytes(row["digest"]).hex(),
            records=row["records"],
            sealed_at=row["sealed_at"],
        )
        for row in rows
    ]
