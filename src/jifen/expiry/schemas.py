from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, Field

from jifen.expiry.policy import ExpiryMode
from jifen.kit.schemas import InputModel, Reason


class ExpiryPolicyIn(InputModel):
    """`none`; `yearly` with `clearing_date` ("MM-DD", cleared at the end of that local day) and an optional
    `carry_over_cap` (points up to it carry over; absent: everything clears); or `rolling` with `months`
    (1–120: each point is valid that many months from when it was earned, oldest spent first)."""

    mode: ExpiryMode
    clearing_date: str | None = Field(default=None, max_length=10, examples=["12-31"])
    carry_over_cap: int | None = None
    months: int | None = None
    reason: Reason


class ExpiryPolicyOut(BaseModel):
    id: uuid.UUID | None = Field(description="null while the village has never set a policy")
    village_id: uuid.UUID
    mode: ExpiryMode
    clearing_date: str | None = None
    carry_over_cap: int | None = None
    months: int | None = None
    summary: str = Field(description="the policy in one Chinese sentence")
    effective_at: datetime | None = None
    next_cutoff: datetime | None = Field(default=None, description="the next clearing (本地时间的零点)")
    reason: str | None = None
    actor_id: uuid.UUID | None = None
    created_at: datetime | None = None


class ExpiringOut(BaseModel):
    """Points a household loses at a cutoff: `expires_on` is the last local day they still count."""

    household_id: uuid.UUID
    code: str
    head_name: str
    amount: int
    expires_at: datetime
    expires_on: date


class HouseholdExpiringItem(BaseModel):
    amount: int
    expires_at: datetime
    expires_on: date
    notice: str = Field(description="e.g. 30 积分将于 2026-12-31 后清零")


class HouseholdExpiringOut(BaseModel):
    household_id: uuid.UUID
    policy: str = Field(description="the village's policy in one Chinese sentence")
    expiring: list[HouseholdExpiringItem]
