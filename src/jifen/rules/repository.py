from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.kit.db import driver
from jifen.models import Rule, RuleVersion


def _current() -> Any:
    return select(Rule.code, Rule.village_id, RuleVersion).join(
        RuleVersion,
        and_(
            RuleVersion.village_id == Rule.village_id,
            RuleVersion.rule_id == Rule.id,
            RuleVersion.version == Rule.current_version,
        ),
    )


@dataclass(frozen=True)
class RuleSnapshot:
    """What a rule says in its current version: read on every award, so straight through the driver."""

    rule_id: uuid.UUID
    village_id: uuid.UUID
    code: str
    version: int
    name: str
    category: str
    points: int
    cap_count: int | None
    cap_period: str | None
    evidence_required: bool
    review: str
    active: bool
    rectification_share: int | None = None
    escalation: list[int] | None = None
    active_from: date | None = None
    active_until: date | None = None


_CURRENT = """
SELECT r.id, r.village_id, r.code, v.version, v.name, v.category, v.points, v.cap_count, v.cap_period,
       v.evidence_required, v.review, v.active, v.rectification_share, v.escalation,
       v.active_from, v.active_until
  FROM rules r
  JOIN rule_versions v ON v.village_id = r.village_id AND v.rule_id = r.id AND v.version = r.current_version
 WHERE r.id = ANY($1::uuid[])
"""


async def current_versions(session: AsyncSession, rule_ids: Sequence[uuid.UUID]) -> list[RuleSnapshot]:
    rows = await (await driver(session)).fetch(_CURRENT, list(rule_ids))
    return [RuleSnapshot(*row) for row in rows]


async def village_rules(session: AsyncSession, village_id: uuid.UUID) -> Sequence[Any]:
    query = _current().where(Rule.village_id == village_id).order_by(RuleVersion.category, Rule.code)
    return (await session.execute(query)).all()


async def get_rule(session: AsyncSession, rule_id: uuid.UUID) -> Rule | None:
    return (await session.execute(select(Rule).where(Rule.id == rule_id))).scalar_one_or_none()


async def code_taken(session: AsyncSession, village_id: uuid.UUID, code: str) -> bool:
    query = select(Rule.id).where(Rule.village_id == village_id, Rule.code == code)
    return (await session.execute(query)).first() is not None


async def versions(session: AsyncSession, rule: Rule) -> Sequence[RuleVersion]:
    query = (
        select(RuleVersion)
        .where(RuleVersion.village_id == rule.village_id, RuleVersion.rule_id == rule.id)
        .order_by(RuleVersion.version.desc())
    )
    return (await session.execute(query)).scalars().all()
