from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from jifen.audit import repository, service
from jifen.audit.auth import AuditAccess, AuditReader, VillageRequired, village_auditor
from jifen.audit.schemas import AuditEventOut, CheckpointOut, VerdictOut, VerifyOut
from jifen.audit.sheets import audit_xlsx
from jifen.kit.db import AutoCommitRoute, Session
from jifen.kit.errors import BadRequest, Forbidden, NotAuthenticated, NotFound, create_route, error_responses
from jifen.kit.pagination import Cursor, InvalidCursor, Limit, Page, decode_cursor, encode_cursor
from jifen.kit.timeutil import LOCAL_TZ
from jifen.kit.xlsx import XLSX_RESPONSE, XlsxWanted
from jifen.models import Village

router = APIRouter(tags=["audit"], route_class=AutoCommitRoute)

READ_ERRORS = (NotAuthenticated, Forbidden, NotFound, VillageRequired)


class InvalidDigest(BadRequest, code="invalid_digest", detail="校验码应为 64 位十六进制字符"): ...


@router.get(
    "/audit",
    response_model=Page[AuditEventOut],
    responses=error_responses(*READ_ERRORS, InvalidCursor) | XLSX_RESPONSE,
)
async def list_audit_events(
    access: AuditReader,
    session: Session,
    xlsx: XlsxWanted,
    actor_id: uuid.UUID | None = None,
    record_type: Annotated[str | None, Query(max_length=32)] = None,
    record_id: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=48)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[AuditEventOut] | Response:
    """The audit trail, newest first: who did what to which record, why, from where, when. As a
    spreadsheet (`?format=xlsx`): every event the filters select, e.g. a month with `since` and `until`
    (cursor and limit do not apply)."""
    # a time without an offset is the villages' local time, not whatever zone the server runs in
    since, until = (t.replace(tzinfo=LOCAL_TZ) if t and t.tzinfo is None else t for t in (since, until))
    filters: dict[str, Any] = {
        "scope": access.village_id,
        "actor_id": actor_id,
        "record_type": record_type,
        "record_id": record_id,
        "action": action,
        "since": since,
        "until": until,
    }
    if xlsx:
        village = await session.get(Village, access.village_id) if access.village_id else None
        return await audit_xlsx(session, village.name if village else "全镇", filters)
    after = decode_cursor(cursor, 1)
    try:
        before_id = int(after[0]) if after else None
    except ValueError:
        raise InvalidCursor() from None
    rows = await repository.events(session, **filters, before_id=before_id, limit=limit + 1)
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


@router.get(
    "/villages/{village_id}/audit/verdict",
    response_model=VerdictOut,
    responses=error_responses(*READ_ERRORS),
)
async def cached_verdict(
    request: Request, access: Annotated[AuditAccess, Depends(village_auditor)]
) -> VerdictOut:
    """The village's newest verification and a check of only what was linked since (its cost follows what is
    new, not the village's history): what the admin page shows. `GET /audit/verify` re-checks everything."""
    assert access.village_id is not None
    return await service.verdict_out(request.app.state.engine, access.village_id)


@create_route(router, "/villages/{village_id}/checkpoints", CheckpointOut, *READ_ERRORS)
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
