from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from jifen.models import base
from jifen.models.base import Base, VillageRow


class Photo(VillageRow, Base):
    """One uploaded photo (证据照片); its bytes live on disk under the data directory, named by their SHA-256.
    Append-only."""

    __tablename__ = "photos"
    __table_args__ = (
        *base.checks(
            sha256="sha256 ~ '^[0-9a-f]{64}$'",
            content_type="content_type IN ('image/jpeg', 'image/png', 'image/webp')",
            size="size > 0",
            dimensions="width > 0 AND height > 0",
        ),
        Index("ix_photos_id", "id"),
    )

    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(16))
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    uploaded_by: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = base.created_at()
