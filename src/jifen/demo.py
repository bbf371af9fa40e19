"""The demo village `make run` serves: households in three grids, a store, and a user for every role.

Each feature adds its part here, so a fresh `make run` always shows all of jifen working together.
"""

from __future__ import annotations

import io
import random
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from jifen.auth.actor import Actor, console_actor
from jifen.households.schemas import MemberIn
from jifen.households.service import create_household
from jifen.models import Household, Period, Review, Role, Store, Village
from jifen.notify import repository as notify_repository
from jifen.notify.repository import NewChannel
from jifen.rules import repository as rules_repository
from jifen.store.service import create_store
from jifen.users.schemas import RoleGrantIn
from jifen.users.service import create_user
from jifen.villages import repository as villages_repository
from jifen.villages.service import create_village

DEMO_PASSWORD = "jifen2026"
GRIDS = ("第一网格", "第二网格", "第三网格")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗郑梁谢宋唐许韩冯邓曹彭"
GIVEN = ("建国", "秀英", "桂兰", "志强", "海燕", "德明", "玉梅", "国庆", "春花", "永福", "丽华", "振华")
LANES = ("东巷", "西巷", "南街", "北街", "村口")


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    note: str


DEMO_LOGINS = (
    DemoLogin("town", "town_admin", "镇管理员：所有村"),
    DemoLogin("admin", "village_admin", "村管理员：幸福村"),
    DemoLogin("cadre", "cadre", "网格员：幸福村第一网格"),
    DemoLogin("reviewer", "reviewer", "审核人：幸福村"),
    DemoLogin("clerk", "clerk", "店员：幸福村积分超市"),
    DemoLogin("villager", "villager", "村民：XF-001 户"),
)

_SYSTEM = console_actor("demo")


async def is_empty(session: AsyncSession) -> bool:
    return not await villages_repository.any_village(session)


