"""The ledger: balanced, append-only transactions; household balances that never go below zero; holds;
reversals. Every other domain moves points through `post`."""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.audit import service as audit
from jifen.auth.actor import Actor
from jifen.kit.db import error_detail, sqlstate, violated_constraint
from jifen.kit.errors import Conflict, JifenError, NotFound
from jifen.kit.metrics import count_posted
from jifen.kit.pagination import BY_NUMBER, Page, encode_cursor
from jifen.kit.schemas import out_of
from jifen.kit.sql import column_arrays
from jifen.ledger import repository
from jifen.ledger.repository import HoldTerms as HoldTerms
from jifen.ledger.schemas import BalanceOut, CompensationRef, EntryOut
from jifen.models import (
    SYSTEM_ACCOUNT_KINDS,
    Account,
    AccountKind,
    Hold,
    HouseholdRecord,
    LedgerTransaction,
    TransactionKind,
)

log = structlog.get_logger(__name__)

# SQLSTATEs the ledger's database functions raise (migrations 0002 and 0013)
INSUFFICIENT_POINTS = "JF001"
ACCOUNT_OUTSIDE_VILLAGE = "JF004"
HOLD_NOT_ACTIVE = "JF006"


class InsufficientPoints(Conflict, code="insufficient_points", detail="积分不足"):
    draft_index: int = 0  # which of the posted drafts ran out
    available: int | None = None  # what the household had available, when the ledger said


class AlreadyReversed(Conflict, code="already_reversed", detail="该笔记录已经冲正过，不能重复冲正"): ...


class CannotReverse(Conflict, code="cannot_reverse", detail="冲正记录本身不能再冲正"): ...


class CompensationKind(enum.StrEnum):
    """How a transaction was compensated; each path compensates a transaction at most once (see `claim`)."""

    reversal = "reversal"
    cancellation = "cancellation"
    rectification = "rectification"
    revision = "revision"
    revocation = "revocation"


COMPENSATED_AS = {
    CompensationKind.reversal: "已冲正",
    CompensationKind.cancellation: "已取消兑换",
    CompensationKind.rectification: "已整改返还",
    CompensationKind.revision: "已按异议修改",
    CompensationKind.revocation: "已撤销",
}


class AlreadyCompensated(
    Conflict,
    code="already_compensated",
    detail="该笔记录已经冲正、取消兑换、整改返还或按异议处理过，每笔记录只能补偿一次",
): ...


def already_compensated(kind: str, *, what: str = "该笔记录") -> AlreadyCompensated:
    label = COMPENSATED_AS[CompensationKind(kind)]
    return AlreadyCompensated(
        f"{what}{label}，不能再冲正、取消兑换、整改返还或按异议修改（每笔记录只能补偿一次）",
        compensated_by=kind,
    )


class HoldNotActive(Conflict, code="hold_not_active", detail="该冻结已经结束"): ...


@dataclass(frozen=True)
class Line:
    """One posting: amount to an account; `earned` is what it adds to the household's lifetime earned."""

    account_id: uuid.UUID
    amount: int
    earned: int = 0


@dataclass
class Draft:
    """A transaction about to be posted."""

    kind: TransactionKind
    lines: list[Line]
    memo: str | None = None
    rule_id: uuid.UUID | None = None
    rule_version: int | None = None
    source_type: str | None = None
    source_id: uuid.UUID | None = None
    reverses_id: uuid.UUID | None = None
    reason: str | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)


# System account ids never change once made; remembering them saves a query on every award.
_system_accounts: dict[uuid.UUID, dict[AccountKind, uuid.UUID]] = {}


async def system_accounts(session: AsyncSession, village_id: uuid.UUID) -> dict[AccountKind, uuid.UUID]:
    known = _system_accounts.get(village_id)
    if known is None:
        known = await repository.system_accounts(session, village_id)
        if len(known) == len(SYSTEM_ACCOUNT_KINDS):
            _system_accounts[village_id] = known
    return known


async def open_village_accounts(session: AsyncSession, village_id: uuid.UUID) -> None:
    await repository.add_village_accounts(session, village_id)


async def open_household_account(
    session: AsyncSession, village_id: uuid.UUID, household_id: uuid.UUID
) -> None:
    account = Account(
        village_id=village_id, id=household_id, kind=AccountKind.household.value, household_id=household_id
    )
    await repository.add_account(session, account)


async def open_store_account(session: AsyncSession, village_id: uuid.UUID, store_id: uuid.UUID) -> None:
    account = Account(village_id=village_id, id=store_id, kind=AccountKind.store.value, store_id=store_id)
    await repository.add_account(session, account)


