"""The villager's pages: the household's points first, its history, the store, reporting a good deed, and a
printable household card for family members without a phone.

Each page is an ordinary route on the services: the actor from the session cookie through the API's access
checks, the same service functions, one transaction committed before the answer.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from starlette.datastructures import UploadFile

from jifen.auth.households import HouseholdAccess, read_household, read_household_history
from jifen.awards import self_reports
from jifen.awards import service as awards
from jifen.awards.auth import HouseholdVillager, self_reporter
from jifen.awards.schemas import AwardOut, SelfReportCreate
from jifen.expiry import service as expiry
from jifen.funding import qr
from jifen.households import service as households
from jifen.households.schemas import HouseholdOut
from jifen.kit.db import PageRoute
from jifen.kit.errors import JifenError, NotFound
from jifen.kit.idempotency import request_fingerprint, run_once
from jifen.kit.limits import BodyLimit, body_limit, size_text
from jifen.kit.periods import this_month
from jifen.ledger import service as ledger
from jifen.models import VillageView
from jifen.photos import service as photos
from jifen.photos.auth import photo_reader, photo_uploader
from jifen.photos.endpoints import MULTIPART_OVERHEAD, photo_file, read_limited
from jifen.rankings import service as rankings
from jifen.rules import service as rules
from jifen.rules.auth import village_user
from jifen.settings import Settings
from jifen.store import reservations
from jifen.store import service as store_service
from jifen.store.auth import reservation_reader, reserver
from jifen.store.schemas import ReservationCreate, ReservationOut
from jifen.town.charts import household_chart
from jifen.web.context import CurrentPage, PageContext, PageRefused, go, parse

router = APIRouter(include_in_schema=False, route_class=PageRoute)


async def _household(page: PageContext, *, history: bool = False) -> HouseholdAccess:
    """The villager's own household, read through the API's own check."""
    page.need("villager")
    household_id = page.household_id
    if household_id is None:
        raise PageRefused(404, "您的账号还没有绑定农户，请联系村管理员")
    reader = read_household_history if history else read_household
    return await reader(household_id, page.actor, page.session)


@functools.lru_cache(maxsize=4096)
def qr_svg(text: str, title: str, scale: int = 6) -> Markup:
    """A QR code as inline SVG (no image request, prints sharp), named for screen readers. Drawing one takes
    milliseconds and a household's code never changes: each is drawn once per process."""
    return Markup(qr.qr_svg(text, scale=scale, inline=True, title=title))


async def _rank(page: PageContext, household_id: uuid.UUID) -> dict[str, int] | None:
    ranked = await rankings.ranking(page.session, page.village_id, rankings.parse_period(this_month()), None)
    for entry in ranked:
        if entry.household_id == household_id:
            return {"rank": entry.rank, "of": len(ranked), "points": entry.points}
    return None


@router.get("/me", response_class=HTMLResponse)
async def me(page: CurrentPage) -> Response:
    access = await _household(page, history=True)
    household = await households.household_out(page.session, access)
    entries = await ledger.entries_page(page.session, access.household, None, 5)
    reserved = await reservations.household_reservations_page(page.session, access, None, 5)
    expiring = await expiry.household_expiring(
        page.session, access.household, None, available=household.balance.available
    )
    return page.render(
        "me.html",
        title="我的积分",
        household=household,
        balance=household.balance,
        rank=await _rank(page, access.household.id),
        month=this_month(),
        entries=entries.items,
        reservations=[r for r in reserved.items if r.status == "active"],
        expiring=expiring.expiring[:2],
        charts=[await household_chart(page.session, access.household.village_id, access.household.id)],
    )


@router.get("/me/history", response_class=HTMLResponse)
async def history(page: CurrentPage, cursor: str | None = None) -> Response:
    access = await _household(page, history=True)
    entries = await ledger.entries_page(page.session, access.household, cursor, 30)
    return page.render("history.html", title="积分明细", listed=entries)


async def _store_page(
    page: PageContext, access: HouseholdAccess, *, status: int = 200, errors: dict[str, str] | None = None
) -> Response:
    catalogue = []
    for store in await store_service.list_stores(page.session, access.household.village_id):
        if store.active:
            items = await store_service.list_items(
                page.session, store, after=None, limit=200, active_only=True
            )
            catalogue.append({"store": store, "items": items})
    return page.render(
        "store.html",
        status=status,
        title="积分超市",
        catalogue=catalogue,
        balance=await ledger.balance(page.session, access.household.id),
        errors=errors or {},
    )


