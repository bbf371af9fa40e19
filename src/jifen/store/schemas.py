from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict

from jifen.kit.schemas import InputModel, Name


class StoreCreate(InputModel):
    name: Name


class StoreOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    village_id: uuid.UUID
    name: str
    active: bool
