from __future__ import annotations

import uuid
from datetime import datetime
from itertools import pairwise
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from jifen.kit.schemas import Code, InputModel, Name


class VillageCreate(InputModel):
    code: Code
    name: Name


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
    created_at: datetime
