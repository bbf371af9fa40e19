"""Expiry (清零): a village's policy (append-only history), the preview for the advance notice, and the
due job that posts expiry transactions exactly once per household and cutoff.

Decisions (see `jifen.expiry.policy` for the arithmetic):
- A policy takes effect when it is saved (`effective_at`) and replaces the previous one entirely: only its
  own cutoffs after that moment count, so nothing past due under a policy that did not exist yet expires
  retroactively, and remainders of an old policy are not collected by the new one.
- Held points (a pending reservation, a deduction on public notice) count as already spent: the job expires
  at most `available`, so the balance never goes below what is held. If a hold is later *released*, its
  points may have become due; the next pass of the job collects them as a further part of the same cutoff.
- Every pass runs under a per-village advisory lock in one transaction; `expiries` has the primary key
  (village, household, cutoff, part) and `expiry_runs` (village, cutoff, pass): a second process can neither
  post the same clearing again nor run the first pass twice.
"""

from __future__ import annotations

import calendar
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jifen.audit import service as audit
from jifen.auth.actor import Actor, console_actor
from jifen.expiry import repository
from jifen.expiry.policy import (
    Cutoff,
    ExpiryMode,
    Policy,
    last_valid_day,
    latest_cutoff,
    local_date,
    local_midnight,
    next_cutoff,
    yearly_cutoffs_between,
)
from jifen.expiry.schemas import ExpiringOut, ExpiryPolicyOut, HouseholdExpiringItem, HouseholdExpiringOut
from jifen.kit.errors import JifenError
from jifen.kit.jobs import JobIncomplete
from jifen.kit.pagination import Page, decode_cursor, encode_cursor
from jifen.kit.timeutil import utcnow
from jifen.ledger import service as ledger
from jifen.models import AccountKind, HouseholdRecord, TransactionKind

log = structlog.get_logger(__name__)

PREVIEW_MAX_DAYS = 3 * 366
# a hold released in a transaction that began before the previous pass may commit after it: look back
RELEASE_LOOKBACK = timedelta(minutes=10)


class InvalidExpiryPolicy(JifenError, code="invalid_expiry_policy", status=422, detail="清零规则不正确"): ...


class InvalidPreviewRange(
    JifenError, code="invalid_preview_range", status=422, detail="预览截止日期不正确"
): ...


@dataclass(frozen=True)
class PolicyChange:
    mode: ExpiryMode
    clearing_date: str | None = None  # "MM-DD"
    carry_over_cap: int | None = None
    months: int | None = None


def _parse_clearing_date(value: str) -> tuple[int, int]:
    parts = value.split("-")
    if len(parts) != 2 or not all(p.isdigit() and len(p) == 2 for p in parts):
        raise InvalidExpiryPolicy("清零日期格式应为“月-日”，例如 12-31")
    month, day = int(parts[0]), int(parts[1])
    if not 1 <= month <= 12:
        raise InvalidExpiryPolicy(f"清零日期的月份 {month} 不存在，应为 01–12")
    if (month, day) == (2, 29):
        raise InvalidExpiryPolicy("2 月 29 日不是每年都有，请选择 2 月 28 日或 3 月 1 日")
    if not 1 <= day <= calendar.monthrange(2025, month)[1]:
        raise InvalidExpiryPolicy(f"{month} 月没有 {day} 日")
    return month, day


