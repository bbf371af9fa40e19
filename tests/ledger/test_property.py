"""Random sequences of awards, deductions, batches, holds and reversals against an in-memory model.

Each example gets three fresh households in one village (made once per test) and runs its operations
through the ledger and award services, as the app role, one database transaction per operation. After every
step the database must agree with the model, and the contract's invariants must hold: a household's
`posted` is the sum of its postings, `available` never goes below zero, every transaction's postings sum to
zero, and a refused operation changes nothing and is refused exactly when the model says it must be.

pytest-asyncio runs each hypothesis example of an async test on the test's event loop, so the examples use
the app's own sessionmaker. JIFEN_PROPERTY_EXAMPLES=500 runs a longer search (25 by default).
"""

from __future__ import annotations

import itertools
import os
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, event, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.auth.actor import Actor, Grant, console_actor
from jifen.awards import repository as awards_repository
from jifen.awards import service as awards
from jifen.awards.auth import Submission
from jifen.awards.schemas import AwardItem, AwardOut
from jifen.households.schemas import MemberIn
from jifen.households.service import create_household
from jifen.kit.errors import JifenError
from jifen.ledger import repository as ledger_repository
from jifen.ledger import service as ledger
from jifen.models import AccountKind, Hold, Review, Role, TransactionKind, Village
from jifen.rules.schemas import RuleCreate
from jifen.rules.service import add_rule
from jifen.villages.service import create_village

HOUSEHOLDS = 3
_seq = itertools.count(1)


@dataclass
class Ledgerland:
    """The village every example of one test shares, with a +1 and a −1 rule."""

    sessionmaker: async_sessionmaker[AsyncSession]
    village: Village
    actor: Actor
    plus_rule: uuid.UUID
    minus_rule: uuid.UUID
    deductions: uuid.UUID


@dataclass
class Tx:
    id: uuid.UUID
    household: int
    amount: int  # what it did to the household
    earned: int  # what it added to lifetime_earned
    reverses: uuid.UUID | None = None  # set on a reversal: the transaction it reverses
    reversed: bool = False


@dataclass
class HoldState:
    id: uuid.UUID
    household: int
    amount: int
    status: str = "active"  # then "posted" or "released"

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass
class Model:
    households: list[uuid.UUID]
    posted: list[int] = field(default_factory=lambda: [0] * HOUSEHOLDS)
    held: list[int] = field(default_factory=lambda: [0] * HOUSEHOLDS)
    earned: list[int] = field(default_factory=lambda: [0] * HOUSEHOLDS)
    txs: list[Tx] = field(default_factory=list)
    holds: list[HoldState] = field(default_factory=list)

    def available(self, h: int) -> int:
        return self.posted[h] - self.held[h]


@pytest.fixture
async def land(app: FastAPI) -> Ledgerland:
    sessionmaker = app.state.sessionmaker
    async with sessionmaker() as session, session.begin():
        village = await create_village(session, console_actor(), code=f"P{next(_seq)}", name="性质村")
        actor = Actor(
            user_id=uuid.uuid4(),
            username="admin",
            display_name="村管理员",
            grants=(Grant(Role.village_admin, village_id=village.id),),
        )
        rules = [
            await add_rule(
                session,
                actor,
                village,
                RuleCreate(
                    code=code, name=name, category="测试", points=points, cap=None, review=Review.none
                ),
            )
            for code, name, points in (("PLUS", "加一分", 1), ("MINUS", "扣一分", -1))
        ]
        accounts = await ledger.system_accounts(session, village.id)
    return Ledgerland(
        sessionmaker=sessionmaker,
        village=village,
        actor=actor,
        plus_rule=rules[0].rule.id,
        minus_rule=rules[1].rule.id,
        deductions=accounts[AccountKind.deductions],
    )


