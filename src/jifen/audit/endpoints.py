from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status

from jifen.audit import repository, service
from jifen.audit.auth import AuditAccess, AuditReader, VillageRequired, village_auditor
from jifen.audit.schemas import AuditEventOut, CheckpointOut, VerifyOut
from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.errors import BadRequest, Forbidden, NotAuthenticated, NotFound, error_responses
from jifen.kit.pagination import Cursor, InvalidCursor, Limit, Page, decode_cursor, encode_cursor
from jifen.kit.timeutil import LOCAL_TZ

router = APIRouter(tags=["audit"], route_class=AutoCommitRoute)

READ_ERRORS = (NotAuthenticated, Forbidden, NotFound, VillageRequired)


class InvalidDigest(BadRequest):
    code = "invalid_digest"
    default_detail = "校验码应为 64 位十六进制字符"


@router.get(
    "/audit",
    response_model=Page[AuditEventOut],
    responses=error_responses(*READ_ERRORS, InvalidCursor),
)
async def list_audit_events(
    access: AuditReader,
    session: Session,
    actor_id: uuid.UUID | None = None,
    record_type: Annotated[str | None, Query(max_length=32)] = None,
    record_id: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=48)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[AuditEventOut]:
    """The audit trail, newest first: who did what to which record, why, from where, when."""
    # a time without an offset is the villages' local time, not whatever zone the server runs in
    since, until = (t.replace(tzinfo=LOCAL_TZ) if t and t.tzinfo is None else t for t in (since, until))
    after = decode_cursor(cursor, 1)
    try:
        before_id = int(after[0]) if after else None
    except ValueError:
        raise InvalidCursor() from None
    rows = await repository.events(
        session,
        scope=access.village_id,
        actor_id=actor_id,
        record_type=record_type,
        record_id=record_id,
        action=action,
        since=since,
        until=until,
        before_id=before_id,
        limit=limit + 1,
    )
    items = [repository.event_out(row) for row in rows[:limit]]
    return Page(items=items, next_cursor=encode_cursor(items[-1].id) if len(rows) > limit else None)


@router.get(
    "/audit/verify",
    response_model=VerifyOut,
    responses=error_responses(*READ_ERRORS, InvalidDigest),
)
async def verify_chain(
    request: Request,
    access: AuditReader,
    digest: Annotated[str | None, Query(description="a printed checkpoint digest to look for")] = None,
) -> VerifyOut:
    """Re-check the village's tamper-evident chain (or every village's, for a town admin without
    village_id); name the first broken record."""
    wanted = None
    if digest is not None:
        try:
            wanted = bytes.fromhex(digest.replace(" ", ""))
        except ValueError:
            raise InvalidDigest() from None
        if len(wanted) != 32:
            raise InvalidDigest()
    return await service.verify_chain(request.app.state.engine, access.village_id, wanted)


@router.post(
    "/villages/{village_id}/checkpoints",
    status_code=status.HTTP_201_CREATED,
    response_model=CheckpointOut,
    responses=error_responses(*READ_ERRORS),
)
async def seal_checkpoint(
    request: Request, access: Annotated[AuditAccess, Depends(village_auditor)]
) -> CheckpointOut:
    """Seal the village's chain now: its head digest, to print on the notice board (公示栏)."""
    assert access.village_id is not None
    return await service.seal_checkpoint(request.app.state.engine, access.village_id, access.actor.user_id)


@router.get(
    "/villages/{village_id}/checkpoints",
    response_model=Page[CheckpointOut],
    responses=error_responses(*READ_ERRORS),
)
async def list_checkpoints(
    access: Annotated[AuditAccess, Depends(village_auditor)], session: Session
) -> Page[CheckpointOut]:
    """The village's sealed checkpoints, newest first."""
    assert access.village_id is not None
    return Page(items=await repository.checkpoints(session, access.village_id))
