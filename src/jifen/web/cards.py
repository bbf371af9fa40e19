"""Household cards (户卡) to print: each household's code, head's name and the QR code the counter scans,
eight to an A4 sheet, for the whole village or one grid."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.funding import qr
from jifen.models import Household

PER_SHEET = 8  # two across, four down on A4


@dataclass(frozen=True)
class Card:
    code: str
    head_name: str
    grid: str | None
    qr: Markup  # inline SVG of exactly the household's code, as the counter's scanner types it


async def village_cards(
    session: AsyncSession, village_id: uuid.UUID, *, grid: str | None, grids: frozenset[str] | None
) -> list[Card]:
    """Every household of the village (or of `grid`; `grids`: only these, a cadre's), by code."""
    query = (
        select(Household.code, Household.head_name, Household.grid)
        .where(Household.village_id == village_id)
        .order_by(Household.code)
    )
    if grid is not None:
        query = query.where(Household.grid == grid)
    if grids is not None:
        query = query.where(Household.grid.in_(sorted(grids)))
    rows = (await session.execute(query)).all()
    return [
        Card(
            code=code,
            head_name=head,
            grid=in_grid,
            qr=Markup(qr.qr_svg(code, scale=4, border=2, inline=True, title=f"户号 {code} 的二维码")),
        )
        for code, head, in_grid in rows
    ]


def sheets(cards: list[Card]) -> list[list[Card]]:
    """The cards in A4 sheets of eight."""
    return [cards[i : i + PER_SHEET] for i in range(0, len(cards), PER_SHEET)]


async def village_grids(session: AsyncSession, village_id: uuid.UUID) -> list[str]:
    """The grids the village's households are in, for the picker."""
    query = (
        select(Household.grid)
        .where(Household.village_id == village_id, Household.grid.is_not(None))
        .distinct()
        .order_by(Household.grid)
    )
    return [g for g in (await session.execute(query)).scalars().all() if g]
