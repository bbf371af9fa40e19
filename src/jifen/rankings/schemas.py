from __future__ import annotations

import uuid

from pydantic import BaseModel


class RankingEntry(BaseModel):
    rank: int
    household_id: uuid.UUID
    code: str
    head_name: str
    grid: str | None
    points: int


class RankingOut(BaseModel):
    items: list[RankingEntry]
    next_cursor: str | None = None
    period: str | None
    grid: str | None


class RedBlackOut(BaseModel):
    period: str
    red: list[RankingEntry]  # 红榜: the best, who earned points
    black: list[RankingEntry]  # 黑榜: the worst, lowest first