async def balance(session: AsyncSession, household_id: uuid.UUID) -> BalanceOut:
    account = await repository.household_balance(session, household_id)
    if account is None:
        raise NoAccount()
    return balance_out(household_id, account.posted, account.held, account.lifetime_earned)


class NoAccount(NotFound, detail="找不到该户的积分账户"): ...


def balance_out(household_id: uuid.UUID, posted: int, held: int, lifetime_earned: int) -> BalanceOut:
    return BalanceOut(
        household_id=household_id,
        posted=posted,
        held=held,
        available=posted - held,
        lifetime_earned=lifetime_earned,
    )


def _check_balanced(drafts: Sequence[Draft]) -> None:
    # SQL twin: migrations/versions/0002_ledger_core.py jifen_assert_balanced (docs/invariants.md, balanced)
    for draft in drafts:
        if len(draft.lines) < 2 or sum(line.amount for line in draft.lines) != 0:
            raise ValueError(f"unbalanced draft {draft.kind}: {draft.lines}")
        if any(line.amount == 0 for line in draft.lines):
            raise ValueError("a posting of zero points")


def _post_params(actor: Actor, village_id: uuid.UUID, drafts: Sequence[Draft]) -> dict[str, Any]:
    _check_balanced(drafts)
    lines = [(number, line) for number, draft in enumerate(drafts, start=1) for line in draft.lines]
    return {
        "village": village_id,
        "actor": actor.user_id,
        "t_kinds": [d.kind.value for d in drafts],
        **column_arrays(
            drafts,
            t_ids="id",
            t_memos="memo",
            t_rule_ids="rule_id",
            t_rule_versions="rule_version",
            t_source_types="source_type",
            t_source_ids="source_id",
            t_reverses="reverses_id",
            t_reasons="reason",
        ),
        "p_tx": [number for number, _ in lines],
        "p_accounts": [line.account_id for _, line in lines],
        "p_amounts": [line.amount for _, line in lines],
        "p_earned": [line.earned for _, line in lines],
    }


def _ledger_error(exc: BaseException) -> JifenError | None:
    """The domain error for what the ledger's functions refused, if it is one."""
    if sqlstate(exc) == INSUFFICIENT_POINTS:
        return _insufficient(exc)
    if sqlstate(exc) == HOLD_NOT_ACTIVE:
        return HoldNotActive()
    # SQL twin: migrations/versions/0002_ledger_core.py uq_ledger_transactions_village_id_reverses_id
    if violated_constraint(exc) == "uq_ledger_transactions_village_id_reverses_id":
        return AlreadyReversed()
    return None


async def post(
    session: AsyncSession, actor: Actor, village_id: uuid.UUID, drafts: Sequence[Draft]
) -> list[uuid.UUID]:
    """Post the drafts all or nothing, in order. A household going below zero raises InsufficientPoints
    carrying `index`, the position of the first draft that would do it."""
    params = _post_params(actor, village_id, drafts)
    try:
        await repository.call_ledger_post(session, params)
    except (DBAPIError, asyncpg.PostgresError) as exc:
        error = _ledger_error(exc)
        if error is not None:
            raise error from exc
        raise
    _log_posted(village_id, drafts)
    count_posted(session, (d.kind.value for d in drafts))
    return [d.id for d in drafts]


def _log_posted(village_id: uuid.UUID, drafts: Sequence[Draft]) -> None:
    ids = [d.id for d in drafts]
    if len(ids) <= 5:
        log.info("ledger_posted", village_id=str(village_id), transaction_ids=[str(i) for i in ids])
    else:
        log.info("ledger_posted", village_id=str(village_id), transactions=len(ids), first=str(ids[0]))


def _insufficient(exc: BaseException) -> InsufficientPoints:
    # SQL twin: migrations/versions/0002_ledger_core.py ck_accounts_available_not_negative, and JF001 from
    # 0013_balance_privileges.py ledger_post / ledger_hold (docs/invariants.md, never below zero)
    detail_text = error_detail(exc) or "{}"
    try:
        info = json.loads(detail_text)
    except ValueError:
        info = {}
    available, needed = info.get("available"), info.get("needed")
    error = InsufficientPoints(
        f"积分不足：可用 {available} 分，需要 {needed} 分" if available is not None else "积分不足"
    )
    error.draft_index = int(info.get("tx_index", 1)) - 1
    error.available = None if available is None else int(available)
    return error


def earned_by(kind: TransactionKind, account_kind: AccountKind, amount: int) -> int:
    """What a posting adds to a household's lifetime earned points: awards and rectifications it receives."""
    # SQL twin: migrations/versions/0013_balance_privileges.py ledger_post (docs/invariants.md, earned)
    if account_kind is AccountKind.household and kind in (
        TransactionKind.award,
        TransactionKind.rectification,
    ):
        return max(amount, 0)
    return 0


