"""What the award endpoints share: an award read as it stands, and the refusals an award can meet."""

from __future__ import annotations

import uuid

from jifen.auth.scope import OutsideGrid
from jifen.awards import repository, service
from jifen.awards.schemas import AwardOut
from jifen.kit.db import Session
from jifen.kit.error_sets import MONEY_ERRORS
from jifen.ledger.service import InsufficientPoints
from jifen.photos.service import UnknownPhoto

AWARD_ERRORS = (
    *MONEY_ERRORS,
    InsufficientPoints,
    service.ConflictOfInterest,
    service.CapExceeded,
    service.RuleOutOfRange,
    OutsideGrid,
    service.RuleRetired,
    service.InvalidMember,
    service.EvidenceRequired,
    UnknownPhoto,
    service.ObservedTooLongAgo,
    service.ObservedInFuture,
)


async def read_award(session: Session, award_id: uuid.UUID) -> AwardOut:
    """An award as it stands now, with its evidence photos."""
    row = await repository.lock_award_for_read(session, award_id)
    [result] = await service.attach_photos(session, row.village_id, [service.result_of(row)])
    return result
