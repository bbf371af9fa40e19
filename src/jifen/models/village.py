from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from jifen.models.base import Base, created_at, uuid_pk


class Village(Base):
    """The tenant: rules, households, stores and users' roles belong to one village."""

    __tablename__ = "villages"

    id: Mapped[uuid.UUID] = uuid_pk()
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at()