COMPENSATION_NOUNS = {
    CompensationKind.reversal: "冲正",
    CompensationKind.cancellation: "取消兑换",
    CompensationKind.rectification: "整改返还",
    CompensationKind.revision: "按异议修改",
    CompensationKind.revocation: "按异议撤销",
}


async def claim(
    session: AsyncSession,
    actor: Actor,
    village_id: uuid.UUID,
    *,
    source_id: uuid.UUID,
    draft: Draft,
    kind: CompensationKind,
    amount: int,
    same_path: type[JifenError] | None = None,
    step: int = 1,
) -> None:
    """Take the source transaction's one compensation for `draft`, which the caller posts next in the same
    database transaction. Every compensating path calls this before it moves a point: the unique slot in
    `compensations` makes a second compensation impossible, and the loser of a race waits for the winner's
    commit and is refused — with its own error when the same path came first (`same_path`: already_reversed,
    already_cancelled, already_rectified), else already_compensated naming how it was compensated."""
    # SQL twin: migrations/versions/0012_compensations.py pk_compensations, jifen_compensation_step
    # (docs/invariants.md, compensated at most once)
    if await repository.claim_compensation(
        session,
        village_id,
        source_id=source_id,
        step=step,
        transaction_id=draft.id,
        kind=kind.value,
        amount=amount,
        actor_id=actor.user_id,
    ):
        return
    existing = await repository.compensations_of(session, village_id, source_id)
    if same_path is not None and any(c.kind == kind.value for c in existing):
        raise same_path()
    raise already_compensated(existing[0].kind if existing else kind.value)


async def reverse(
    session: AsyncSession, actor: Actor, transaction: LedgerTransaction, *, reason: str
) -> LedgerTransaction:
    """A new transaction with the opposite postings, naming the one it reverses; never twice, and never
    after another compensation (a cancelled sale, a revised or revoked award) — with one exception:

    A rectified deduction (整改) may be reversed once more, for what is left of it: the reversal takes back
    the deduction less the share the rectification already returned (the net effect of the two), so the
    household ends where it would have been without the deduction. It is the second and last compensation
    of that deduction (step 2 in `compensations`); a deduction rectified in full has nothing left."""
    village_id = transaction.village_id
    await _refuse_reversing_a_compensation(session, transaction)
    existing = await repository.compensations_of(session, village_id, transaction.id)
    lines, household_amount = await _reversal_lines(session, transaction, existing)
    step = 2 if existing else 1
    draft = Draft(
        kind=TransactionKind.reversal,
        lines=lines,
        memo=f"冲正：{transaction.memo}" if transaction.memo else "冲正",
        rule_id=transaction.rule_id,
        rule_version=transaction.rule_version,
        source_type=transaction.source_type,
        source_id=transaction.source_id,
        reverses_id=transaction.id,
        reason=reason,
    )
    await claim(
        session,
        actor,
        village_id,
        source_id=transaction.id,
        draft=draft,
        kind=CompensationKind.reversal,
        amount=household_amount,
        same_path=AlreadyReversed,
        step=step,
    )
    await post(session, actor, village_id, [draft])
    reversal = await repository.get_transaction(session, draft.id)
    assert reversal is not None
    await audit.record(
        session,
        actor,
        village_id,
        "transaction.reverse",
        transaction.id,
        after={
            "reversal_id": reversal.id,
            "postings": [(line.account_id, line.amount) for line in draft.lines],
            **({"after_rectification": existing[0].transaction_id} if step == 2 else {}),
        },
        reason=reason,
    )
    return reversal


async def _refuse_reversing_a_compensation(session: AsyncSession, transaction: LedgerTransaction) -> None:
    """A reversal, or any other compensating transaction, is not reversed itself."""
    if TransactionKind(transaction.kind) is TransactionKind.reversal:
        raise CannotReverse()
    made_by = await repository.compensation_made_by(session, transaction.village_id, transaction.id)
    if made_by is not None:
        noun = COMPENSATION_NOUNS[CompensationKind(made_by.kind)]
        raise CannotReverse(f"该笔记录本身是对另一笔记录的{noun}，不能再冲正")


