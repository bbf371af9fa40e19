from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

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


class VillageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str
    name: str
    notice_days: int = 0
    cancel_window_minutes: int = 1440
    reservation_days: int = 7
    created_at: datetime
