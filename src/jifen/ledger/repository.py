"""Every ledger query. Posting goes through the ledger_post() database function: one round trip."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.kit.sql import Sql
from jifen.models import SYSTEM_ACCOUNT_KINDS, Account, AccountKind, Hold, LedgerTransaction, Posting

_POST = (
    "SELECT ledger_post($1::uuid, $2::uuid, $3::uuid[], $4::text[], $5::text[], $6::uuid[], $7::integer[],"
    " $8::text[], $9::uuid[], $10::uuid[], $11::text[], $12::integer[], $13::uuid[], $14::bigint[],"
    " $15::bigint[])"
)
_POST_ORDER = (
    "village",
    "actor",
    "t_ids",
    "t_kinds",
    "t_memos",
    "t_rule_ids",
    "t_rule_versions",
    "t_source_types",
    "t_source_ids",
    "t_reverses",
    "t_reasons",
    "p_tx",
    "p_accounts",
    "p_amounts",
    "p_earned",
)


async def call_ledger_post(session: AsyncSession, params: dict[str, Any]) -> None:
    """Post transactions (`ledger_post`'s parameters, see `ledger.service.post`) in one round trip."""
    await Sql(session).execute(_POST, *(params[name] for name in _POST_ORDER))


# Holds move `accounts.held`, which the service role may not update: the SECURITY DEFINER functions of
# migration 0013 write both the hold and the balance, and return the hold's row.
_HOLD = text(
    "SELECT * FROM ledger_hold(:village_id, :household_id, :amount, :memo, :source_type, :source_id, :actor)"
)
_RELEASE = text("SELECT * FROM ledger_release_hold(:village, :hold)")
_CAPTURE = text(
    "SELECT * FROM ledger_capture_hold(:hold, :village, :actor, :t_ids, :t_kinds, :t_memos, :t_rule_ids,"
    " :t_rule_versions, :t_source_types, :t_source_ids, :t_reverses, :t_reasons, :p_tx, :p_accounts,"
    " :p_amounts, :p_earned)"
)


@dataclass(frozen=True)
class HoldTerms:
    """A hold to place: `amount` points of the household's account set aside, for what `source_*` names.
    Its fields are `ledger_hold()`'s parameters by name."""

    village_id: uuid.UUID
    household_id: uuid.UUID
    amount: int
    memo: str | None = None
    source_type: str | None = None
    source_id: uuid.UUID | None = None


async def hold(session: AsyncSession, terms: HoldTerms, actor_id: uuid.UUID) -> Hold:
    statement = select(Hold).from_statement(_HOLD.bindparams(**asdict(terms), actor=actor_id))
    hold: Hold = (await session.execute(statement)).scalar_one()
    return hold


async def release_hold(session: AsyncSession, hold: Hold) -> Hold:
    statement = (
        select(Hold)
        .from_statement(_RELEASE.bindparams(village=hold.village_id, hold=hold.id))
        .execution_options(populate_existing=True)
    )
    ended: Hold = (await session.execute(statement)).scalar_one()
    return ended


async def capture_hold(session: AsyncSession, hold: Hold, params: dict[str, Any]) -> Hold:
    """End the hold by posting one transaction (ledger_post's parameters) that spends exactly its points."""
    statement = (
        select(Hold)
        .from_statement(_CAPTURE.bindparams(hold=hold.id, **params))
        .execution_options(populate_existing=True)
    )
    ended: Hold = (await session.execute(statement)).scalar_one()
    return ended


async def lock_households(
    session: AsyncSession,
    village_id: uuid.UUID,
    household_ids: Sequence[uuid.UUID] | None,
    *,
    above: int | None = None,
) -> list[uuid.UUID]:
    """Lock household accounts in id order (all of the village's when `household_ids` is None), only those
    with more than `above` points available when given; returns the ids locked."""
    return await Sql(session).values(
        uuid.UUID,
        "SELECT id FROM ledger_lock_households($1, $2::uuid[], $3::bigint) AS l(id)",
        village_id,
        None if household_ids is None else list(household_ids),
        above,
    )


async def system_accounts(session: AsyncSession, village_id: uuid.UUID) -> dict[AccountKind, uuid.UUID]:
    rows = await session.execute(
        select(Account.kind, Account.id).where(
            Account.village_id == village_id, Account.kind.in_([k.value for k in SYSTEM_ACCOUNT_KINDS])
        )
    )
    return {AccountKind(kind): account_id for kind, account_id in rows.all()}


@dataclass(frozen=True, slots=True)
class Balance:
    posted: int
    held: int
    lifetime_earned: int


async def household_balance(session: AsyncSession, household_id: uuid.UUID) -> Balance | None:
    """The household account's balance as it is now (read past the ORM: balances move through
    ledger_post(), so no cached row may answer)."""
    return await Sql(session).row(
        Balance,
        "SELECT posted, held, lifetime_earned FROM accounts WHERE id = $1 AND kind = 'household'",
        household_id,
    )


async def get_transaction(session: AsyncSession, transaction_id: uuid.UUID) -> LedgerTransaction | None:
    return (
        await session.execute(select(LedgerTransaction).where(LedgerTransaction.id == transaction_id))
    ).scalar_one_or_none()


async def postings_of(
    session: AsyncSession, village_id: uuid.UUID, transaction_id: uuid.UUID
) -> Sequence[Posting]:
    return (
        (
            await session.execute(
                select(Posting)
                .where(Posting.village_id == village_id, Posting.transaction_id == transaction_id)
                .order_by(Posting.id)
            )
        )
        .scalars()
        .all()
    )


async def account_kinds(
    session: AsyncSession, village_id: uuid.UUID, account_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, AccountKind]:
    rows = await session.execute(
        select(Account.id, Account.kind).where(Account.village_id == village_id, Account.id.in_(account_ids))
    )
    return {account_id: AccountKind(kind) for account_id, kind in rows.all()}


async def reversal_of(
    session: AsyncSession, village_id: uuid.UUID, transaction_id: uuid.UUID
) -> uuid.UUID | None:
    return (
        await session.execute(
            select(LedgerTransaction.id).where(
                LedgerTransaction.village_id == village_id, LedgerTransaction.reverses_id == transaction_id
            )
        )
    ).scalar_one_or_none()


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of a household's history: a posting with its transaction and rule."""

    transaction_id: uuid.UUID
    kind: str
    amount: int
    balance_after: int
    account_version: int
    memo: str | None
    rule_code: str | None
    rule_version: int | None
    created_at: datetime
    actor_id: uuid.UUID
    reverses_id: uuid.UUID | None
    compensation_kind: str | None  # the transaction's first compensation (step 1), if it has one
    compensation_id: uuid.UUID | None


_ENTRIES = """
SELECT p.transaction_id, t.kind, p.amount, p.balance_after, p.account_version, t.memo, r.code AS rule_code,
       t.rule_version, t.created_at, t.actor_id, t.reverses_id,
       c.kind AS compensation_kind, c.transaction_id AS compensation_id
  FROM postings p
  JOIN ledger_transactions t ON t.village_id = p.village_id AND t.id = p.transaction_id
  LEFT JOIN rules r ON r.village_id = t.village_id AND r.id = t.rule_id
  LEFT JOIN compensations c ON c.village_id = p.village_id AND c.source_id = p.transaction_id AND c.step = 1
 WHERE p.village_id = $1 AND p.account_id = $2 AND p.account_version IS NOT NULL
   AND ($3::bigint IS NULL OR p.account_version < $3::bigint)
 ORDER BY p.account_version DESC
 LIMIT $4
"""


async def entries(
    session: AsyncSession, village_id: uuid.UUID, account_id: uuid.UUID, *, before: int | None, limit: int
) -> list[Entry]:
    return await Sql(session).rows(Entry, _ENTRIES, village_id, account_id, before, limit)


# ------------------------------------------------------------------------------------------ compensations


@dataclass(frozen=True, slots=True)
class CompensationRow:
    source_id: uuid.UUID
    step: int
    transaction_id: uuid.UUID
    kind: str
    amount: int
    actor_id: uuid.UUID
    created_at: datetime


_COMPENSATION_COLUMNS = "source_id, step, transaction_id, kind, amount, actor_id, created_at"


async def claim_compensation(
    session: AsyncSession,
    village_id: uuid.UUID,
    *,
    source_id: uuid.UUID,
    step: int,
    transaction_id: uuid.UUID,
    kind: str,
    amount: int,
    actor_id: uuid.UUID,
) -> bool:
    """Take the source's compensation slot for a transaction about to be posted; False when another path
    holds it. A concurrent claimer waits here for the holder's commit (or rollback) and then knows."""
    claimed = await Sql(session).value(
        bool,
        "INSERT INTO compensations (village_id, source_id, step, transaction_id, kind, amount, actor_id)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (village_id, source_id, step) DO NOTHING"
        " RETURNING true",
        village_id,
        source_id,
        step,
        transaction_id,
        kind,
        amount,
        actor_id,
    )
    return bool(claimed)


async def compensations_of(
    session: AsyncSession, village_id: uuid.UUID, source_id: uuid.UUID
) -> list[CompensationRow]:
    """How a transaction was compensated, in order (a second step only after a rectification)."""
    return await Sql(session).rows(
        CompensationRow,
        f"SELECT {_COMPENSATION_COLUMNS} FROM compensations WHERE village_id = $1 AND source_id = $2"
        " ORDER BY step",
        village_id,
        source_id,
    )


async def compensation_made_by(
    session: AsyncSession, village_id: uuid.UUID, transaction_id: uuid.UUID
) -> CompensationRow | None:
    """The link a compensating transaction was posted under, if it is one."""
    return await Sql(session).row(
        CompensationRow,
        f"SELECT {_COMPENSATION_COLUMNS} FROM compensations WHERE village_id = $1 AND transaction_id = $2",
        village_id,
        transaction_id,
    )


@dataclass(frozen=True, slots=True)
class HouseholdGrid:
    id: uuid.UUID
    grid: str | None


async def households_touched(session: AsyncSession, transaction: LedgerTransaction) -> list[HouseholdGrid]:
    """The households (id, grid) whose accounts a transaction posts to."""
    return await Sql(session).rows(
        HouseholdGrid,
        """
        SELECT h.id, h.grid FROM postings p
          JOIN households h ON h.village_id = p.village_id AND h.id = p.account_id
         WHERE p.village_id = $1 AND p.transaction_id = $2
        """,
        transaction.village_id,
        transaction.id,
    )


async def source_store(session: AsyncSession, transaction: LedgerTransaction) -> uuid.UUID | None:
    """The store a sale, a cancelled sale or a reservation's transaction belongs to; None for any other."""
    table = {"redemption": "redemptions", "reservation": "reservations"}.get(transaction.source_type or "")
    if table is None or transaction.source_id is None:
        return None
    return await Sql(session).value(
        uuid.UUID,
        f"SELECT store_id FROM {table} WHERE village_id = $1 AND id = $2",  # one of the two names above
        transaction.village_id,
        transaction.source_id,
    )


# ------------------------------------------------------------------------------------------ accounts


async def add_village_accounts(session: AsyncSession, village_id: uuid.UUID) -> None:
    session.add_all(Account(village_id=village_id, kind=kind.value) for kind in SYSTEM_ACCOUNT_KINDS)
    await session.flush()


async def add_account(session: AsyncSession, account: Account) -> None:
    session.add(account)
    await session.flush()