async def load_demo(session: AsyncSession, *, seed: int = 2026, data_dir: Path | None = None) -> Village:
    """The demo village; its photos go under `data_dir` (default: the settings' data directory)."""
    if data_dir is None:
        from jifen.settings import get_settings

        data_dir = get_settings().data_dir
    rng = random.Random(seed)
    village = await create_village(session, _SYSTEM, code="XF", name="幸福村")
    store = await create_store(session, _SYSTEM, village, name="幸福村积分超市")
    demo_hook = await _load_channels(session, village)
    households: list[Household] = []
    for number in range(1, 31):
        surname = SURNAMES[number - 1]
        head = surname + rng.choice(GIVEN)
        others = rng.sample([g for g in GIVEN if surname + g != head], rng.randrange(1, 4))
        members = [MemberIn(name=head, phone=f"138{rng.randrange(10**8):08d}")]
        members += [MemberIn(name=surname + given) for given in others]
        households.append(
            await create_household(
                session,
                _SYSTEM,
                village,
                code=f"XF-{number:03d}",
                head_name=head,
                grid=GRIDS[(number - 1) // 10],
                address=f"幸福村{rng.choice(LANES)}{number}号",
                members=members,
            )
        )
    grants = {
        "town": [RoleGrantIn(role=Role.town_admin)],
        "admin": [RoleGrantIn(role=Role.village_admin, village_id=village.id)],
        "cadre": [RoleGrantIn(role=Role.cadre, village_id=village.id, grid=GRIDS[0])],
        "reviewer": [RoleGrantIn(role=Role.reviewer, village_id=village.id)],
        "clerk": [RoleGrantIn(role=Role.clerk, village_id=village.id, store_id=store.id)],
        "villager": [RoleGrantIn(role=Role.villager, village_id=village.id, household_id=households[0].id)],
    }
    await _load_rules_and_points(session, village, households, rng, data_dir)
    names = {
        "town": "镇管理员",
        "admin": "村管理员",
        "cadre": "网格员小李",
        "reviewer": "审核人老张",
        "clerk": "店员小王",
        "villager": households[0].head_name,
    }
    users = {}
    for username, roles in grants.items():
        users[username] = await create_user(
            session,
            _SYSTEM,
            username=username,
            password=DEMO_PASSWORD,
            display_name=names[username],
            roles=roles,
        )
    await _load_inspections(session, village, households, rng)
    await _load_self_reports(
        session, village, households, users["villager"].id, users["reviewer"].id, data_dir
    )
    await _load_public_notice(session, village, households, users["villager"].id)
    await _load_store(session, store, households)
    await _load_funding(session, village, store)
    await _load_expiry(session, village)
    await _load_notices(session, village, households, demo_hook)
    return village


async def _load_channels(session: AsyncSession, village: Village) -> uuid.UUID:
    """Before anything happens: an SMS channel that only pretends to send (provider `fake`), whose
    deliveries the server's background loop completes, and a webhook to a receiver that is not there."""
    sms = {"provider": "fake", "template_code": "SMS_DEMO"}
    channels = [
        NewChannel("sms", "演示短信（不真发送）", "https://dysmsapi.aliyuncs.com/", "demo", sms),
        NewChannel(
            "webhook", "村务群机器人（演示）", "http://127.0.0.1:9/jifen-demo", "demo-webhook-0123456789", {}
        ),
    ]
    rows = [
        await notify_repository.insert_channel(session, village.id, c, actor_id=_SYSTEM.user_id)
        for c in channels
    ]
    return rows[-1].id


async def _load_notices(
    session: AsyncSession, village: Village, households: list[Household], hook_id: uuid.UUID
) -> None:
    """The first twenty households let their head receive SMS; the demo webhook, whose receiver never
    answered, is switched off with five of its notices in the dead-letter view (立即重试 on /admin/notify)."""
    for household in households[:20]:
        members = await notify_repository.member_phones(session, village.id, household.id)
        await notify_repository.set_sms(session, village.id, household.id, True, [members[0].id])
    await notify_repository.give_up(
        session, village.id, hook_id, 5, "ConnectError: 无法连接 127.0.0.1:9（演示用的接收地址，并不存在）"
    )
    await notify_repository.set_enabled(session, village.id, hook_id, "webhook", False)


async def _load_expiry(session: AsyncSession, village: Village) -> None:
    """清零: a yearly clearing at the end of 12-31 that carries up to 50 points over, so the preview
    (GET /villages/{id}/expiry/preview) names the households above 50 and what they lose."""
    from jifen.expiry.policy import ExpiryMode
    from jifen.expiry.service import PolicyChange, set_policy

    await set_policy(
        session,
        _SYSTEM,
        village.id,
        PolicyChange(mode=ExpiryMode.yearly, clearing_date="12-31", carry_over_cap=50),
        reason="村民代表大会通过：每年 12 月 31 日清零，最多结转 50 分",
    )


DEMO_RULES = (
    # code, name, category, points, review
    ("MQSB", "门前三包达标", "人居环境", 15, "none"),
    ("MLTY", "美丽庭院", "人居环境", 20, "none"),
    ("LJFL", "垃圾分类", "人居环境", 10, "none"),
    ("ZYFW", "志愿服务", "公益服务", 10, "none"),
    ("YDLH", "参加月度例会", "村务参与", 5, "none"),
    ("WHJT", "五好家庭", "文明家风", 50, "single"),
    ("JQSY", "家禽散养", "人居环境", -8, "none"),
    ("LDLF", "乱堆乱放", "六乱整治", -5, "none"),
)


async def _load_rules_and_points(
    session: AsyncSession, village: Village, households: list[Household], rng: random.Random, data_dir: Path
) -> None:
    """The village's rules (积分细则) and a few months of awards and deductions, one of them reversed."""
    from jifen.awards.auth import Submission
    from jifen.awards.repository import HouseholdRef
    from jifen.awards.schemas import AwardItem
    from jifen.awards.service import submit
    from jifen.ledger import repository as ledger_repository
    from jifen.ledger.service import reverse
    from jifen.rules.schemas import Cap, RuleCreate
    from jifen.rules.service import add_rule

    rules = {}
    for code, name, category, points, review in DEMO_RULES:
        cap = Cap(count=100, period=Period.month) if points > 0 and review == "none" else None
        created = await add_rule(
            session,
            _SYSTEM,
            village,
            RuleCreate(
                code=code,
                name=name,
                category=category,
                points=points,
                cap=cap,
                evidence_required=review != "none",
                review=Review(review),
                rectification_share=50 if code == "JQSY" else None,
            ),
        )
        rules[code] = created.rule.id
    refs = {h.id: HouseholdRef(id=h.id, village_id=village.id, code=h.code, grid=h.grid) for h in households}
    submission = Submission(actor=_SYSTEM, village_id=village.id, households=refs)
    # three monthly inspections: everyone scored on frontage, some on courtyard, sorting and volunteering
    for _month in range(3):
        scored = [h for h in households if rng.random() < 0.85]
        items = [AwardItem(household_id=h.id, rule_id=rules["MQSB"]) for h in scored]
        items += [
            AwardItem(household_id=h.id, rule_id=rules["YDLH"]) for h in households if rng.random() < 0.6
        ]
        items += [
            AwardItem(household_id=h.id, rule_id=rules[rng.choice(["MLTY", "LJFL", "ZYFW"])])
            for h in households
            if rng.random() < 0.5
        ]
        await submit(session, _SYSTEM, submission, items)
        deductions = [
            AwardItem(household_id=h.id, rule_id=rules[rng.choice(["JQSY", "LDLF"])], note="网格巡查发现")
            for h in scored  # a deduction never exceeds what the month's frontage award gave
            if rng.random() < 0.15
        ]
        if deductions:
            await submit(session, _SYSTEM, submission, deductions)
    # a model-family nomination (with its photo, as the rule requires) waiting for review, and a mistaken
    # award corrected by reversal
    photo = await demo_photo(session, _SYSTEM, village, data_dir, "五好家庭")
    await submit(
        session,
        _SYSTEM,
        submission,
        [AwardItem(household_id=households[2].id, rule_id=rules["WHJT"], photo_ids=[photo])],
    )
    [mistake] = await submit(
        session, _SYSTEM, submission, [AwardItem(household_id=households[5].id, rule_id=rules["ZYFW"])]
    )
    assert mistake.transaction_id is not None
    transaction = await ledger_repository.get_transaction(session, mistake.transaction_id)
    assert transaction is not None
    await reverse(session, _SYSTEM, transaction, reason="录入错户，已更正")


DEMO_ITEMS = (
    # name, unit, category, price, stock, limit per household
    ("香皂", "块", "日用品", 5, 120, None),
    ("洗衣粉", "袋", "日用品", 15, 60, None),
    ("大米", "袋", "粮油", 50, 30, (2, "month")),
    ("食用油", "桶", "粮油", 85, 20, (1, "month")),
)


async def _load_store(session: AsyncSession, store: Store, households: list[Household]) -> None:
    """The store's catalogue, a few sales at the counter and one cancelled sale."""
    from jifen.ledger import service as ledger_service
    from jifen.store import service as store_service
    from jifen.store.repository import HouseholdRef as StoreHouseholdRef
    from jifen.store.schemas import ItemCreate, ItemLimit, RedemptionLineIn

    items = []
    for name, unit, category, price, stock, limit in DEMO_ITEMS:
        items.append(
            await store_service.create_item(
                session,
                _SYSTEM,
                store,
                ItemCreate(
                    name=name,
                    unit=unit,
                    category=category,
                    price_points=price,
                    stock=stock,
                    limit=ItemLimit(count=limit[0], period=Period(limit[1])) if limit else None,
                ),
            )
        )
    soap, powder, rice, oil = items
    sales = []
    for household, basket in zip(
        households[:8],
        ([oil], [rice, soap], [powder, soap], [rice], [soap], [powder], [oil], [soap]),
        strict=True,
    ):
        total = sum(item.price_points for item in basket)
        if (await ledger_service.balance(session, household.id)).available < total:
            continue  # only households with enough points buy
        sales.append(
            await store_service.redeem(
                session,
                _SYSTEM,
                store,
                StoreHouseholdRef(id=household.id, village_id=household.village_id, code=household.code),
                [RedemptionLineIn(item_id=item.id, quantity=1) for item in basket],
            )
        )
    if sales:
        await store_service.cancel(
            session, _SYSTEM, store, sales[-1].id, reason="顾客想换别的商品", as_admin=True
        )


async def _load_funding(session: AsyncSession, village: Village, store: Store) -> None:
    """The store's money: a peg of ¥1 a point, funds from the collective, a donor company and the town (one
    mistaken entry voided), and last month paid to the store (the goods redeemed under the paper passbook
    before jifen, so its report in jifen is empty and the payment says so)."""
    from datetime import timedelta

    from jifen.funding import service as funding
    from jifen.funding.schemas import FundCreate, FundSource
    from jifen.kit.periods import local_today, parse_period

    await funding.set_peg(
        session,
        _SYSTEM,
        village,
        fen_per_point=100,
        effective_from=None,
        reason="村民代表大会决议：1 积分折 1 元",
    )
    today = local_today()
    for source, name, yuan, days_ago, note in (
        (FundSource.collective, "幸福村股份经济合作社", 3_000, 80, "集体经济收益划拨"),
        (FundSource.donor, "富民农业发展有限公司", 2_000, 45, "乡贤企业捐赠"),
        (FundSource.town, "幸福镇人民政府", 1_500, 12, "人居环境整治奖补"),
    ):
        await funding.record_fund(
            session,
            _SYSTEM,
            village,
            FundCreate(
                source=source,
                source_name=name,
                amount_fen=yuan * 100,
                received_on=today - timedelta(days=days_ago),
                note=note,
            ),
        )
    mistake = await funding.record_fund(
        session,
        _SYSTEM,
        village,
        FundCreate(
            source=FundSource.town,
            source_name="幸福镇人民政府",
            amount_fen=150_000,
            received_on=today - timedelta(days=12),
        ),
    )
    await funding.void_fund(session, _SYSTEM, village.id, mistake.id, reason="重复录入，与前一笔为同一笔拨款")
    first_of_month = today.replace(day=1)
    last_month = parse_period(f"{first_of_month - timedelta(days=1):%Y-%m}")
    await funding.settle(
        session,
        _SYSTEM,
        store,
        last_month,
        amount_fen=62_000,
        note="系统启用前纸质积分存折的兑换货款，已转账",
    )


async def _load_public_notice(
    session: AsyncSession, village: Village, households: list[Household], villager_id: uuid.UUID
) -> None:
    """From now on results wait three days on the notice board (公示): one award is there, objected to."""
    from jifen.auth.actor import Actor, Grant
    from jifen.awards.auth import Submission
    from jifen.awards.notice import object_to
    from jifen.awards.repository import HouseholdRef
    from jifen.awards.schemas import AwardItem
    from jifen.awards.service import submit
    from jifen.villages.service import change_settings

    await change_settings(session, _SYSTEM, village, changes={"notice_days": 3})
    courtyard = (await rules_repository.ids_by_code(session, village.id, ["MLTY"]))["MLTY"]
    target = households[3]
    ref = HouseholdRef(id=target.id, village_id=village.id, code=target.code, grid=target.grid)
    [noticed] = await submit(
        session,
        _SYSTEM,
        Submission(actor=_SYSTEM, village_id=village.id, households={target.id: ref}),
        [AwardItem(household_id=target.id, rule_id=courtyard, note="美丽庭院评比")],
    )
    villager = Actor(
        user_id=villager_id,
        username="villager",
        display_name="村民",
        grants=(Grant(Role.villager, village_id=village.id, household_id=households[0].id),),
    )
    await object_to(session, villager, noticed.id, reason="他家院子里还堆着杂物，请再看看")


async def _load_inspections(
    session: AsyncSession, village: Village, households: list[Household], rng: random.Random
) -> None:
    """This month's grid inspections: one sheet per grid, three judges, submitted."""
    from jifen.awards.inspections import open_sheet, submit_sheet
    from jifen.awards.schemas import AwardItem
    from jifen.kit.timeutil import to_local, utcnow

    rules = await rules_repository.ids_by_code(session, village.id, ["MQSB", "LJFL"])
    today = to_local(utcnow()).date()
    for grid in GRIDS:
        sheet = await open_sheet(
            session,
            _SYSTEM,
            village.id,
            grid=grid,
            inspected_on=today,
            rule_ids=[rules["MQSB"], rules["LJFL"]],
            judges=["网格员小李", "村民代表老赵", "妇女主任王姐"],
        )
        scores = [
            AwardItem(household_id=h.id, rule_id=rules[code])
            for h in sheet.households
            for code in ("MQSB", "LJFL")
            if rng.random() < 0.8
        ]
        await submit_sheet(session, _SYSTEM, sheet.id, scores)


def demo_png(label: str, colour: tuple[int, int, int] = (88, 160, 96)) -> bytes:
    """A small photo-like PNG made in memory (a courtyard of coloured blocks; the label picks the layout)."""
    from PIL import Image, ImageDraw

    rng = random.Random(label)
    image = Image.new("RGB", (320, 240), colour)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 150, 320, 240), fill=(150, 120, 90))  # the ground
    for _ in range(6):
        x, y = rng.randrange(0, 280), rng.randrange(60, 180)
        shade = tuple(rng.randrange(60, 230) for _ in range(3))
        draw.rectangle((x, y, x + rng.randrange(20, 60), y + rng.randrange(20, 50)), fill=shade)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