async def fresh_households(land: Ledgerland) -> Model:
    async with land.sessionmaker() as session, session.begin():
        households = [
            await create_household(
                session,
                console_actor(),
                land.village,
                code=f"H{next(_seq)}",
                head_name=f"户主{i}",
                grid=None,
                address=None,
                members=[MemberIn(name=f"户主{i}")],
            )
            for i in range(HOUSEHOLDS)
        ]
    return Model(households=[h.id for h in households])


async def attempt(land: Ledgerland, action: Any) -> tuple[Any, JifenError | None]:
    """Run one operation in its own database transaction; a refusal rolls it back."""
    try:
        async with land.sessionmaker() as session, session.begin():
            return await action(session), None
    except JifenError as error:
        return None, error


# --- the operations -------------------------------------------------------------------------------------


async def do_awards(land: Ledgerland, model: Model, items: list[tuple[int, int]]) -> None:
    """Awards (+n) and deductions (−n) through the award service; one item or an all-or-nothing batch."""

    async def action(session: AsyncSession) -> list[AwardOut]:
        ids = [model.households[h] for h, _ in items]
        submission = Submission(
            actor=land.actor,
            village_id=land.village.id,
            households=await awards_repository.households_by_id(session, ids),
        )
        award_items = [
            AwardItem(
                household_id=model.households[h],
                rule_id=land.plus_rule if n > 0 else land.minus_rule,
                quantity=abs(n),
            )
            for h, n in items
        ]
        return await awards.submit(session, land.actor, submission, award_items)

    # what the model says: posted in order; the first item that takes a household below zero refuses all
    posted = list(model.posted)
    refused_at = None
    for index, (h, n) in enumerate(items):
        posted[h] += n
        if posted[h] - model.held[h] < 0:
            refused_at = index
            needed, had = -n, posted[h] - n - model.held[h]
            break

    results, error = await attempt(land, action)
    event(f"awards ×{len(items)}: " + ("refused" if refused_at is not None else "posted"))
    if refused_at is not None:
        assert isinstance(error, ledger.InsufficientPoints), (items, error)
        assert f"可用 {had} 分，需要 {needed} 分" in error.detail
        if len(items) > 1:
            assert error.extra["index"] == refused_at
        return
    assert error is None, (items, error)
    assert [r.points for r in results] == [n for _, n in items]
    for (h, n), result in zip(items, results, strict=True):
        assert result.status == "posted"
        assert result.transaction_id is not None
        model.posted[h] += n
        model.earned[h] += max(n, 0)
        model.txs.append(Tx(result.transaction_id, h, n, max(n, 0)))


async def do_hold(land: Ledgerland, model: Model, h: int, amount: int) -> None:
    async def action(session: AsyncSession) -> uuid.UUID:
        hold = await ledger.place_hold(
            session,
            land.actor,
            ledger.HoldTerms(
                village_id=land.village.id,
                household_id=model.households[h],
                amount=amount,
                memo="公示期冻结",
            ),
        )
        return hold.id

    hold_id, error = await attempt(land, action)
    event("hold: " + ("refused" if amount > model.available(h) else "placed"))
    if amount > model.available(h):
        assert isinstance(error, ledger.InsufficientPoints), error
        assert f"可用 {model.available(h)} 分" in error.detail
        return
    assert error is None, error
    model.held[h] += amount
    model.holds.append(HoldState(hold_id, h, amount))


async def do_end_hold(land: Ledgerland, model: Model, pick: int, capture: bool) -> None:
    if not model.holds:
        return
    target = model.holds[pick % len(model.holds)]
    draft = ledger.Draft(
        kind=TransactionKind.deduction,
        lines=[
            ledger.Line(model.households[target.household], -target.amount),
            ledger.Line(land.deductions, target.amount),
        ],
        memo="公示期满扣分",
    )

    async def action(session: AsyncSession) -> Hold:
        hold = await session.get(Hold, (land.village.id, target.id))
        assert hold is not None
        if capture:
            return await ledger.capture_hold(session, land.actor, hold, draft)
        return await ledger.release_hold(session, land.actor, hold)

    hold, error = await attempt(land, action)
    event(("capture" if capture else "release") + (": done" if target.active else ": refused"))
    if not target.active:
        assert isinstance(error, ledger.HoldNotActive), error
        return
    assert error is None, error
    assert hold.status == ("posted" if capture else "released")
    target.status = hold.status
    model.held[target.household] -= target.amount
    if capture:
        assert hold.transaction_id == draft.id
        model.posted[target.household] -= target.amount
        model.txs.append(Tx(draft.id, target.household, -target.amount, 0))