def validate(change: PolicyChange) -> Policy:
    """The policy a change describes, or InvalidExpiryPolicy saying in Chinese what is wrong."""
    if change.mode is ExpiryMode.none:
        if change.clearing_date is not None or change.carry_over_cap is not None or change.months is not None:
            raise InvalidExpiryPolicy("“不清零”时不能填写清零日期、结转上限或有效月数")
        return Policy(mode=ExpiryMode.none)
    if change.mode is ExpiryMode.yearly:
        if change.months is not None:
            raise InvalidExpiryPolicy("“每年清零”不填写有效月数（有效月数用于“滚动有效期”）")
        if change.clearing_date is None:
            raise InvalidExpiryPolicy("“每年清零”需要填写清零日期（月-日），例如 12-31")
        month, day = _parse_clearing_date(change.clearing_date)
        cap = change.carry_over_cap
        if cap is not None and not 0 <= cap <= 100_000_000:
            raise InvalidExpiryPolicy("结转上限应为 0 到 100000000 之间的整数（不填表示全部清零）")
        return Policy(mode=ExpiryMode.yearly, clearing_month=month, clearing_day=day, carry_over_cap=cap)
    if change.clearing_date is not None or change.carry_over_cap is not None:
        raise InvalidExpiryPolicy("“滚动有效期”不填写清零日期或结转上限")
    if change.months is None or not 1 <= change.months <= 120:
        raise InvalidExpiryPolicy("滚动有效期的月数应为 1 到 120 之间的整数")
    return Policy(mode=ExpiryMode.rolling, months=change.months)


def describe(policy: Policy) -> str:
    """The policy in one Chinese sentence, for villagers and the audit trail."""
    if policy.mode is ExpiryMode.yearly:
        cap = (
            "超过部分清零，" + (f"最多结转 {policy.carry_over_cap} 分" if policy.carry_over_cap else "不结转")
            if policy.carry_over_cap is not None
            else "全部清零"
        )
        return f"每年 {policy.clearing_month} 月 {policy.clearing_day} 日结束时清零（{cap}）"
    if policy.mode is ExpiryMode.rolling:
        return f"每笔积分自获得之日起 {policy.months} 个月内有效，先得先用，到期清零"
    return "积分长期有效，不清零"


async def current_policy(session: AsyncSession, village_id: uuid.UUID) -> repository.PolicyRow | None:
    return await repository.current_policy(session, village_id)


async def set_policy(
    session: AsyncSession, actor: Actor, village_id: uuid.UUID, change: PolicyChange, *, reason: str
) -> repository.PolicyRow:
    """Save a new policy (a new history row); it applies from now on."""
    policy = validate(change)
    await repository.lock_village_policies(session, village_id)
    previous = await repository.current_policy(session, village_id)
    now = utcnow()
    # effective times never go backwards, whatever the clocks of several servers say
    effective_at = max(now, previous.effective_at) if previous else now
    policy = replace(policy, id=uuid.uuid4(), effective_at=effective_at)
    # every field of the policy is one of the row's (the inverse of PolicyRow.policy)
    row = repository.PolicyRow(
        **{**asdict(policy), "mode": policy.mode.value},
        village_id=village_id,
        seq=(previous.seq + 1) if previous else 1,
        reason=reason,
        actor_id=actor.user_id,
        created_at=now,
    )
    await repository.insert_policy(session, row)
    await audit.record(
        session,
        actor,
        village_id,
        "expiry_policy.set",
        row.id,
        before=None if previous is None else _audit_view(previous.policy()),
        after=_audit_view(row.policy()),
        reason=reason,
    )
    log.info("expiry_policy_set", village_id=str(village_id), mode=row.mode, policy_id=str(row.id))
    return row


def _audit_view(policy: Policy) -> dict[str, object]:
    return {
        "mode": policy.mode.value,
        "clearing_date": (
            f"{policy.clearing_month:02d}-{policy.clearing_day:02d}" if policy.clearing_month else None
        ),
        "carry_over_cap": policy.carry_over_cap,
        "months": policy.months,
        "effective_at": policy.effective_at,
        "summary": describe(policy),
    }


async def policy_history(
    session: AsyncSession, village_id: uuid.UUID, *, before_seq: int | None, limit: int
) -> list[repository.PolicyRow]:
    return await repository.policy_history(session, village_id, before_seq=before_seq, limit=limit)


# ------------------------------------------------------------------------------------------- preview


@dataclass(frozen=True)
class Expiring:
    household_id: uuid.UUID
    amount: int
    expires_at: datetime


