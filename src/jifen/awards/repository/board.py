"""The award board's reads: the public notice board and review queue with names, and the capped rules."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.awards.schemas import BoardAward
from jifen.kit.sql import Sql
from jifen.models import AwardStatus

_BOARD = """
SELECT a.id, a.status, a.points, a.quantity, a.note, a.household_id, h.code AS household_code, h.head_name,
       h.grid, a.rule_id, r.code AS rule_code, v.name AS rule_name, v.category AS rule_category, v.review,
       a.submitted_by, coalesce(u.display_name, u.username, '') AS submitted_by_name,
       coalesce((SELECT array_agg(coalesce(du.display_name, du.username) ORDER BY d.created_at)
                   FROM award_decisions d LEFT JOIN users du ON du.id = d.actor_id
                  WHERE d.village_id = a.village_id AND d.award_id = a.id AND d.decision = 'approve'),
                '{}') AS approvals,
       (SELECT count(*) FROM objections o
         WHERE o.village_id = a.village_id AND o.award_id = a.id AND o.status = 'open') AS open_objections,
       coalesce((SELECT array_agg(ap.photo_id ORDER BY ap.position) FROM award_photos ap
                  WHERE ap.village_id = a.village_id AND ap.award_id = a.id), '{}') AS photo_ids,
       a.self_report,
       a.created_at, a.notice_until
  FROM awards a
  JOIN households h ON h.village_id = a.village_id AND h.id = a.household_id
  JOIN rules r ON r.village_id = a.village_id AND r.id = a.rule_id
  JOIN rule_versions v ON v.village_id = a.village_id AND v.rule_id = a.rule_id AND v.version = a.rule_version
  LEFT JOIN users u ON u.id = a.submitted_by
 WHERE a.village_id = $1 AND a.status = $2 AND ($3::text IS NULL OR h.grid = $3)
   AND ($5::text[] IS NULL OR h.grid = ANY($5::text[]))
 ORDER BY __ORDER__
 LIMIT $4
"""


async def board_awards(
    session: AsyncSession,
    village_id: uuid.UUID,
    status: AwardStatus,
    grid: str | None,
    limit: int,
    *,
    grids: frozenset[str] | None,
) -> list[BoardAward]:
    """The village's awards in `status` with names: on public notice ending soonest first, otherwise
    oldest first; only `grid`'s households, or those of `grids` (a cadre's queue) when given."""
    order = "a.notice_until, a.created_at" if status is AwardStatus.public_notice else "a.created_at, a.id"
    return await Sql(session).rows(
        BoardAward,
        _BOARD.replace("__ORDER__", order),
        village_id,
        status.value,
        grid,
        limit,
        sorted(grids) if grids is not None else None,
    )


@dataclass(frozen=True, slots=True)
class CappedRule:
    rule_id: uuid.UUID
    name: str
    cap_count: int
    cap_period: str


_CAPPED_RULES = """
SELECT r.id AS rule_id, v.name, v.cap_count, v.cap_period
  FROM rules r
  JOIN rule_versions v ON v.village_id = r.village_id AND v.rule_id = r.id AND v.version = r.current_version
 WHERE r.village_id = $1 AND v.cap_count IS NOT NULL AND v.active
 ORDER BY r.code
"""


async def capped_rules(session: AsyncSession, village_id: uuid.UUID) -> list[CappedRule]:
    """The village's active rules with a cap, by code."""
    return await Sql(session).rows(CappedRule, _CAPPED_RULES, village_id)