async def do_reverse(land: Ledgerland, model: Model, pick: int) -> None:
    if not model.txs:
        return
    target = model.txs[pick % len(model.txs)]

    async def action(session: AsyncSession) -> Any:
        transaction = await ledger_repository.get_transaction(session, target.id)
        assert transaction is not None
        return await ledger.reverse(session, land.actor, transaction, reason="录入错误，冲正")

    reversal, error = await attempt(land, action)
    event("reverse: " + (type(error).__name__ if error else "done"))
    h = target.household
    if target.reverses is not None:
        assert isinstance(error, ledger.CannotReverse), error
    elif target.reversed:
        assert isinstance(error, ledger.AlreadyReversed), error
    elif model.available(h) - target.amount < 0:
        assert isinstance(error, ledger.InsufficientPoints), error
    else:
        assert error is None, error
        assert reversal.reverses_id == target.id
        assert reversal.kind == "reversal"
        target.reversed = True
        model.posted[h] -= target.amount
        model.earned[h] -= target.earned
        model.txs.append(Tx(reversal.id, h, -target.amount, -target.earned, reverses=target.id))


# --- the invariants --------------------------------------------------------------------------------------


async def check(land: Ledgerland, model: Model) -> None:
    params = {"v": land.village.id, "ids": model.households}
    async with land.sessionmaker() as session:

        async def rows(sql: str) -> list[Any]:
            return list((await session.execute(text(sql), params)).all())

        accounts = {
            r.id: r
            for r in await rows(
                "SELECT id, posted, held, lifetime_earned FROM accounts "
                "WHERE village_id = :v AND id = ANY(CAST(:ids AS uuid[]))"
            )
        }
        postings = await rows(
            "SELECT account_id, transaction_id, amount, balance_after FROM postings "
            "WHERE village_id = :v AND account_id = ANY(CAST(:ids AS uuid[])) "
            "ORDER BY account_id, account_version"
        )
        holds = {
            r.id: r.status
            for r in await rows(
                "SELECT id, status FROM holds "
                "WHERE village_id = :v AND account_id = ANY(CAST(:ids AS uuid[]))"
            )
        }
        unbalanced = await rows(
            "SELECT t.id FROM ledger_transactions t LEFT JOIN postings p "
            "ON p.village_id = t.village_id AND p.transaction_id = t.id WHERE t.village_id = :v "
            "GROUP BY t.id HAVING coalesce(sum(p.amount), 0) <> 0 OR count(p.id) < 2"
        )
        params["txs"] = list({p.transaction_id for p in postings})
        links = {
            r.id: r.reverses_id
            for r in await rows(
                "SELECT id, reverses_id FROM ledger_transactions "
                "WHERE village_id = :v AND id = ANY(CAST(:txs AS uuid[]))"
            )
        }

    assert unbalanced == [], "transactions whose postings do not sum to zero"
    running: dict[uuid.UUID, int] = dict.fromkeys(model.households, 0)
    for p in postings:
        running[p.account_id] += p.amount
        assert p.balance_after == running[p.account_id], "the running balance is broken"
    for h, household_id in enumerate(model.households):
        account = accounts[household_id]
        assert account.posted == running[household_id], "posted is not the sum of the postings"
        assert account.posted - account.held >= 0, "available went below zero"
        assert (account.posted, account.held, account.lifetime_earned) == (
            model.posted[h],
            model.held[h],
            model.earned[h],
        )
        assert account.held == sum(hs.amount for hs in model.holds if hs.household == h and hs.active), (
            "held is not the sum of the active holds"
        )
    assert holds == {hs.id: hs.status for hs in model.holds}
    # exactly the model's transactions exist, each reversal naming the one it reverses
    assert links == {t.id: t.reverses for t in model.txs}


