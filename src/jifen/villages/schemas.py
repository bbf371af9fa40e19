from __future__ import annotations

import uuid
from datetime import datetime
from itertools import pairwise
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from jifen.kit.schemas import Code, Grid, InputModel, Name


class VillageCreate(InputModel):
    code: Code
    name: Name
    admin_username: (
        Annotated[
            str,
            StringConstraints(
                strip_whitespace=True, min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.@\-]+$"
            ),
            Field(description="also create the village's first admin, with a one-time password"),
        ]
        | None
    ) = None
    admin_display_name: Name | None = None


class VillageSettings(InputModel):
    notice_days: (
        Annotated[int, Field(ge=0, le=30, description="days of public notice (公示); 0: none")] | None
    ) = None
    cancel_window_minutes: Annotated[int, Field(ge=0, le=60 * 24 * 30)] | None = None
    reservation_days: (
        Annotated[int, Field(ge=1, le=90, description="days a pickup code (预约兑换) stays valid")] | None
    ) = None
    star_thresholds: (
        Annotated[
            list[Annotated[int, Field(ge=1, le=10_000_000)]],
            Field(
                min_length=5,
                max_length=5,
                description="星级文明户: points earned in a year for one to five stars, ascending",
            ),
        ]
        | None
    ) = None

    grids: (
        Annotated[
            list[Grid],
            Field(
                max_length=100,
                description="the village's grids (网格); a roll import refuses others. [] lets any in",
            ),
        ]
        | None
    ) = None

    @field_validator("star_thresholds")
    @classmethod
    def _ascending(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and any(a >= b for a, b in pairwise(value)):
            raise ValueError("星级门槛必须从低到高递增：一星所需的积分最少")
        return value


class VillageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str
    name: str
    notice_days: int = 0
    cancel_window_minutes: int = 1440
    reservation_days: int = 7
    star_thresholds: list[int] = [100, 200, 300, 400, 500]
    grids: list[str] = []
    created_at: datetime


class VillageAdminCreated(BaseModel):
    id: uuid.UUID
    username: str
    one_time_password: str = Field(
        description="shown this once; the admin must choose their own password at the first sign-in"
    )


class VillageCreated(VillageOut):
    admin: VillageAdminCreated | None = None


class StepOut(BaseModel):
    key: str = Field(description="households, rules, store, staff, award, redemption")
    label: str
    done: bool
    hint: str


class ChecklistOut(BaseModel):
    done: bool = Field(description="every step is done: the village is live")
    steps: list[StepOut]
