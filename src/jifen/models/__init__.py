"""All ORM models, imported together so the metadata is complete."""

from jifen.models.award import Award, AwardStatus
from jifen.models.base import Base
from jifen.models.household import Household, Member
from jifen.models.ledger import (
    SYSTEM_ACCOUNT_KINDS,
    Account,
    AccountKind,
    Hold,
    IdempotencyKey,
    LedgerTransaction,
    Posting,
    TransactionKind,
)
from jifen.models.rule import Period, Review, Rule, RuleVersion
from jifen.models.store import (
    Item,
    Redemption,
    RedemptionLine,
    RedemptionStatus,
    StockMovement,
    StockMovementKind,
    Store,
)
from jifen.models.user import Role, User, UserRole
from jifen.models.village import Village

__all__ = [
    "SYSTEM_ACCOUNT_KINDS",
    "Account",
    "AccountKind",
    "Award",
    "AwardStatus",
    "Base",
    "Hold",
    "Household",
    "IdempotencyKey",
    "Item",
    "LedgerTransaction",
    "Member",
    "Period",
    "Posting",
    "Redemption",
    "RedemptionLine",
    "RedemptionStatus",
    "Review",
    "Role",
    "Rule",
    "RuleVersion",
    "StockMovement",
    "StockMovementKind",
    "Store",
    "TransactionKind",
    "User",
    "UserRole",
    "Village",
]
