from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

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


async def current_versions(session: AsyncSession, rule_ids: Sequence[uuid.UUID]) -> Sequence[Any]:
    """(code, village_id, RuleVersion) of each rule's current version."""
    return (await session.execute(_current().where(Rule.id.in_(rule_ids)))).all()


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