async def _village(page: PageContext) -> VillageView:
    """The page's village, through the API's check for anyone of the village."""
    return (await village_user(page.village_id, page.actor, page.session)).village


@router.get("/me/store", response_class=HTMLResponse)
async def store(page: CurrentPage) -> Response:
    return await _store_page(page, await _household(page))


@router.post("/me/store/reserve", response_class=HTMLResponse)
async def reserve(page: CurrentPage) -> Response:
    access = await _household(page)
    item_id = page.field("item_id")
    body, _ = parse(
        ReservationCreate,
        {
            "store_id": page.field("store_id"),
            "household_id": access.household.id,
            "lines": [{"item_id": item_id, "quantity": 1}],
        },
    )
    if body is None:
        return await _store_page(page, access, status=422, errors={item_id: "请从列表中选择要兑换的商品"})
    try:
        reserving = await reserver(body, page.actor, page.session)
        made = await run_once(
            page.session,
            village_id=reserving.store.village_id,
            key=page.caller_key(),
            fingerprint=request_fingerprint(page.request, body),
            model=ReservationOut,
            produce=lambda: reservations.reserve(
                page.session, reserving.actor, reserving.store, reserving.household_id, body.lines
            ),
        )
    except JifenError as refused:
        await page.undo()
        return await _store_page(
            page, access, status=409 if refused.status == 409 else 422, errors={item_id: refused.detail}
        )
    return go(f"/me/reservations/{made.id}")


@router.get("/me/reservations/{reservation_id}", response_class=HTMLResponse)
async def reservation(page: CurrentPage, reservation_id: uuid.UUID) -> Response:
    page.need("villager")
    access = await reservation_reader(reservation_id, page.actor, page.session)
    found = reservations.without_code(
        await reservations.reservation_out(page.session, access.reservation), access.sees_pickup_code
    )
    qr_payload = found.qr_payload or ""
    return page.render(
        "reservation.html", title="预约兑换", r=found, qr=qr_svg(qr_payload, "到柜台扫描的二维码")
    )


@router.get("/me/card", response_class=HTMLResponse)
async def card(page: CurrentPage) -> Response:
    access = await _household(page)
    household = await households.household_out(page.session, access)
    return page.render(
        "card.html", title="户卡", household=household, qr=qr_svg(household.code, "户卡二维码", scale=8)
    )


async def _report_page(
    page: PageContext,
    household: HouseholdOut | HouseholdAccess,
    *,
    status: int = 200,
    **extra: Any,
) -> Response:
    household_id = household.household.id if isinstance(household, HouseholdAccess) else household.id
    village = await _village(page)
    all_rules = await rules.rules_out(page.session, village)
    mine = await awards.award_page(
        page.session, village.id, None, None, 20, self_report=True, household_id=household_id
    )
    return page.render_form(
        "report.html",
        status=status,
        title="申报加分",
        rules=[r for r in all_rules if r.active and r.points > 0],
        reports=mine.items,
        rule_names={str(r.id): r.name for r in all_rules},
        **extra,
    )


@router.get("/me/report", response_class=HTMLResponse)
async def report_form(page: CurrentPage, done: str | None = None) -> Response:
    access = await _household(page)
    return await _report_page(page, access, flash="申报已提交，审核通过后会公示并入账" if done else None)


MAX_PHOTOS = 3


def report_limit(settings: Settings) -> BodyLimit:
    """A note and up to MAX_PHOTOS photos, each within the photo limit."""
    limit = MAX_PHOTOS * settings.upload_max_bytes + MULTIPART_OVERHEAD
    return BodyLimit(
        limit,
        f"提交的内容太大：最多 {MAX_PHOTOS} 张照片，每张不能超过 {size_text(settings.upload_max_bytes)}",
    )


def _report_values(page: PageContext) -> tuple[dict[str, str], dict[str, str], list[UploadFile]]:
    values = {k: page.field(k) for k in ("rule_id", "note")}
    errors: dict[str, str] = {}
    if not values["rule_id"]:
        errors["rule_id"] = "请选择申报的事项"
    if not values["note"].strip():
        errors["note"] = "请简单写一下做了什么好事"
    form = page.form
    uploads = [f for f in form.getlist("photos") if isinstance(f, UploadFile) and f.filename] if form else []
    if len(uploads) > MAX_PHOTOS:
        errors["photos"] = f"最多上传 {MAX_PHOTOS} 张照片"
    return values, errors, uploads


