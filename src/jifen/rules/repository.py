from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.kit.sql import Sql
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


@dataclass(frozen=True, slots=True)
class RuleSnapshot:
    """What a rule says in its current version (read on every award)."""

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
SELECT r.id AS rule_id, r.village_id, r.code, v.version, v.name, v.category, v.points, v.cap_count,
       v.cap_period, v.evidence_required, v.review, v.active, v.rectification_share, v.escalation,
       v.active_from, v.active_until
  FROM rules r
  JOIN rule_versions v ON v.village_id = r.village_id AND v.rule_id = r.id AND v.version = r.current_version
 WHERE r.id = ANY($1::uuid[])
"""


async def current_versions(session: AsyncSession, rule_ids: Sequence[uuid.UUID]) -> list[RuleSnapshot]:
    return await Sql(session).rows(RuleSnapshot, _CURRENT, list(rule_ids))


@dataclass(frozen=True, slots=True)
class RuleLine(RuleSnapshot):
    """A rule's current version as the rule list shows it, with when that version was made."""

    created_at: datetime | None = None


_VILLAGE_CURRENT = """
SELECT r.id AS rule_id, r.village_id, r.code, v.version, v.name, v.category, v.points, v.cap_count,
       v.cap_period, v.evidence_required, v.review, v.active, v.rectification_share, v.escalation,
       v.active_from, v.active_until, v.created_at
  FROM rules r
  JOIN rule_versions v ON v.village_id = r.village_id AND v.rule_id = r.id AND v.version = r.current_version
 WHERE r.village_id = $1
 ORDER BY v.category, r.code
"""


async def village_rule_lines(session: AsyncSession, village_id: uuid.UUID) -> list[RuleLine]:
    """Every rule of the village in its current version, by category and code (the lists; `village_rules`
    gives the versions as ORM objects, for a change)."""
    return await Sql(session).rows(RuleLine, _VILLAGE_CURRENT, village_id)


async def village_rules(
    session: AsyncSession, village_id: uuid.UUID
) -> list[tuple[str, uuid.UUID, RuleVersion]]:
    """Every rule of the village as (code, village, current version), by category and code."""
    query = _current().where(Rule.village_id == village_id).order_by(RuleVersion.category, Rule.code)
    return [(code, vid, version) for code, vid, version in (await session.execute(query)).all()]


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


async def add_rule(session: AsyncSession, rule: Rule) -> None:
    """Insert the rule (IntegrityError on a code the village already has)."""
    session.add(rule)
    await session.flush()


async def add_version(session: AsyncSession, version: RuleVersion) -> None:
    session.add(version)
    await session.flush()
    await session.refresh(version)


async def next_version(session: AsyncSession, rule: Rule) -> int:
    """Move the rule to its next version number, under the row's lock, so that two concurrent changes get
    consecutive versions; returns the new number."""
    locked = await session.execute(
        update(Rule)
        .where(Rule.village_id == rule.village_id, Rule.id == rule.id)
        .values(current_version=Rule.current_version + 1)
        .returning(Rule.current_version)
    )
    return int(locked.scalar_one())


async def refresh_rule(session: AsyncSession, rule: Rule) -> None:
    await session.refresh(rule)


async def ids_by_code(
    session: AsyncSession, village_id: uuid.UUID, codes: Sequence[str]
) -> dict[str, uuid.UUID]:
    """The ids of the village's rules with these codes, by code."""
    query = select(Rule.code, Rule.id).where(Rule.village_id == village_id, Rule.code.in_(codes))
    return {code: rule_id for code, rule_id in (await session.execute(query)).all()}
