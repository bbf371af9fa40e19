"""Awards and deductions: a rule applied to a household. Rules without review post at once, through the
ledger's set-based path, one award or ten thousand in one database round trip."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from jifen.audit import service as audit
from jifen.auth.actor import CONSOLE_USER, Actor
from jifen.auth.actor_cache import OneCallCaller, credential_rechecked, one_call_caller
from jifen.auth.scope import check_grid
from jifen.awards import repository
from jifen.awards.auth import PendingSubmission, Submission
from jifen.awards.repository import AwardRow, HouseholdRef, LockedAward
from jifen.awards.schemas import AwardBatchCreate, AwardBatchOut, AwardCreate, AwardItem, AwardOut
from jifen.kit.db import unique_or
from jifen.kit.errors import BadRequest, Conflict, Forbidden, JifenError, NotFound
from jifen.kit.idempotency import CallerKey, is_valid_key
from jifen.kit.metrics import count_posted
from jifen.kit.pagination import BY_TIME_ID, Page
from jifen.kit.periods import PERIOD_NAMES, period_start, window
from jifen.kit.sql import column_arrays
from jifen.kit.timeutil import to_local, utcnow
from jifen.ledger import repository as ledger_repository
from jifen.ledger import service as ledger
from jifen.models import AccountKind, AwardStatus, Review, TransactionKind
from jifen.outbox import repository as outbox
from jifen.photos import repository as photos_repository
from jifen.photos.service import UnknownPhoto
from jifen.rules import repository as rules_repository
from jifen.rules.repository import RuleSnapshot


class ConflictOfInterest(Forbidden, code="conflict_of_interest", detail="不能为自己家庭评分或扣分"): ...


class CapExceeded(Conflict, code="cap_exceeded", detail="超出该细则的积分上限"): ...


class RuleOutOfRange(Conflict, code="rule_not_in_effect", detail="该积分细则当前不在适用期内"): ...


class RuleRetired(Conflict, code="rule_retired", detail="该积分细则已停用"): ...


class EvidenceRequired(Conflict, code="evidence_required", detail="该积分细则要求附证据照片"): ...


class NotSelfReportable(
    Conflict, code="not_self_reportable", detail="自主申报只能申报加分项目，扣分项目由村干部登记"
): ...


class ObservedTooLongAgo(
    Conflict, code="observed_too_long_ago", detail="这条评分记录的时间太久远，已超过补录期限"
): ...


class ObservedInFuture(
    BadRequest, code="observed_in_future", detail="评分时间晚于现在，请检查手机的日期和时间"
): ...


# how far a phone's clock may run ahead of the server's. SQL twin: 0019_observed_at.py
# ck_awards_observed_before_received (the caps' count relies on it)
CLOCK_SKEW = timedelta(minutes=10)
OBSERVED_MAX_AGE = timedelta(days=7)  # the setting's default (JIFEN_OBSERVED_MAX_AGE_DAYS)


class InvalidMember(BadRequest, code="invalid_member", detail="该家庭成员不属于这一户"): ...


def _at(error: JifenError, index: int, many: bool) -> JifenError:
    """Name the item a batch failed at."""
    if many:
        error.detail = f"第 {index + 1} 项：{error.detail}"
        error.extra["index"] = index
    return error


def _check_actor(actor: Actor, village_id: uuid.UUID, household_id: uuid.UUID, grid: str | None) -> None:
    if household_id in actor.household_ids():
        raise ConflictOfInterest()
    check_grid(actor, village_id, grid)


@dataclass(slots=True)
class _Submission:
    """What every item of one submission is checked against, loaded once for the whole batch."""

    actor: Actor
    submission: Submission
    self_report: bool
    many: bool
    now: datetime
    rules: dict[uuid.UUID, RuleSnapshot]
    members: dict[uuid.UUID, uuid.UUID]
    accounts: dict[AccountKind, uuid.UUID]
    photos: dict[uuid.UUID, str]
    used: dict[tuple[uuid.UUID, uuid.UUID, datetime], int]
    repeats: dict[tuple[uuid.UUID, uuid.UUID, datetime], int]
    notice_until: datetime | None
    max_age: timedelta
    drafts: list[ledger.Draft] = field(default_factory=list)
    draft_item: list[int] = field(default_factory=list)

    @property
    def village_id(self) -> uuid.UUID:
        return self.submission.village_id


async def submit(
    session: AsyncSession,
    actor: Actor,
    submission: Submission,
    items: Sequence[AwardItem],
    *,
    batch_id: uuid.UUID | None = None,
    self_report: bool = False,
    max_age: timedelta = OBSERVED_MAX_AGE,
) -> list[AwardOut]:
    """Apply rules to households, all or nothing. Items under a rule without review post at once.

    A self-report (自主申报, `self_report=True`) is filed by a villager for their own household (the caller
    checked that): only a deed, and always into review — single review when the rule needs none.

    An item scored offline carries its `observed_at`: at most `max_age` old and not in the future; its cap
    and escalation count in the local period it was observed in, and its rule must have been in force then."""
    batch = await _load_submission(session, actor, submission, items, self_report, max_age)
    placed = [await _place_item(session, batch, index, item) for index, item in enumerate(items)]
    results = [award for award, _ in placed]
    if batch.drafts:
        try:
            await ledger.post(session, actor, batch.village_id, batch.drafts)
        except ledger.InsufficientPoints as error:
            raise _at(error, batch.draft_item[error.draft_index], batch.many) from None
    await _record_awards(session, batch, results, [hold for _, hold in placed], batch_id)
    await outbox.record(
        session, batch.village_id, [e for r in results if (e := award_event(r, batch.rules[r.rule_id].name))]
    )
    return results


def award_event(result: AwardOut, rule_name: str) -> outbox.Event | None:
    """What the household hears of an award just placed or decided: posted, or on public notice (公示)."""
    about = {"award_id": result.id, "rule": rule_name, "transaction_id": result.transaction_id}
    if result.status is AwardStatus.posted:
        return outbox.posted(result.household_id, result.points, about)
    if result.status is AwardStatus.public_notice:
        payload = {**about, "points": result.points, "notice_until": result.notice_until}
        return outbox.Event(outbox.Kind.notice_opened, result.household_id, payload)
    return None


async def submit_in_one_call(
    *,
    key: CallerKey,
    fingerprint: str,
    body: AwardCreate | AwardBatchCreate,
    access: PendingSubmission,
    session: AsyncSession,
    on: OnConnection | None = None,
    **_: object,
) -> bytes | None:
    """The award (or batch) as one database call (`award_submit`, migration 0021), answer included: the JSON
    to send, stored with the key. None when it is not of the shape that call covers, or is refused: nothing
    was written, and the endpoint runs `submit` as before (its refusals, codes and messages unchanged).

    `on`: the call runs on that driver connection (committed when it answers, outside a transaction of the
    caller's) instead of in `session`;
    what it posted is left in `on.posted` for the caller to count once committed (the award's ASGI lane)."""
    call = one_call_of(access.actor, key, fingerprint, body)
    if call is None:
        return None
    with credential_rechecked():
        if on is not None:
            answer = await repository.submit_on(on.connection, call)
        else:
            answer = await repository.submit_in_one_call(session, call)
    if answer.answer_json is None:
        return None
    if on is not None:
        on.posted += answer.posted()
    else:
        count_posted(session, answer.posted())
    return answer.answer_json.encode()


@dataclass(slots=True)
class OnConnection:
    """A driver connection the call commits on, and the kinds of what was posted on it."""

    connection: asyncpg.Connection
    posted: list[str] = field(default_factory=list)


def one_call_of(
    actor: Actor, key: CallerKey, fingerprint: str, body: AwardCreate | AwardBatchCreate
) -> repository.OneCall | None:
    """What `award_submit` is called with for this request, or None when it is not of the shape that call
    covers (the general path runs)."""
    many = isinstance(body, AwardBatchCreate)
    items = body.items if isinstance(body, AwardBatchCreate) else [body]
    if not is_valid_key(key.key):
        return None  # no usable key: refused after the access checks (PendingSubmission)
    return _one_call_of(one_call_caller(actor, key, fingerprint), items, many=many, batch=None)


def _one_call_of(
    caller: OneCallCaller, items: Sequence[AwardItem], *, many: bool, batch: uuid.UUID | None
) -> repository.OneCall | None:
    """The items as `award_submit`'s arguments; None when one is not of the shape it covers."""
    if any(item.member_id is not None or item.photo_ids or item.observed_at is not None for item in items):
        return None  # a member, photos, or a deed scored offline (its own period): the general path
    return repository.OneCall(
        caller=caller,
        many=many,
        batch=batch,
        now=utcnow(),
        households=[item.household_id for item in items],
        rules=[item.rule_id for item in items],
        quantities=[item.quantity for item in items],
        notes=[item.note for item in items],
    )


async def submit_batch_in_one_call(
    session: AsyncSession, actor: Actor, items: Sequence[AwardItem], batch_id: uuid.UUID
) -> list[AwardOut] | None:
    """Staff's items as one batch under `batch_id` (an inspection's) in one database call (`award_submit`,
    migration 0027), with no idempotency claim: the caller claimed the key and stores its own answer. The
    awards as `submit` answers them; None when they are not of the shape the call covers, or are refused:
    nothing was written, and the caller runs `submit`, which gives the refusal."""
    if actor.user_id == CONSOLE_USER:
        return None  # the console (the demo, a job) is no user award_submit knows: the general path
    call = _one_call_of(one_call_caller(actor, None, None), items, many=True, batch=batch_id)
    if call is None:
        return None
    with credential_rechecked():
        answer = await repository.submit_in_one_call(session, call)
    if answer.answer_json is None:
        return None
    count_posted(session, answer.posted())
    return AwardBatchOut.model_validate_json(answer.answer_json).items


async def _load_submission(
    session: AsyncSession,
    actor: Actor,
    submission: Submission,
    items: Sequence[AwardItem],
    self_report: bool,
    max_age: timedelta,
) -> _Submission:
    """The rules, members, accounts and photos the items name, and what the households already used."""
    village_id = submission.village_id
    rules = {
        rule.rule_id: rule
        for rule in await rules_repository.current_versions(session, list({item.rule_id for item in items}))
        if rule.village_id == village_id
    }
    member_ids = [item.member_id for item in items if item.member_id is not None]
    members = await repository.member_households(session, village_id, member_ids) if member_ids else {}
    accounts = await ledger.system_accounts(session, village_id)
    photo_ids = {photo_id for item in items for photo_id in item.photo_ids}
    photos = (
        await photos_repository.village_photo_hashes(session, village_id, list(photo_ids))
        if photo_ids
        else {}
    )
    now = utcnow()
    # what each capped (household, rule) pair has used in the local period of the item, under lock
    capped = _pairs(items, rules, lambda rule: rule.cap_count is not None, now)
    used = await _per_period(session, village_id, capped, lambda r: r.cap_period, "points")
    # how many deductions each (household, escalating rule) pair already has in the rule's period
    escalating = _pairs(items, rules, lambda rule: rule.escalation, now)
    repeats = await _per_period(session, village_id, escalating, _escalation_period, "times")
    notice_days = await repository.notice_days(session, village_id)
    return _Submission(
        actor=actor,
        submission=submission,
        self_report=self_report,
        many=len(items) > 1,
        now=now,
        rules=rules,
        members=members,
        accounts=accounts,
        photos=photos,
        used=used,
        repeats=repeats,
        notice_until=now + timedelta(days=notice_days) if notice_days else None,
        max_age=max_age,
    )


def _escalation_period(rule: RuleSnapshot) -> str:
    return rule.cap_period or "month"


def _check_observed(batch: _Submission, observed: datetime | None) -> None:
    """An offline item's observed moment: not later than now (a fast clock allowed for), not too old."""
    if observed is None:
        return
    seen = to_local(observed).strftime("%Y-%m-%d %H:%M")
    if observed > batch.now + CLOCK_SKEW:
        raise ObservedInFuture(
            f"评分时间 {seen} 晚于现在（{to_local(batch.now):%Y-%m-%d %H:%M}），"
            "请检查手机的日期和时间后重新评分"
        )
    if observed < batch.now - batch.max_age:
        raise ObservedTooLongAgo(
            f"这条评分记录于 {seen}，已超过 {batch.max_age.days} 天的补录期限，不能再上传；"
            "如情况仍在，请现场重新评分"
        )


def _checked_rule(
    batch: _Submission, household: HouseholdRef, item: AwardItem, moment: datetime
) -> RuleSnapshot:
    """The item's rule, when it is in force (on the local day of `moment`, when the deed was seen) and the
    item may use it (its member, photos, evidence)."""
    version = batch.rules.get(item.rule_id)
    if version is None:
        raise NotFound("找不到该积分细则")
    if not version.active:
        raise RuleRetired(f"积分细则“{version.name}”已停用")
    today = to_local(moment).date()
    if (version.active_from and today < version.active_from) or (
        version.active_until and today > version.active_until
    ):
        since, until = version.active_from or "…", version.active_until or "…"
        raise RuleOutOfRange(f"积分细则“{version.name}”的适用期为 {since} 至 {until}")
    if batch.self_report:
        if version.points < 0:
            raise NotSelfReportable()
    else:
        _check_actor(batch.actor, batch.village_id, household.id, household.grid)
    if item.member_id is not None and batch.members.get(item.member_id) != household.id:
        raise InvalidMember()
    if any(photo_id not in batch.photos for photo_id in item.photo_ids):
        raise UnknownPhoto()
    if version.evidence_required and not item.photo_ids:
        raise EvidenceRequired(f"积分细则“{version.name}”要求附证据照片，请先上传照片")
    return version


def _item_points(
    batch: _Submission, household_id: uuid.UUID, version: RuleSnapshot, item: AwardItem, moment: datetime
) -> int:
    """The item's points: escalated for a repeated deduction, and within the rule's cap (else CapExceeded),
    both counted in the local period holding `moment`."""
    points = version.points * item.quantity
    if version.escalation:
        # the n-th deduction in the period takes escalation[n] points (the last step for any later one)
        key = (household_id, version.rule_id, period_start(_escalation_period(version), moment))
        done = batch.repeats.get(key, 0)
        steps = version.escalation
        points = -sum(steps[min(done + i, len(steps) - 1)] for i in range(item.quantity))
        batch.repeats[key] = done + item.quantity
    if version.cap_count is not None and version.cap_period is not None:
        start = period_start(version.cap_period, moment)
        key = (household_id, version.rule_id, start)
        left = max(version.cap_count - batch.used.get(key, 0), 0)
        if abs(points) > left:
            name = PERIOD_NAMES[version.cap_period]
            period = name.this
            if start != period_start(version.cap_period, batch.now):  # scored offline, an earlier period
                day = f"{to_local(moment):%Y-%m-%d}"
                period = f"{day} 当天" if version.cap_period == "day" else f"{day} 所在的{name.unit}"
            raise CapExceeded(
                f"超出“{version.name}”的上限：{period}最多 {version.cap_count} 分，还可得 {left} 分",
                left=left,
            )
        batch.used[key] = batch.used.get(key, 0) + abs(points)
    return points


async def _place_item(
    session: AsyncSession, batch: _Submission, index: int, item: AwardItem
) -> tuple[AwardOut, uuid.UUID | None]:
    """One item checked and priced, then into review, on public notice (a deduction holds its points) or
    drafted to post with the batch; a refusal names the item's index. With it: the points hold behind a
    deduction on public notice, if any."""
    household = batch.submission.households[item.household_id]
    moment = item.observed_at or batch.now
    try:
        _check_observed(batch, item.observed_at)
        version = _checked_rule(batch, household, item, moment)
        points = _item_points(batch, household.id, version, item, moment)
    except JifenError as error:
        raise _at(error, index, batch.many) from None
    award_id = uuid.uuid4()
    transaction_id = hold_id = None
    status = AwardStatus.pending_review
    if batch.self_report:
        pass  # a self-report always waits for a reviewer
    elif version.review == Review.none.value and batch.notice_until is not None:
        status = AwardStatus.public_notice
        if points < 0:  # a deduction on notice already holds its points
            try:
                hold_id = await _hold_for(
                    session, batch.actor, batch.village_id, household.id, award_id, -points, version
                )
            except JifenError as error:
                raise _at(error, index, batch.many) from None
    elif version.review == Review.none.value:
        draft = award_draft(batch.accounts, household.id, version, item, award_id, points)
        batch.drafts.append(draft)
        batch.draft_item.append(index)
        transaction_id, status = draft.id, AwardStatus.posted
    # built from values just checked: not validated again (10,000 in a batch)
    award = AwardOut.model_construct(
        id=award_id,
        status=status,
        points=points,
        transaction_id=transaction_id,
        rule_id=version.rule_id,
        rule_version=version.version,
        created_at=batch.now,
        notice_until=batch.notice_until if status is AwardStatus.public_notice else None,
        photo_ids=list(dict.fromkeys(item.photo_ids)),
        self_report=batch.self_report,
        submitted_by=batch.actor.user_id,
        household_id=item.household_id,
        quantity=item.quantity,
        member_id=item.member_id,
        note=item.note,
        observed_at=item.observed_at,
    )
    return award, hold_id


async def _record_awards(
    session: AsyncSession,
    batch: _Submission,
    results: list[AwardOut],
    holds: list[uuid.UUID | None],
    batch_id: uuid.UUID | None,
) -> None:
    """The awards written in one statement (with the points holds behind them), their photos linked, and
    one audit record each."""
    created_at = await repository.insert_awards(
        session,
        {
            "village": batch.village_id,
            "batch": batch_id or (uuid.uuid4() if batch.many else None),
            "actor": batch.actor.user_id,
            **column_arrays(
                results,
                ids="id",
                households="household_id",
                rules="rule_id",
                versions="rule_version",
                quantities="quantity",
                points="points",
                members="member_id",
                notes="note",
                transactions="transaction_id",
                notice_until="notice_until",
                observed="observed_at",
            ),
            "statuses": [r.status.value for r in results],
            "created_at": batch.now,
            "holds": holds,
            "self_report": batch.self_report,
        },
    )
    for result in results:
        result.created_at = created_at
    linked = [(r.id, photo_id, position) for r in results for position, photo_id in enumerate(r.photo_ids)]
    if linked:
        await photos_repository.link_award_photos(
            session, batch.village_id, *(list(column) for column in zip(*linked, strict=True))
        )
    await audit.record_many(
        session,
        batch.actor,
        village_id=batch.village_id,
        action="award.submit",
        record_type="award",
        changes=[(r.id, None, _audit_of(r, batch.photos, batch.now)) for r in results],
    )


def _audit_of(result: AwardOut, photos: dict[uuid.UUID, str], received: datetime) -> dict[str, Any]:
    return {
        "household_id": result.household_id,
        "rule_id": result.rule_id,
        "rule_version": result.rule_version,
        "quantity": result.quantity,
        "points": result.points,
        "status": result.status,
        "transaction_id": result.transaction_id,
        "note": result.note,
        # the evidence by content hash: the chained audit trail pins the very bytes
        **({"photos": [photos[p] for p in result.photo_ids]} if result.photo_ids else {}),
        **({"self_report": True} if result.self_report else {}),
        # scored offline: when the deed was seen and when the server received it
        **({"observed_at": result.observed_at, "received_at": received} if result.observed_at else {}),
    }


# (household, rule, start of the local period counted in) → points or times
_Counts = dict[tuple[uuid.UUID, uuid.UUID, datetime], int]
_Pair = tuple[uuid.UUID, RuleSnapshot, datetime]  # household, rule, when the deed was seen


async def _per_period(
    session: AsyncSession,
    village_id: uuid.UUID,
    pairs: list[_Pair],
    period_of: Callable[[RuleSnapshot], str | None],
    counted: repository.Counted,
) -> _Counts:
    """What is `counted` for each (household, rule) pair in the rule's local period holding the moment the
    deed was seen, with the households locked first: one query per period (all of them now's, online)."""
    if not pairs:
        return {}
    await repository.lock_households(session, village_id, sorted({h for h, _, _ in pairs}))
    periods: dict[tuple[datetime, datetime], list[_Pair]] = defaultdict(list)
    for pair in pairs:
        kind = period_of(pair[1])
        if kind is not None:
            periods[window(kind, pair[2])].append(pair)
    found: _Counts = {}
    for period, in_period in periods.items():
        counts = await repository.counts_within(
            session,
            counted,
            village_id,
            sorted({h for h, _, _ in in_period}),
            sorted({rule.rule_id for _, rule, _ in in_period}),
            period,
        )
        found |= {(h, rule_id, period[0]): n for (h, rule_id), n in counts.items()}
    return found


def _pairs(
    items: Sequence[AwardItem],
    rules: dict[uuid.UUID, RuleSnapshot],
    wanted: Callable[[RuleSnapshot], object],
    now: datetime,
) -> list[_Pair]:
    """The (household, rule, moment seen) of each item whose rule is `wanted`."""
    return [
        (item.household_id, rules[item.rule_id], item.observed_at or now)
        for item in items
        if item.rule_id in rules and wanted(rules[item.rule_id])
    ]


async def _hold_for(
    session: AsyncSession,
    actor: Actor,
    village_id: uuid.UUID,
    household_id: uuid.UUID,
    award_id: uuid.UUID,
    amount: int,
    version: RuleSnapshot,
) -> uuid.UUID:
    hold = await ledger.place_hold(
        session,
        actor,
        ledger.HoldTerms(
            village_id=village_id,
            household_id=household_id,
            amount=amount,
            memo=f"公示中的扣分：{version.name}",
            source_type="award",
            source_id=award_id,
        ),
    )
    return hold.id


def award_draft(
    accounts: dict[AccountKind, uuid.UUID],
    household_id: uuid.UUID,
    version: RuleSnapshot,
    item: AwardItem,
    award_id: uuid.UUID,
    points: int,
) -> ledger.Draft:
    memo = version.name if item.quantity == 1 else f"{version.name} ×{item.quantity}"
    if points > 0:
        kind = TransactionKind.award
        lines = [
            ledger.Line(household_id, points, earned=points),
            ledger.Line(accounts[AccountKind.issuing], -points),
        ]
    else:
        kind = TransactionKind.deduction
        lines = [ledger.Line(household_id, points), ledger.Line(accounts[AccountKind.deductions], -points)]
    return ledger.Draft(
        kind=kind,
        lines=lines,
        memo=memo,
        rule_id=version.rule_id,
        rule_version=version.version,
        source_type="award",
        source_id=award_id,
    )


class AwardNotPending(Conflict, code="award_not_pending", detail="该评定不在待审核状态"): ...


class OwnSubmission(Forbidden, code="own_submission", detail="不能审核自己提交的评定"): ...


class AlreadyApproved(
    Conflict, code="already_approved", detail="您已经审核通过过这条评定，双人审核需要另一位审核人"
): ...


def rule_of(row: LockedAward) -> RuleSnapshot:
    """The rule version an award row was made under, as far as posting it needs."""
    return RuleSnapshot(
        rule_id=row.rule_id,
        village_id=row.village_id,
        code=row.rule_code,
        version=row.rule_version,
        name=row.rule_name,
        category="",
        points=row.rule_points,
        cap_count=None,
        cap_period=None,
        evidence_required=False,
        review=row.review,
        active=True,
    )


# the columns of an award's row that its result carries as they are (status and transaction are given)
_GIVEN = ("status", "transaction_id", "photo_ids")
_ROW_FIELDS = tuple(name for name in AwardOut.model_fields if name not in _GIVEN)


def result_of(row: AwardRow, status: str | None = None, transaction_id: uuid.UUID | None = None) -> AwardOut:
    return AwardOut.model_construct(
        status=AwardStatus(status or row.status),
        transaction_id=transaction_id or row.transaction_id,
        **{name: getattr(row, name) for name in _ROW_FIELDS},
    )


async def attach_photos(
    session: AsyncSession, village_id: uuid.UUID, results: Sequence[AwardOut]
) -> list[AwardOut]:
    """Fill in the evidence photos of awards of one village read back from the database."""
    if results:
        linked = await photos_repository.award_photo_ids(session, village_id, [r.id for r in results])
        for result in results:
            result.photo_ids = linked.get(result.id, [])
    return list(results)


async def decide(
    session: AsyncSession, actor: Actor, award_id: uuid.UUID, *, approve: bool, reason: str | None
) -> AwardOut:
    """Approve or reject an award waiting for review. A `double` rule needs two different approvers, neither
    the submitter; the last approval posts the points."""
    row = await repository.lock_award(session, award_id)
    if row is None:
        raise NotFound("找不到该评定")
    village_id = row.village_id
    if row.status != AwardStatus.pending_review.value:
        raise AwardNotPending(f"该评定当前状态为 {row.status}，不能再审核")
    if row.submitted_by == actor.user_id:
        raise OwnSubmission()
    if row.household_id in actor.household_ids():
        raise ConflictOfInterest("不能审核自己家庭的评定")
    if not approve:
        await repository.record_decision(session, village_id, award_id, "reject", actor.user_id, reason)
        await repository.set_status(session, village_id, award_id, AwardStatus.rejected.value)
        await audit.record(
            session,
            actor,
            village_id,
            "award.reject",
            award_id,
            before={"status": row.status},
            after={"status": "rejected"},
            reason=reason,
        )
        return result_of(row, AwardStatus.rejected.value)
    approvers = await repository.approvals(session, village_id, award_id)
    if actor.user_id in approvers:
        raise AlreadyApproved()
    await repository.record_decision(session, village_id, award_id, "approve", actor.user_id, reason)
    needed = 2 if row.review == Review.double.value else 1
    status, transaction_id = AwardStatus.pending_review, None
    notice_days = await repository.notice_days(session, village_id)
    if len(approvers) + 1 >= needed and notice_days:
        status = AwardStatus.public_notice
        hold_id = None
        if row.points < 0:
            rule_for_hold = rule_of(row)
            hold_id = await _hold_for(
                session, actor, village_id, row.household_id, award_id, -row.points, rule_for_hold
            )
        notice_until = utcnow() + timedelta(days=notice_days)
        await repository.start_notice(session, village_id, award_id, notice_until, hold_id)
    elif len(approvers) + 1 >= needed:
        accounts = await ledger.system_accounts(session, village_id)
        rule = rule_of(row)
        item = AwardItem(household_id=row.household_id, rule_id=row.rule_id, quantity=row.quantity)
        draft = award_draft(accounts, row.household_id, rule, item, award_id, row.points)
        await ledger.post(session, actor, village_id, [draft])
        status, transaction_id = AwardStatus.posted, draft.id
        await repository.set_status(session, village_id, award_id, status.value, transaction_id)
    await audit.record(
        session,
        actor,
        village_id,
        "award.approve",
        award_id,
        before={"status": row.status, "approvals": len(approvers)},
        after={"status": status, "approvals": len(approvers) + 1, "transaction_id": transaction_id},
        reason=reason,
    )
    decided = result_of(row, status.value, transaction_id)
    if status is AwardStatus.public_notice:
        decided.notice_until = notice_until
    event = award_event(decided, row.rule_name)
    if event is not None:
        await outbox.record_one(session, village_id, event)
    return decided


class NotRectifiable(Conflict, code="not_rectifiable", detail="该评定不能整改返还"): ...


class AlreadyRectified(Conflict, code="already_rectified", detail="该扣分已经整改返还过"): ...


async def compensate_award(
    session: AsyncSession,
    actor: Actor,
    row: LockedAward,
    *,
    kind: TransactionKind,
    compensation: ledger.CompensationKind,
    amount: int,
    earned: int,
    counter: AccountKind,
    memo: str,
    reason: str | None = None,
    same_path: type[JifenError] | None = None,
) -> ledger.Draft:
    """The posted award's one compensation (a rectification, an objection's revision or revocation):
    `amount` to the household (adding `earned` to what it earned), the opposite to the village's `counter`
    account; claimed on the award's transaction, for the caller to post next in the same transaction."""
    accounts = await ledger.system_accounts(session, row.village_id)
    draft = ledger.Draft(
        kind=kind,
        lines=[
            ledger.Line(row.household_id, amount, earned=earned),
            ledger.Line(accounts[counter], -amount),
        ],
        memo=memo,
        rule_id=row.rule_id,
        rule_version=row.rule_version,
        source_type="award",
        source_id=row.id,
        reason=reason,
    )
    await ledger.claim(
        session,
        actor,
        row.village_id,
        source_id=row.posting,
        draft=draft,
        kind=compensation,
        amount=amount,
        same_path=same_path,
    )
    return draft


async def rectify(session: AsyncSession, actor: Actor, award_id: uuid.UUID, *, note: str | None) -> uuid.UUID:
    """整改: the household fixed the problem behind a posted deduction; the rule's share of it comes back as
    a new rectification transaction linked to the award. Once, and only while nothing else compensated the
    deduction (a reversal, an objection's revision); a reversal may follow it for what is left."""
    row = await repository.lock_award(session, award_id)
    if row is None:
        raise NotFound("找不到该评定")
    village_id, household_id = row.village_id, row.household_id
    if household_id in actor.household_ids():
        raise ConflictOfInterest("不能为自己家庭登记整改")
    share = await repository.rectification_share(session, village_id, row.rule_id, row.rule_version)
    if row.status != AwardStatus.posted.value or row.points >= 0 or not share:
        raise NotRectifiable("只有已入账、且细则规定了整改返还比例的扣分才能整改返还")
    compensated = await ledger_repository.compensations_of(session, village_id, row.posting)
    if any(c.kind == ledger.CompensationKind.rectification.value for c in compensated):
        raise AlreadyRectified()
    if compensated:
        raise ledger.already_compensated(compensated[0].kind, what="该扣分")
    amount = -row.points * share // 100
    if amount < 1:
        raise NotRectifiable("按返还比例计算的返还积分不足 1 分")
    draft = await compensate_award(
        session,
        actor,
        row,
        kind=TransactionKind.rectification,
        compensation=ledger.CompensationKind.rectification,
        amount=amount,
        earned=amount,
        counter=AccountKind.deductions,
        memo=f"整改返还 {share}%：{row.rule_name}",
        same_path=AlreadyRectified,
    )
    with unique_or(AlreadyRectified(), "uq_ledger_transactions_rectification"):
        await ledger.post(session, actor, village_id, [draft])
    await audit.record(
        session,
        actor,
        village_id,
        "award.rectify",
        award_id,
        after={"transaction_id": draft.id, "points": amount, "share": share, "note": note},
    )
    return draft.id


async def award_page(
    session: AsyncSession,
    village_id: uuid.UUID,
    status: AwardStatus | None,
    cursor: str | None,
    limit: int,
    *,
    self_report: bool | None,
    household_id: uuid.UUID | None,
    grids: frozenset[str] | None = None,
) -> Page[AwardOut]:
    rows = await repository.village_awards(
        session,
        village_id,
        status.value if status else None,
        limit + 1,
        BY_TIME_ID.after(cursor),
        self_report=self_report,
        household_id=household_id,
        grids=grids,
    )
    page = BY_TIME_ID.page(rows, limit, lambda row: (row.created_at, row.id))
    results = await attach_photos(session, village_id, [result_of(row) for row in page.items])
    return Page(items=results, next_cursor=page.next_cursor)