async def demo_photo(
    session: AsyncSession, actor: Actor, village: Village, data_dir: Path, label: str
) -> uuid.UUID:
    from jifen.photos.service import upload_photo

    photo = await upload_photo(
        session, actor, village.id, data=demo_png(label), data_dir=data_dir, max_bytes=8 * 1024 * 1024
    )
    return photo.id


DEMO_STAR_THRESHOLDS = [50, 70, 85, 95, 120]


async def _load_self_reports(
    session: AsyncSession,
    village: Village,
    households: list[Household],
    villager_id: uuid.UUID,
    reviewer_id: uuid.UUID,
    data_dir: Path,
) -> None:
    """自主申报: the demo villager reported two good deeds with a photo; the reviewer approved one, the other
    waits in the review queue. And the village's star thresholds (星级文明户) for the year."""
    from jifen.auth.actor import Grant
    from jifen.awards.repository import HouseholdRef
    from jifen.awards.schemas import SelfReportCreate
    from jifen.awards.self_reports import file_self_report
    from jifen.awards.service import decide
    from jifen.villages.service import change_settings

    home = households[0]
    villager = Actor(
        user_id=villager_id,
        username="villager",
        display_name=home.head_name,
        grants=(Grant(Role.villager, village_id=village.id, household_id=home.id),),
    )
    reviewer = Actor(
        user_id=reviewer_id,
        username="reviewer",
        display_name="审核人老张",
        grants=(Grant(Role.reviewer, village_id=village.id),),
    )
    rules = await rules_repository.ids_by_code(session, village.id, ["ZYFW", "LJFL"])
    ref = HouseholdRef(id=home.id, village_id=village.id, code=home.code, grid=home.grid)
    reports = (
        ("ZYFW", "周六参加村里组织的河道清理志愿活动", "志愿服务"),
        ("LJFL", "家里按要求做好了垃圾分类，请网格员核实", "垃圾分类"),
    )
    filed = []
    for code, note, label in reports:
        photo = await demo_photo(session, villager, village, data_dir, label)
        report = SelfReportCreate(rule_id=rules[code], note=note, photo_ids=[photo])
        filed.append(await file_self_report(session, villager, ref, report))
    await decide(session, reviewer, filed[0].id, approve=True, reason="照片清楚，情况属实")
    await change_settings(session, _SYSTEM, village, changes={"star_thresholds": DEMO_STAR_THRESHOLDS})
