"""The audit trail and its tamper evidence (migration 0003): audit events, one hash chain per village over
its ledger transactions, postings and audit events, and sealed checkpoints. All three are append-only."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Identity,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from jifen.models import base
from jifen.models.base import Base
from jifen.models.ledger import chain_id_column


class AuditEvent(Base):
    """Who did what, to which record, on behalf of which village, why, from where, when. The scope is the
    village, or the zero uuid for what belongs to no village (`audit.service.TOWN_SCOPE`)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        base.distinct_index("ix_audit_events_scope_chain_id", "scope", "chain_id"),
        base.distinct_index("ix_audit_events_scope_record", "scope", "record_type", "record_id", "id"),
        base.distinct_index("ix_audit_events_actor_id", "actor_id", "id"),
        base.distinct_index("ix_audit_events_scope_action", "scope", "action", "id"),
        # the login throttle's history: recent failures by name and by address, and the last logins
        base.partial_index(
            "ix_audit_events_failed_login_name",
            "record_id",
            "occurred_at",
            where="action = 'auth.login_failed'",
        ),
        base.partial_index(
            "ix_audit_events_failed_login_addr",
            "client_addr",
            "occurred_at",
            where="action = 'auth.login_failed'",
        ),
        base.partial_index(
            "ix_audit_events_login_name", "record_id", "occurred_at", where="action = 'auth.login'"
        ),
    )

    scope: Mapped[uuid.UUID] = base.uuid_key()
    id: Mapped[int] = base.identity_key()
    chain_id: Mapped[int] = chain_id_column()
    occurred_at: Mapped[datetime] = base.server_now()
    actor_id: Mapped[uuid.UUID | None]
    actor_name: Mapped[str | None] = mapped_column(String(64))
    actor_roles: Mapped[str | None] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(48))
    record_type: Mapped[str] = mapped_column(String(32))
    record_id: Mapped[str | None] = mapped_column(String(100))
    before: Mapped[Any | None] = mapped_column(JSONB)
    after: Mapped[Any | None] = mapped_column(JSONB)
    reason: Mapped[str | None] = base.text500()
    request_id: Mapped[str | None] = mapped_column(String(128))
    client_addr: Mapped[str | None] = mapped_column(String(64))


class ChainLink(Base):
    """Link `seq` of a scope's chain: commits to the previous link and to the hash of one record's content."""

    __tablename__ = "chain_links"
    __table_args__ = (
        UniqueConstraint("scope", "chain_id"),
        *base.checks(kind="record_kind IN ('tx', 'posting', 'audit')"),
    )

    scope: Mapped[uuid.UUID] = base.uuid_key()
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    record_kind: Mapped[str] = mapped_column(String(8))
    record_key: Mapped[str] = mapped_column(String(100))
    record_hash: Mapped[bytes] = mapped_column(LargeBinary)
    link_hash: Mapped[bytes] = mapped_column(LargeBinary)
    linked_at: Mapped[datetime] = base.server_now()


class Checkpoint(Base):
    """The head of a village's chain at a moment, sealed for the notice board (公示栏)."""

    __tablename__ = "checkpoints"
    __table_args__ = (Index("ix_checkpoints_scope_seq", "scope", "seq"),)

    scope: Mapped[uuid.UUID] = base.uuid_key()
    id: Mapped[int] = base.identity_key()
    seq: Mapped[int] = mapped_column(BigInteger)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[bytes] = mapped_column(LargeBinary)
    records: Mapped[int] = mapped_column(BigInteger)
    sealed_at: Mapped[datetime] = base.server_now()
    sealed_by: Mapped[uuid.UUID | None]


class AuditVerification(Base):
    """A verification of a scope's chain (migration 0017): up to which link it was verified, full or only what
    was new since the previous one, and the verdict. Append-only; the newest row is the cached verdict."""

    __tablename__ = "audit_verifications"
    __table_args__ = base.checks(seq="seq >= 0 AND (seq = 0) = (link_hash IS NULL)")

    scope: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    full_scan: Mapped[bool] = mapped_column(Boolean)
    seq: Mapped[int] = mapped_column(BigInteger)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    link_hash: Mapped[bytes | None] = mapped_column(LargeBinary)
    ok: Mapped[bool] = mapped_column(Boolean)
    checked: Mapped[int] = mapped_column(BigInteger)
    accounts_checked: Mapped[int] = mapped_column(BigInteger)
    first_bad: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    first_bad_account: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    verified_at: Mapped[datetime] = base.server_now()
