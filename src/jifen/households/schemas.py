from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from jifen.kit.schemas import Address, Code, Grid, InputModel, Name, Phone
from jifen.ledger.schemas import BalanceOut


class MemberIn(InputModel):
    name: Name
    phone: Phone | None = None


class HouseholdCreate(InputModel):
    code: Code
    head_name: Name
    grid: Grid | None = None
    address: Address | None = None
    household_class: Grid | None = Field(default=None, description="a class ranked apart, e.g. 党员户")
    members: list[MemberIn] = Field(default_factory=list, max_length=30)


class MemberOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    phone: str | None
    relation: str | None = Field(default=None, description="与户主关系 as the roll says: 户主, 配偶, 子 …")


class HouseholdSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    village_id: uuid.UUID
    code: str
    head_name: str
    grid: str | None
    address: str | None
    household_class: str | None = None
    population: int | None = Field(default=None, description="人口: the number of people the roll gives")


class HouseholdOut(HouseholdSummary):
    members: list[MemberOut] | None = Field(
        description="phone numbers in full for the village admin only, masked (138****5678) for everyone "
        "else; null for the counter, which needs only the code, the name and the points"
    )
    created_at: datetime
    balance: BalanceOut
