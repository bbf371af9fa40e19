from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from jifen.kit.schemas import Code, InputModel, Name


class VillageCreate(InputModel):
    code: Code
    name: Name


class VillageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str
    name: str
    created_at: datetime
