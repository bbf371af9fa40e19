from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel


class PhotoOut(BaseModel):
    id: uuid.UUID
    sha256: str
    content_type: str
    size: int
    width: int
    height: int
    created_at: datetime
