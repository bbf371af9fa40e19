"""All ORM models, imported together so the metadata is complete.

The models describe every table the migrations create, exactly (tests/test_schema.py fails when they
disagree); triggers and functions live in the migrations only."""

from jifen.models.audit import AuditEvent, AuditVerification, ChainLink, Checkpoint
from jifen.models.award import Award, AwardDecision, AwardPhoto, AwardStatus, Inspection, Objection
from jifen.models.base import Base
from jifen.models.expiry import Expiry, ExpiryPolicy, ExpiryRun
from jifen.models.funding import StoreSettlement, VillageFund, VillageFundVoid, VillagePeg
from jifen.models.household import Household, Member
from jifen.models.ledger import (
    SYSTEM_ACCOUNT_KINDS,
    Account,
    AccountKind,
    Compensation,
    Hold,
    IdempotencyKey,
    LedgerTransaction,
    Posting,
    TransactionKind,
)
from jifen.models.outbox import NotifyChannel, OutboxDelivery, OutboxEvent
from jifen.models.photo import Photo
from jifen.models.rule import Period, Review, Rule, RuleVersion
from jifen.models.store import (
    Item,
    Redemption,
    RedemptionLine,
    RedemptionStatus,
    Reservation,
    ReservationLine,
    StockMovement,
    StockMovementKind,
    Store,
)
from jifen.models.user import LoginThrottle, Role, User, UserRole
from jifen.models.village import (
    HouseholdPeriodPoints,
    Village,
    VillageHouseholds,
    VillagePeriodFigures,
    VillagePeriodParticipant,
    VillageRollupMark,
    VillageView,
)

__all__ = [
    "SYSTEM_ACCOUNT_KINDS",
    "Account",
    "AccountKind",
    "AuditEvent",
    "AuditVerification",
    "Award",
    "AwardDecision",
    "AwardPhoto",
    "AwardStatus",
    "Base",
    "ChainLink",
    "Checkpoint",
    "Compensation",
    "Expiry",
    "ExpiryPolicy",
    "ExpiryRun",
    "Hold",
    "Household",
    "HouseholdPeriodPoints",
    "IdempotencyKey",
    "Inspection",
    "Item",
    "LedgerTransaction",
    "LoginThrottle",
    "Member",
    "NotifyChannel",
    "Objection",
    "OutboxDelivery",
    "OutboxEvent",
    "Period",
    "Photo",
    "Posting",
    "Redemption",
    "RedemptionLine",
    "RedemptionStatus",
    "Reservation",
    "ReservationLine",
    "Review",
    "Role",
    "Rule",
    "RuleVersion",
    "StockMovement",
    "StockMovementKind",
    "Store",
    "StoreSettlement",
    "TransactionKind",
    "User",
    "UserRole",
    "Village",
    "VillageFund",
    "VillageFundVoid",
    "VillageHouseholds",
    "VillagePeg",
    "VillagePeriodFigures",
    "VillagePeriodParticipant",
    "VillageRollupMark",
    "VillageView",
]
