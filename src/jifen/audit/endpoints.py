from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import Response

from jifen.audit import chain, repository
from jifen.audit.auth import AuditAccess, AuditReader, VillageRequired, village_auditor
from jifen.audit.schemas import AuditEventOut, BadAccount, BrokenRecord, CheckpointOut, VerifyOut
from jifen.audit.service import TOWN_SCOPE
from jifen.audit.sheets import audit_xlsx
from jifen.kit.db import AutoCommitRoute, Session, raw_connection
from jifen.kit.errors import BadRequest, Forbidden, NotAuthenticated, NotFound, error_responses
from jifen.kit.pagination import Cursor, InvalidCursor, Limit, Page, decode_cursor, encode_cursor
from jifen.kit.timeutil import LOCAL_TZ
from jifen.kit.xlsx import XLSX_RESPONSE, XlsxWanted
from jifen.models import Village

router = APIRouter(tags=["audit"], route_class=AutoCommitRoute)

READ_ERRORS = (NotAuthenticated, Forbidden, NotFound, VillageRequired)


class InvalidDigest(BadRequest):
    code = "invalid_digest"
    default_detail = "校验码应为 64 位十六进制字符"


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
    if xlsx:
        filters = {
            "scope": access.village_id,
            "actor_id": actor_id,
            "record_type": record_type,
            "record_id": record_id,
            "action": action,
            "since": since,
            "until": until,
        }
        village = await session.get(Village, access.village_id) if access.village_id else None
        return await audit_xlsx(session, village.name if village else "全镇", filters)
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


def _verify_out(verdict: chain.Verdict) -> VerifyOut:
    return VerifyOut(
        ok=verdict.ok,
        checked=verdict.checked,
        head=verdict.head,
        pending=verdict.pending,
        checkpoints=verdict.checkpoints,
        first_bad=BrokenRecord(**verdict.first_bad) if verdict.first_bad else None,
        digest_found=verdict.digest_found,
        village_id=None if verdict.scope == TOWN_SCOPE else verdict.scope,
        accounts_checked=verdict.accounts_checked,
        first_bad_account=BadAccount(**verdict.first_bad_account) if verdict.first_bad_account else None,
    )


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
    async with raw_connection(request.app.state.engine) as conn:
        if access.village_id is not None:
            return _verify_out(await chain.verify(conn, access.village_id, wanted))
        verdicts = [await chain.verify(conn, scope, wanted) for scope in await chain.scopes(conn)]
    failed = next((v for v in verdicts if not v.ok), None)
    summary = _verify_out(failed or verdicts[0])
    summary.checked = sum(v.checked for v in verdicts)
    summary.pending = sum(v.pending for v in verdicts)
    summary.checkpoints = sum(v.checkpoints for v in verdicts)
    summary.accounts_checked = sum(v.accounts_checked for v in verdicts)
    summary.head = None if failed is None else summary.head
    if wanted is not None:
        summary.digest_found = any(v.digest_found for v in verdicts)
    return summary


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
    async with raw_connection(request.app.state.engine) as conn:
        checkpoint = await chain.seal(conn, access.village_id, access.actor.user_id)
    if checkpoint is None:
        raise NotFound("该村还没有任何记录可以封存")
    return CheckpointOut(
        id=checkpoint.id,
        village_id=checkpoint.scope,
        seq=checkpoint.seq,
        digest=checkpoint.digest,
        records=checkpoint.records,
        sealed_at=checkpoint.sealed_at,
    )


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
