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


class CheckpointCreate(InputModel):
    village_id: uuid.UUID


class CheckpointOut(BaseModel):
    id: int
    village_id: uuid.UUID | None
    seq: int
    digest: str
    records: int
    sealed_at: datetime
