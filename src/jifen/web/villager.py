"""The villager's pages: the household's points first, its history, the store, reporting a good deed, and a
printable household card for family members without a phone."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from starlette.datastructures import UploadFile

from jifen.funding import qr
from jifen.kit.db import AutoCommitRoute
from jifen.kit.limits import BodyLimit, body_limit, size_text
from jifen.photos.endpoints import MULTIPART_OVERHEAD
from jifen.settings import Settings
from jifen.web.context import CurrentPage, Page, PageRefused, form_key, go
from jifen.web.routes import this_month

router = APIRouter(include_in_schema=False, route_class=AutoCommitRoute)


def _household(page: Page) -> str:
    page.need("villager")
    household = page.household_id
    if household is None:
        raise PageRefused(404, "您的账号还没有绑定农户，请联系村管理员")
    return household


def qr_svg(text: str, title: str, scale: int = 6) -> Markup:
    """A QR code as inline SVG (no image request, prints sharp), named for screen readers."""
    return Markup(qr.qr_svg(text, scale=scale, inline=True, title=title))


async def _rank(page: Page, household: str) -> dict[str, Any] | None:
    ranked = await page.api.get(f"/villages/{page.village_id}/rankings", period=this_month())
    if not ranked.ok:
        return None
    items = ranked.body["items"]
    for entry in items:
        if entry["household_id"] == household:
            return {"rank": entry["rank"], "of": len(items), "points": entry["points"]}
    return None


@router.get("/me", response_class=HTMLResponse)
async def me(page: CurrentPage) -> Response:
    household_id = _household(page)
    household = await page.must(await page.api.get(f"/households/{household_id}"))
    entries = await page.must(await page.api.get(f"/households/{household_id}/entries", limit=5))
    reservations = await page.api.get(f"/households/{household_id}/reservations", limit=5)
    active = (
        [r for r in reservations.body.get("items", []) if r["status"] == "active"] if reservations.ok else []
    )
    expiring = await page.api.get(f"/households/{household_id}/expiring")
    return page.render(
        "me.html",
        title="我的积分",
        household=household,
        balance=household["balance"],
        rank=await _rank(page, household_id),
        month=this_month(),
        entries=entries["items"],
        reservations=active,
        expiring=expiring.body.get("expiring", [])[:2] if expiring.ok else [],
    )


@router.get("/me/history", response_class=HTMLResponse)
async def history(page: CurrentPage, cursor: str | None = None) -> Response:
    household_id = _household(page)
    entries = await page.must(
        await page.api.get(f"/households/{household_id}/entries", cursor=cursor, limit=30)
    )
    return page.render(
        "history.html", title="积分明细", entries=entries["items"], next=entries["next_cursor"]
    )


async def _catalogue(page: Page) -> list[dict[str, Any]]:
    stores = await page.must(await page.api.get(f"/villages/{page.village_id}/stores"))
    out = []
    for store in stores["items"]:
        if not store["active"]:
            continue
        items = await page.api.get(f"/stores/{store['id']}/items", limit=200)
        active = [i for i in items.body.get("items", []) if i["active"]] if items.ok else []
        out.append({"store": store, "items": active})
    return out


@router.get("/me/store", response_class=HTMLResponse)
async def store(page: CurrentPage) -> Response:
    household_id = _household(page)
    balance = await page.must(await page.api.get(f"/households/{household_id}/balance"))
    return page.render(
        "store.html", title="积分超市", catalogue=await _catalogue(page), balance=balance, errors={}
    )


@router.post("/me/store/reserve", response_class=HTMLResponse)
async def reserve(page: CurrentPage) -> Response:
    household_id = _household(page)
    form = await page.request.form()
    item_id = str(form.get("item_id") or "")
    store_id = str(form.get("store_id") or "")
    result = await page.api.post(
        "/reservations",
        {"store_id": store_id, "household_id": household_id, "lines": [{"item_id": item_id, "quantity": 1}]},
        key=form_key(form),
    )
    if result.ok:
        return go(f"/me/reservations/{result.body['id']}")
    balance = await page.must(await page.api.get(f"/households/{household_id}/balance"))
    return page.render(
        "store.html",
        status=409 if result.status == 409 else 422,
        title="积分超市",
        catalogue=await _catalogue(page),
        balance=balance,
        errors={item_id: result.detail},
    )


@router.get("/me/reservations/{reservation_id}", response_class=HTMLResponse)
async def reservation(page: CurrentPage, reservation_id: str) -> Response:
    _household(page)
    found = await page.must(await page.api.get(f"/reservations/{reservation_id}"))
    return page.render(
        "reservation.html", title="预约兑换", r=found, qr=qr_svg(found["qr_payload"], "到柜台扫描的二维码")
    )


@router.get("/me/card", response_class=HTMLResponse)
async def card(page: CurrentPage) -> Response:
    household_id = _household(page)
    household = await page.must(await page.api.get(f"/households/{household_id}"))
    return page.render(
        "card.html", title="户卡", household=household, qr=qr_svg(household["code"], "户卡二维码", scale=8)
    )


async def _report_page(
    page: Page,
    household_id: str,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    problem: str | None = None,
    flash: str | None = None,
) -> Response:
    rules = await page.must(await page.api.get(f"/villages/{page.village_id}/rules", limit=200))
    reportable = [r for r in rules["items"] if r["active"] and r["points"] > 0]
    mine = await page.api.get(f"/households/{household_id}/awards", self_report="true", limit=20)
    names = {r["id"]: r["name"] for r in rules["items"]}
    return page.render(
        "report.html",
        status=status,
        title="申报加分",
        rules=reportable,
        reports=mine.body.get("items", []) if mine.ok else [],
        rule_names=names,
        errors=errors or {},
        values=values or {},
        problem=problem,
        flash=flash,
    )


@router.get("/me/report", response_class=HTMLResponse)
async def report_form(page: CurrentPage, done: str | None = None) -> Response:
    household_id = _household(page)
    return await _report_page(
        page, household_id, flash="申报已提交，审核通过后会公示并入账" if done else None
    )


MAX_PHOTOS = 3


def report_limit(settings: Settings) -> BodyLimit:
    """A note and up to MAX_PHOTOS photos, each within the photo limit."""
    limit = MAX_PHOTOS * settings.upload_max_bytes + MULTIPART_OVERHEAD
    return BodyLimit(
        limit,
        f"提交的内容太大：最多 {MAX_PHOTOS} 张照片，每张不能超过 {size_text(settings.upload_max_bytes)}",
    )


@router.post("/me/report", response_class=HTMLResponse)
@body_limit(report_limit)
async def report(page: CurrentPage) -> Response:
    """A good deed reported with a note and photos: the photos go up first, then the report names them."""
    household_id = _household(page)
    form = await page.request.form()
    values = {k: str(form.get(k) or "") for k in ("rule_id", "note")}
    errors: dict[str, str] = {}
    if not values["rule_id"]:
        errors["rule_id"] = "请选择申报的事项"
    if not values["note"].strip():
        errors["note"] = "请简单写一下做了什么好事"
    uploads = [f for f in form.getlist("photos") if isinstance(f, UploadFile) and f.filename]
    if len(uploads) > MAX_PHOTOS:
        errors["photos"] = f"最多上传 {MAX_PHOTOS} 张照片"
    if errors:
        return await _report_page(page, household_id, status=422, errors=errors, values=values)
    photo_ids = []
    limit = page.api.settings.upload_max_bytes
    for upload in uploads:
        content = await upload.read(limit + 1)
        if len(content) > limit:
            errors["photos"] = f"照片“{upload.filename}”太大，每张不能超过 {limit // (1024 * 1024)} MB"
            break
        uploaded = await page.api.call(
            "POST",
            f"/villages/{page.village_id}/photos",
            files={"file": (upload.filename, content, upload.content_type or "application/octet-stream")},
        )
        if not uploaded.ok:
            errors["photos"] = f"照片“{upload.filename}”：{uploaded.detail}"
            break
        photo_ids.append(uploaded.body["id"])
    if errors:
        return await _report_page(page, household_id, status=422, errors=errors, values=values)
    result = await page.api.post(
        f"/households/{household_id}/self-reports",
        {"rule_id": values["rule_id"], "note": values["note"].strip(), "photo_ids": photo_ids},
        key=form_key(form),
    )
    if result.ok:
        return go("/me/report?done=1")
    field_errors = result.field_errors()
    if result.error in ("evidence_required", "unknown_photo"):
        field_errors["photos"] = result.detail
    return await _report_page(
        page,
        household_id,
        status=result.status if result.status in (403, 409) else 422,
        errors=field_errors,
        values=values,
        problem=None if field_errors else result.detail,
    )


@router.get("/photos/{photo_id}")
async def photo(page: CurrentPage, photo_id: str) -> Response:
    """A photo for a page: the API decides who may see it."""
    found = await page.api.call("GET", f"/photos/{photo_id}")
    if not found.ok or not isinstance(found.body, bytes):
        raise PageRefused(404, "找不到这张照片")
    return Response(
        found.body, media_type=found.content_type, headers={"cache-control": "private, max-age=86400"}
    )
