from __future__ import annotations

import uuid

from pydantic import BaseModel


class RankingEntry(BaseModel):
    rank: int
    household_id: uuid.UUID
    code: str
    head_name: str
    grid: str | None
    points: int  # earned in the period (awards less deductions)
    lifetime_earned: int = 0  # every point ever earned, spent or not
    available: int = 0  # what the household may spend now


class RankingOut(BaseModel):
    items: list[RankingEntry]
    next_cursor: str | None = None
    period: str | None
    grid: str | None


class RedBlackOut(BaseModel):
    period: str
    red: list[RankingEntry]  # 红榜: the best, who earned points
    black: list[RankingEntry]  # 黑榜: the worst, lowest first


class StarEntry(BaseModel):
    household_id: uuid.UUID
    code: str
    head_name: str
    grid: str | None
    # points earned in the year: awards less deductions; reversals, rectifications, objection adjustments
    earned: int
    stars: int  # 0-5


class StarsOut(BaseModel):
    year: int
    thresholds: list[int]  # points for one to five stars
    items: list[StarEntry]
    next_cursor: str | None = None