def _until_instant(until: date, now: datetime) -> datetime:
    today = local_date(now)
    if until < today:
        raise InvalidPreviewRange("预览截止日期不能早于今天")
    if until > today + timedelta(days=PREVIEW_MAX_DAYS):
        raise InvalidPreviewRange("预览截止日期最多为三年以后")
    return local_midnight(until + timedelta(days=1))


async def expiring(
    session: AsyncSession,
    village_id: uuid.UUID,
    *,
    until: date,
    household_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> list[Expiring]:
    """What will expire by the end of local day `until` if nothing else happens (no new points, no
    spending, held points spent): per household and cutoff, soonest first. A cutoff already passed whose
    clearing the due job has not posted yet is listed with its own (past) time."""
    row = await repository.current_policy(session, village_id)
    return await expiring_under(session, row, village_id, until=until, household_id=household_id, now=now)


async def expiring_under(
    session: AsyncSession,
    row: repository.PolicyRow | None,
    village_id: uuid.UUID,
    *,
    until: date,
    household_id: uuid.UUID | None = None,
    now: datetime | None = None,
    available: int | None = None,
) -> list[Expiring]:
    """`expiring` under the village's current policy `row` as the caller has read it; `available`: the one
    household's available points, when the caller has just read them (not read again)."""
    moment = now or utcnow()
    end = _until_instant(until, moment)
    if row is None or row.mode == ExpiryMode.none.value:
        return []
    policy = row.policy()
    found: list[Expiring] = []
    cutoff = latest_cutoff(policy, moment)
    pending: dict[uuid.UUID, int] = {}
    if cutoff is not None:
        pending = await repository.pending_due(
            session, village_id, boundary=cutoff.boundary, cap=cutoff.cap, household_id=household_id
        )
        found.extend(Expiring(h, amount, cutoff.at) for h, amount in pending.items())
    if policy.mode is ExpiryMode.yearly:
        future = yearly_cutoffs_between(policy, max(moment, policy.effective_at or moment), end)
        if future:
            # after the first future clearing at most the cap is left, so later ones clear nothing more
            cap = policy.carry_over_cap or 0
            if available is not None and household_id is not None:
                points_of = {household_id: available} if available > 0 else {}
            else:
                points_of = await repository.availability(session, village_id, household_id)
            for h, points in points_of.items():
                amount = points - pending.get(h, 0) - cap
                if amount > 0:
                    found.append(Expiring(h, amount, future[0]))
    else:
        assert policy.months is not None
        assert policy.effective_at is not None
        first = local_midnight(local_date(policy.effective_at) + timedelta(days=1))
        lots = await repository.rolling_lots(
            session,
            village_id,
            since=cutoff.boundary if cutoff is not None else None,
            months=policy.months,
            pending=pending,
            household_id=household_id,
        )
        merged: dict[tuple[uuid.UUID, datetime], int] = {}
        for lot in lots:
            at = max(
                lot.expires_at.astimezone(UTC), first
            )  # nothing expires before the policy's first cutoff
            if moment < at <= end and lot.points > 0:
                key = (lot.household_id, at)
                merged[key] = merged.get(key, 0) + lot.points
        found.extend(Expiring(h, points, at) for (h, at), points in merged.items())
    found.sort(key=lambda e: (e.expires_at, str(e.household_id)))
    return found


async def villages_expiring(session: AsyncSession) -> list[uuid.UUID]:
    """The villages whose current policy clears points."""
    return [row.village_id for row in await repository.villages_with_expiry(session)]


async def next_clearing(session: AsyncSession, village_id: uuid.UUID) -> datetime | None:
    row = await repository.current_policy(session, village_id)
    return None if row is None else next_cutoff(row.policy(), utcnow())


# ------------------------------------------------------------------------------------------- due job


def _memo(policy: Policy, cutoff: Cutoff, part: int) -> str:
    day = last_valid_day(cutoff.at)
    if policy.mode is ExpiryMode.yearly:
        kept = f"，结转上限 {cutoff.cap} 分" if cutoff.cap else ""
        memo = f"{day:%Y-%m-%d} 年度积分清零{kept}"
    else:
        assert policy.months is not None
        memo = f"积分有效期 {policy.months} 个月：{day:%Y-%m-%d} 前到期的积分清零"
    return memo + ("（冻结释放后补清）" if part > 1 else "")


async def expire_village(
    session: AsyncSession, actor: Actor, row: repository.PolicyRow, *, now: datetime
) -> tuple[int, int] | None:
    """One pass of the due job for one village, in the caller's transaction: (households, points) posted,
    or None when another process holds the village or there is nothing to look at."""
    # SQL twin: migrations/versions/0011_expiry.py pk_expiries, pk_expiry_runs
    # (docs/invariants.md, expire once)
    policy = row.policy()
    cutoff = latest_cutoff(policy, now)
    if cutoff is None:
        return None
    if not await repository.try_lock_village(session, row.village_id):
        return None
    current = await repository.current_policy(session, row.village_id)
    if current is None or current.id != row.id:
        return None  # the policy changed since the job looked: the next tick uses the new one
    previous = await repository.last_pass(session, row.village_id, cutoff.at)
    only: list[uuid.UUID] | None = None
    if previous is not None:
        only = await repository.released_since(
            session, row.village_id, previous.created_at - RELEASE_LOOKBACK
        )
        if not only:
            return None
    locked = await repository.lock_candidates(session, row.village_id, cutoff.cap, only)
    due = (
        await repository.due_amounts(
            session, row.village_id, locked, boundary=cutoff.boundary, cap=cutoff.cap, cutoff=cutoff.at
        )
        if locked
        else []
    )
    if due:
        await _post_expiries(session, actor, row, cutoff, due)
    points = sum(d.due for d in due)
    await repository.insert_run(
        session,
        row.village_id,
        cutoff=cutoff.at,
        number=(previous.number + 1) if previous else 1,
        policy_id=row.id,
        households=len(due),
        points=points,
    )
    if due:
        log.info(
            "expiry_posted",
            village_id=str(row.village_id),
            cutoff=cutoff.at.isoformat(),
            households=len(due),
            points=points,
        )
    return len(due), points


async def _post_expiries(
    session: AsyncSession,
    actor: Actor,
    row: repository.PolicyRow,
    cutoff: Cutoff,
    due: list[repository.DueRow],
) -> None:
    """Post one expiry transaction per household that owes points, record them against the cutoff (each
    household and part once: the primary key of `expiries`) and on the audit trail."""
    policy = row.policy()
    accounts = await ledger.system_accounts(session, row.village_id)
    expiry_account = accounts[AccountKind.expiry]
    drafts = [
        ledger.Draft(
            kind=TransactionKind.expiry,
            lines=[
                ledger.Line(account_id=d.household_id, amount=-d.due),
                ledger.Line(account_id=expiry_account, amount=d.due),
            ],
            memo=_memo(policy, cutoff, d.part),
            source_type="expiry_policy",
            source_id=row.id,
        )
        for d in due
    ]
    await ledger.post(session, actor, row.village_id, drafts)
    await repository.insert_expiries(
        session,
        row.village_id,
        cutoff=cutoff.at,
        policy_id=row.id,
        rows=[(d.household_id, d.part, d.due, draft.id) for d, draft in zip(due, drafts, strict=True)],
    )
    await audit.record_many(
        session,
        actor,
        village_id=row.village_id,
        action="expiry.post",
        record_type="household",
        changes=[
            (
                d.household_id,
                None,
                {"transaction_id": draft.id, "amount": d.due, "cutoff": cutoff.at, "part": d.part},
            )
            for d, draft in zip(due, drafts, strict=True)
        ],
        reason=describe(policy),
    )


def policy_out(village_id: uuid.UUID, row: repository.PolicyRow | None) -> ExpiryPolicyOut:
    policy = row.policy() if row else Policy(mode=ExpiryMode.none)
    return ExpiryPolicyOut(
        id=row.id if row else None,
        village_id=village_id,
        mode=policy.mode,
        clearing_date=(
            f"{policy.clearing_month:02d}-{policy.clearing_day:02d}" if policy.clearing_month else None
        ),
        carry_over_cap=policy.carry_over_cap,
        months=policy.months,
        summary=describe(policy),
        effective_at=policy.effective_at,
        next_cutoff=next_cutoff(policy, utcnow()),
        reason=row.reason if row else None,
        actor_id=row.actor_id if row else None,
        created_at=row.created_at if row else None,
    )


async def preview_page(
    session: AsyncSession,
    village_id: uuid.UUID,
    until: date | None,
    cursor: str | None,
    limit: int,
    *,
    policy: repository.PolicyRow | None = None,
) -> Page[ExpiringOut]:
    """Who loses how many points, and when, up to the end of local day `until` (a year from today);
    `policy`: the village's current policy, when the caller has just read it."""
    today = local_date(utcnow())
    end = until or today + timedelta(days=365)
    if policy is None:
        found = await expiring(session, village_id, until=end)
    else:
        found = await expiring_under(session, policy, village_id, until=end)
    key = decode_cursor(cursor, 2)
    if key is not None:
        after = (key[0], key[1])
        found = [e for e in found if (e.expires_at.isoformat(), str(e.household_id)) > after]
    page = found[:limit]
    names = await repository.household_names(session, village_id, [e.household_id for e in page])
    items = [
        ExpiringOut(
            household_id=e.household_id,
            code=names[e.household_id][0],
            head_name=names[e.household_id][1],
            amount=e.amount,
            expires_at=e.expires_at,
            expires_on=last_valid_day(e.expires_at),
        )
        for e in page
    ]
    last = page[-1] if page else None
    more = len(found) > limit and last is not None
    return Page(
        items=items,
        next_cursor=encode_cursor(last.expires_at.isoformat(), last.household_id) if more and last else None,
    )


async def run_due(sessionmaker: async_sessionmaker[AsyncSession], *, now: datetime | None = None) -> int:
    """Post every due clearing, one transaction per village. Safe to run in several processes at once.
    Returns the number of expiry transactions posted; JobIncomplete (carrying that number) when a village's
    clearing failed (the others still ran)."""
    moment = now or utcnow()
    actor = console_actor("积分清零")
    async with sessionmaker() as session, session.begin():
        villages = await repository.villages_with_expiry(session)
    posted = failed = 0
    for row in villages:
        if latest_cutoff(row.policy(), moment) is None:
            continue
        try:
            async with sessionmaker() as session, session.begin():
                result = await expire_village(session, actor, row, now=moment)
        except Exception:
            # one village's failure (rolled back, retried next time) must not hold up the others
            log.exception("expiry_failed", village_id=str(row.village_id))
            failed += 1
            continue
        if result:
            posted += result[0]
    if failed:  # the job still failed: its run is counted as failed on /metrics and in its log line
        raise JobIncomplete(posted, f"clearing failed in {failed} village(s)")
    return posted


async def household_expiring(
    session: AsyncSession, household: HouseholdRecord, until: date | None, *, available: int | None = None
) -> HouseholdExpiringOut:
    """The household's points that will expire (清零) by `until` (a year from today), soonest first
    (`available`: its available points, when the caller has just read them)."""
    today = local_date(utcnow())
    row = await current_policy(session, household.village_id)
    found = await expiring_under(
        session,
        row,
        household.village_id,
        until=until or today + timedelta(days=365),
        household_id=household.id,
        available=available,
    )
    return HouseholdExpiringOut(
        household_id=household.id,
        policy=describe(row.policy() if row else Policy(mode=ExpiryMode.none)),
        expiring=[
            HouseholdExpiringItem(
                amount=e.amount,
                expires_at=e.expires_at,
                expires_on=last_valid_day(e.expires_at),
                notice=f"{e.amount} 积分将于 {last_valid_day(e.expires_at):%Y-%m-%d} 后清零",
            )
            for e in found
        ],
    )
