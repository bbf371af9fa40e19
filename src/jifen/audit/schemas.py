from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from jifen.kit.schemas import InputModel


class AuditEventOut(BaseModel):
    id: int
    village_id: uuid.UUID | None
    occurred_at: datetime
    actor_id: uuid.UUID | None
    actor_name: str | None
    actor_roles: str | None
    action: str
    record_type: str
    record_id: str | None
    before: Any
    after: Any
    reason: str | None
    request_id: str | None
    client_addr: str | None


class BrokenRecord(BaseModel):
    kind: str | None
    id: str | None
    chain_id: int | None
    seq: int | None
    problem: str


class BadAccount(BaseModel):
    """A household account whose balance disagrees with its postings (posted, lifetime_earned) or its
    active holds (held)."""

    account_id: uuid.UUID
    household_code: str | None
    column: Literal["posted", "held", "lifetime_earned"]
    expected: int
    found: int


class VerifyOut(BaseModel):
    ok: bool
    checked: int
    head: str | None
    pending: int
    checkpoints: int
    first_bad: BrokenRecord | None = None
    digest_found: bool | None = None
    village_id: uuid.UUID | None = None
    accounts_checked: int = 0
    first_bad_account: BadAccount | None = None


class VerdictOut(VerifyOut):
    """A cached verdict plus what was new: `checked` counts only the records linked after the verification
    it builds on (`verified_since_seq`, `base_verified_at`); `ok` is that verdict and the new records'
    together. A broken verdict stays until a full verification (`GET /audit/verify`) passes again."""

    verified_since_seq: int
    base_verified_at: datetime
    base_full_scan: bool
    last_full_verification_at: datetime | None


class CheckpointCreate(InputModel):
    village_id: uuid.UUID


class CheckpointOut(BaseModel):
    id: int
    village_id: uuid.UUID | None
    seq: int
    digest: str
    records: int
    sealed_at: datetime