async def _read_photos(page: PageContext, uploads: list[UploadFile]) -> list[tuple[str, bytes]]:
    limit = page.request.app.state.settings.upload_max_bytes
    read = []
    for upload in uploads:
        try:
            read.append((upload.filename or "", await read_limited(upload, limit)))
        except JifenError as refused:
            raise PhotoRefused(f"照片“{upload.filename}”：{refused.detail}") from refused
    return read


async def _store_photos(page: PageContext, files: list[tuple[str, bytes]]) -> list[uuid.UUID]:
    """The report's photos, in the page's transaction: refused with the report, kept with it."""
    settings: Settings = page.request.app.state.settings
    uploader = await photo_uploader(page.village_id, page.actor, page.session)
    stored = []
    for name, data in files:
        try:
            photo = await photos.upload_photo(
                page.session,
                uploader.actor,
                uploader.village.id,
                data=data,
                data_dir=settings.data_dir,
                max_bytes=settings.upload_max_bytes,
            )
        except JifenError as refused:
            raise PhotoRefused(f"照片“{name}”：{refused.detail}") from refused
        stored.append(photo.id)
    return stored


def _report_fingerprint(values: dict[str, str], files: list[tuple[str, bytes]]) -> str:
    """The report as the villager sent it (the photos by their bytes), so a double tap is the same report."""
    digest = hashlib.sha256(f"POST /me/report\n{values['rule_id']}\n{values['note'].strip()}".encode())
    for _, data in files:
        digest.update(hashlib.sha256(data).digest())
    return digest.hexdigest()


class PhotoRefused(Exception):
    def __init__(self, message: str) -> None:
        self.message = message


@router.post("/me/report", response_class=HTMLResponse)
@body_limit(report_limit)
async def report(page: CurrentPage) -> Response:
    """A good deed reported with a note and photos, all in one transaction: the photos are kept only with
    the report they belong to."""
    access = await _household(page)
    values, errors, uploads = _report_values(page)
    if errors:
        return await _report_page(page, access, status=422, errors=errors, values=values)
    try:
        files = await _read_photos(page, uploads)
        reporter = await self_reporter(access.household.id, page.actor, page.session)
        await run_once(
            page.session,
            village_id=access.household.village_id,
            key=page.caller_key(),
            fingerprint=_report_fingerprint(values, files),
            model=AwardOut,
            produce=lambda: _file_report(page, reporter, values, files),
        )
    except (JifenError, PhotoRefused, _Invalid) as refused:
        await page.undo()  # nothing of the report stays, its photos included
        status, errors, problem = _report_refusal(refused, errors)
        return await _report_page(page, access, status=status, errors=errors, values=values, problem=problem)
    return go("/me/report?done=1")


class _Invalid(Exception):
    """The form did not make a valid report (the field errors say why)."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors


async def _file_report(
    page: PageContext, reporter: HouseholdVillager, values: dict[str, str], files: list[tuple[str, bytes]]
) -> AwardOut:
    """The photos, then the report that names them: one transaction, so both or neither."""
    photo_ids = await _store_photos(page, files)
    fields = {"rule_id": values["rule_id"], "note": values["note"].strip(), "photo_ids": photo_ids}
    body, errors = parse(SelfReportCreate, fields)
    if body is None:
        raise _Invalid(errors)
    filed = await self_reports.file_self_report(page.session, reporter.actor, reporter.household, body)
    return filed


def _report_refusal(refused: Exception, errors: dict[str, str]) -> tuple[int, dict[str, str], str | None]:
    """How a refused report shows: its status, errors next to their fields, or a problem above the form."""
    if isinstance(refused, PhotoRefused):
        return 422, {"photos": refused.message}, None
    if isinstance(refused, JifenError):
        if refused.code in ("evidence_required", "unknown_photo"):
            return 422, {"photos": refused.detail}, None
        return (refused.status if refused.status in (403, 409) else 422), {}, refused.detail
    return 422, refused.errors if isinstance(refused, _Invalid) else errors, None


@router.get("/photos/{photo_id}")
async def photo(page: CurrentPage, photo_id: uuid.UUID) -> Response:
    """A photo for a page: the API's check decides who may see it."""
    try:
        access = await photo_reader(photo_id, page.actor, page.session)
        return photo_file(page.request.app.state.settings, access.photo, max_age=86400)
    except NotFound as missing:
        raise PageRefused(404, "找不到这张照片") from missing