async def _reversal_lines(
    session: AsyncSession, transaction: LedgerTransaction, existing: Sequence[repository.CompensationRow]
) -> tuple[list[Line], int]:
    """The reversal's postings (the transaction's, opposite; less a rectification's share when one came
    first) and the points they move on household accounts (the compensation's amount)."""
    village_id = transaction.village_id
    postings = await repository.postings_of(session, village_id, transaction.id)
    amounts = {p.account_id: -p.amount for p in postings}
    if existing:
        if any(c.kind == CompensationKind.reversal.value for c in existing):
            raise AlreadyReversed()
        if existing[0].kind != CompensationKind.rectification.value:
            raise already_compensated(existing[0].kind)
        for p in await repository.postings_of(session, village_id, existing[0].transaction_id):
            amounts[p.account_id] = amounts.get(p.account_id, 0) - p.amount
    kinds = await repository.account_kinds(session, village_id, list(amounts))
    original_kind = TransactionKind(transaction.kind)
    earned = {
        p.account_id: 0 if existing else -earned_by(original_kind, kinds[p.account_id], p.amount)
        for p in postings
    }
    lines = [
        Line(account_id=account_id, amount=amount, earned=earned.get(account_id, 0))
        for account_id, amount in amounts.items()
        if amount != 0
    ]
    if len(lines) < 2:
        raise AlreadyCompensated(
            "该扣分已整改返还全部积分，没有剩余可冲正的部分", compensated_by="rectification"
        )
    household_amount = sum(line.amount for line in lines if kinds[line.account_id] is AccountKind.household)
    return lines, household_amount


async def place_hold(session: AsyncSession, actor: Actor, terms: HoldTerms) -> Hold:
    """Set points aside: they count against `available` at once."""
    if terms.amount <= 0:
        raise ValueError("a hold is for a positive amount")
    try:
        # ledger_hold() checks available on the locked row, moves `held` and writes the hold
        hold = await repository.hold(session, terms, actor.user_id)
    except (DBAPIError, asyncpg.PostgresError) as exc:
        if sqlstate(exc) == ACCOUNT_OUTSIDE_VILLAGE:
            raise NotFound("找不到该户的积分账户") from exc
        if sqlstate(exc) == INSUFFICIENT_POINTS:
            available = _insufficient(exc).available
            raise InsufficientPoints(f"积分不足：可用 {available} 分，需要冻结 {terms.amount} 分") from exc
        raise
    after = {
        "household_id": terms.household_id,
        "amount": terms.amount,
        "memo": terms.memo,
        "source_id": terms.source_id,
    }
    await audit.record(session, actor, terms.village_id, "hold.place", hold.id, after=after)
    return hold


async def _ended(session: AsyncSession, actor: Actor, hold: Hold) -> Hold:
    after = {"status": hold.status, "amount": hold.amount, "transaction_id": hold.transaction_id}
    await audit.record(
        session,
        actor,
        hold.village_id,
        f"hold.{hold.status}",
        hold.id,
        before={"status": "active"},
        after=after,
    )
    return hold


async def release_hold(session: AsyncSession, actor: Actor, hold: Hold) -> Hold:
    """End a hold without moving points: they are available again."""
    try:
        ended = await repository.release_hold(session, hold)
    except (DBAPIError, asyncpg.PostgresError) as exc:
        error = _ledger_error(exc)
        if error is not None:
            raise error from exc
        raise
    return await _ended(session, actor, ended)


async def capture_hold(session: AsyncSession, actor: Actor, hold: Hold, draft: Draft) -> Hold:
    """End a hold by posting the draft that spends the held points (its household line is −hold.amount);
    the household's available balance does not change."""
    if sum(line.amount for line in draft.lines if line.account_id == hold.account_id) != -hold.amount:
        raise ValueError("the draft must take exactly the held points from the household")
    params = _post_params(actor, hold.village_id, [draft])
    try:
        ended = await repository.capture_hold(session, hold, params)
    except (DBAPIError, asyncpg.PostgresError) as exc:
        error = _ledger_error(exc)
        if error is not None:
            raise error from exc
        raise
    _log_posted(hold.village_id, [draft])
    count_posted(session, [draft.kind.value])
    return await _ended(session, actor, ended)


def compensation_ref(row: repository.CompensationRow | None) -> CompensationRef | None:
    if row is None:
        return None
    return CompensationRef(kind=row.kind, transaction_id=row.transaction_id)


async def entries_page(
    session: AsyncSession, household: HouseholdRecord, cursor: str | None, limit: int
) -> Page[EntryOut]:
    """A household's history, newest first, with the running balance after each entry (the API's list and
    the villager's page)."""
    after = BY_NUMBER.after(cursor)
    rows = await repository.entries(
        session, household.village_id, household.id, before=after[0] if after else None, limit=limit + 1
    )
    shown = rows[:limit]
    items = [
        out_of(
            EntryOut,
            row,
            kind=TransactionKind(row.kind),
            reverses=row.reverses_id,
            compensated_by=(
                None
                if row.compensation_id is None or row.compensation_kind is None
                else CompensationRef(kind=row.compensation_kind, transaction_id=row.compensation_id)
            ),
        )
        for row in shown
    ]
    more = len(rows) > limit
    return Page(items=items, next_cursor=encode_cursor(rows[limit - 1].account_version) if more else None)