# --- the test --------------------------------------------------------------------------------------------

house = st.integers(0, HOUSEHOLDS - 1)
points = st.integers(1, 40)
signed = st.tuples(points, st.booleans()).map(lambda p: p[0] if p[1] else -p[0])
pick = st.integers(0, 1_000)
award = st.tuples(st.just("award"), house, st.integers(1, 100))
operation = st.one_of(
    award,
    award,  # twice as likely, so that there are points to deduct, hold and reverse
    st.tuples(st.just("deduct"), house, points),
    st.tuples(st.just("batch"), st.lists(st.tuples(house, signed), min_size=2, max_size=5)),
    st.tuples(st.just("hold"), house, points),
    st.tuples(st.just("release"), pick),
    st.tuples(st.just("capture"), pick),
    st.tuples(st.just("reverse"), pick),
)
operations = st.lists(operation, min_size=5, max_size=40)

# One run through every path, whatever hypothesis draws: (the model's expectation in the comment)
EVERY_PATH: list[tuple[Any, ...]] = [
    ("award", 0, 50),  # tx 0
    ("hold", 0, 30),  # hold 0; available 20
    ("hold", 0, 30),  # refused: insufficient
    ("deduct", 0, 25),  # refused: 可用 20 分，需要 25 分
    ("capture", 0),  # tx 1 (−30); posted 20, held 0
    ("capture", 0),  # refused: hold not active
    ("reverse", 0),  # refused: taking 50 back would go below zero
    ("reverse", 1),  # tx 2 gives the 30 back
    ("reverse", 0),  # tx 3 takes the 50 back: 0, lifetime earned 0
    ("reverse", 3),  # refused: a reversal is not reversed
    ("reverse", 0),  # refused: already reversed
    ("hold", 1, 5),  # refused: nothing to hold
    ("batch", [(1, 10), (1, -10), (1, -1)]),  # refused at index 2, nothing posted
    ("batch", [(1, 10), (2, 5), (1, -4)]),  # posted
    ("hold", 1, 6),  # hold 1; available 0
    ("release", 1),  # released; available 6
    ("release", 1),  # refused: hold not active
    ("capture", 1),  # refused: hold not active
    ("deduct", 1, 6),  # posted; 0
]


@settings(
    max_examples=int(os.environ.get("JIFEN_PROPERTY_EXAMPLES", 25)),
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],  # the explain phase takes minutes here
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(opening=st.lists(st.integers(0, 200), min_size=HOUSEHOLDS, max_size=HOUSEHOLDS), ops=operations)
@example(opening=[0, 0, 0], ops=EVERY_PATH)
async def test_random_operations_keep_every_invariant(
    land: Ledgerland, opening: list[int], ops: list[tuple[Any, ...]]
) -> None:
    model = await fresh_households(land)
    if any(opening):
        await do_awards(land, model, [(h, n) for h, n in enumerate(opening) if n])
        await check(land, model)
    for op in ops:
        match op:
            case ("award", h, n):
                await do_awards(land, model, [(h, n)])
            case ("deduct", h, n):
                await do_awards(land, model, [(h, -n)])
            case ("batch", items):
                await do_awards(land, model, items)
            case ("hold", h, n):
                await do_hold(land, model, h, n)
            case ("release", k):
                await do_end_hold(land, model, k, capture=False)
            case ("capture", k):
                await do_end_hold(land, model, k, capture=True)
            case ("reverse", k):
                await do_reverse(land, model, k)
        await check(land, model)
