"""Setting a village up: the town admin creates a village with its first admin (a one-time password shown
once), and the village admin imports the household roll (花名册) — upload, a preview of how the columns were
understood and what would change, a column picker when unsure, then one confirm — and sees the checklist of
what is left before the village is live.

The uploaded roll waits between the preview and the confirm under the data directory (by its SHA-256, readable
by jifen only), so the confirm applies exactly the file the admin previewed; it is removed once applied.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from jifen.auth.dependencies import village_role
from jifen.imports import service as imports
from jifen.imports.endpoints import RollTooLarge, read_upload, roll_limit, template_download
from jifen.imports.roll import LABELS, Field
from jifen.imports.schemas import ImportResult
from jifen.kit.db import PageRoute
from jifen.kit.errors import JifenError
from jifen.kit.limits import body_limit
from jifen.models import Role, VillageView
from jifen.settings import Settings
from jifen.villages import onboarding
from jifen.villages.schemas import VillageCreate
from jifen.web.context import CurrentPage, PageContext, PageRefused, go, parse

router = APIRouter(include_in_schema=False, route_class=PageRoute)

SHOWN = 200  # rows of each list on the preview page; the counts say how many there are
KEEP_SECONDS = 24 * 3600  # an upload waits this long for its confirm
_SHA = re.compile(r"^[0-9a-f]{64}$")
_village_admin = village_role(Role.village_admin, town_admin=False)


async def checklist(page: PageContext) -> list[onboarding.Step] | None:
    """The village admin's checklist until every step is done (None then, and for anyone else)."""
    if not page.has("village_admin") or page.village is None:
        return None
    steps = await onboarding.checklist(page.session, page.village_id)
    return None if all(s.done for s in steps) else steps


# ------------------------------------------------------------------ the town admin: a new village


def _village_form(
    page: PageContext, values: dict[str, str], errors: dict[str, str], *, status: int = 200
) -> Response:
    return page.render("setup_village.html", status=status, title="开通新村", errors=errors, values=values)


@router.get("/town/setup", response_class=HTMLResponse)
async def new_village(page: CurrentPage) -> Response:
    page.need("town_admin")
    return _village_form(page, {}, {})


@router.post("/town/setup", response_class=HTMLResponse)
async def create_village(page: CurrentPage) -> Response:
    page.need("town_admin")
    values = {
        name: page.field(name).strip() for name in ("code", "name", "admin_username", "admin_display_name")
    }
    body, errors = parse(VillageCreate, {k: v for k, v in values.items() if v})
    if body is not None and body.admin_username is None:
        errors = {"admin_username": "请填写村管理员的登录名（字母、数字，至少 3 位）"}
    if body is None or body.admin_username is None:
        return _village_form(page, values, errors, status=422)
    try:
        created = await onboarding.create_village_with_admin(
            page.session,
            page.actor,
            code=body.code,
            name=body.name,
            admin_username=body.admin_username,
            admin_display_name=body.admin_display_name,
        )
    except JifenError as exc:
        await page.undo()
        where = "admin_username" if exc.code == "duplicate_username" else "code"
        return _village_form(page, values, {where: exc.detail}, status=exc.status)
    # shown once, on this answer only (never in a URL): a reload asks again and is refused as a duplicate
    return page.render(
        "setup_village_created.html",
        title="新村已开通",
        village=created.village,
        admin=created.admin,
        password=created.one_time_password,
    )


# ------------------------------------------------------------------ the village admin: the roll


async def _village(page: PageContext) -> VillageView:
    page.need("village_admin")
    return (await _village_admin(page.village_id, page.actor, page.session)).village


def _waiting(page: PageContext, village: VillageView, sha256: str) -> Path:
    settings: Settings = page.request.app.state.settings
    if not _SHA.match(sha256):
        raise PageRefused(404, "找不到这次上传的文件，请重新上传")
    return settings.data_dir / "imports" / str(village.id) / f"{sha256}.roll"


def _keep(page: PageContext, village: VillageView, result: ImportResult, data: bytes) -> None:
    """Keep the upload for its confirm; uploads left unconfirmed for a day are dropped."""
    path = _waiting(page, village, result.sha256)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    stale = time.time() - KEEP_SECONDS
    for old in path.parent.glob("*.roll"):
        if old.stat().st_mtime < stale:
            old.unlink(missing_ok=True)
    if not path.exists():
        path.write_bytes(data)
        path.chmod(0o600)


def _picked(page: PageContext) -> dict[str, str]:
    """The column picker's choices: `col:<table>:<letter>` fields, or the hidden JSON of an earlier pick."""
    form = page.form
    chosen: dict[str, str] = {}
    if form is not None:
        for key, value in form.multi_items():
            if key.startswith("col:") and isinstance(value, str):
                chosen[key.removeprefix("col:")] = value if value in Field.__members__ else ""
    if not chosen and page.field("columns"):
        try:
            loaded = json.loads(page.field("columns"))
        except ValueError:
            loaded = {}
        if isinstance(loaded, dict):
            chosen = {str(k): str(v) for k, v in loaded.items()}
    return chosen


def _preview(
    page: PageContext,
    result: ImportResult,
    columns: dict[str, str],
    *,
    status: int = 200,
    problem: str | None = None,
) -> Response:
    return page.render(
        "setup_preview.html",
        status=status,
        title="核对花名册",
        result=result,
        fields=[(f.value, LABELS[f]) for f in Field],
        columns=json.dumps(columns, ensure_ascii=False),
        shown=SHOWN,
        problem=problem,
    )


async def _import_page(page: PageContext, *, status: int = 200, **extra: Any) -> Response:
    return page.render(
        "setup_import.html", status=status, title="导入花名册", checklist=await checklist(page), **extra
    )


@router.get("/admin/import", response_class=HTMLResponse)
async def import_form(page: CurrentPage, added: int | None = None, changed: int | None = None) -> Response:
    await _village(page)
    flash = None
    if added is not None or changed is not None:
        flash = f"花名册已导入：新增 {added or 0} 户，修改 {changed or 0} 户"
    return await _import_page(page, flash=flash)


@router.get("/admin/import/template.xlsx")
async def template(page: CurrentPage) -> Response:
    await _village(page)
    return template_download()


@router.post("/admin/import", response_class=HTMLResponse)
@body_limit(roll_limit)
async def upload(page: CurrentPage) -> Response:
    village = await _village(page)
    upload = page.form.get("file") if page.form is not None else None
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await _import_page(page, status=422, problem="请选择要导入的花名册文件（.xlsx 或 .csv）")
    try:
        data = await read_upload(upload)
        result = await imports.import_households(
            page.session, page.actor, village, data=data, file_name=upload.filename[:200]
        )
    except (JifenError, RollTooLarge) as exc:
        return await _import_page(page, status=exc.status, problem=exc.detail)
    _keep(page, village, result, data)
    return _preview(page, result, {})


async def _stored(page: PageContext, village: VillageView) -> tuple[bytes, str, str]:
    sha256 = page.field("sha256")
    path = _waiting(page, village, sha256)
    if not path.exists():
        raise PageRefused(404, "上传的文件已经导入或已过期，请重新上传")
    return path.read_bytes(), page.field("file_name")[:200] or "花名册", sha256


@router.post("/admin/import/columns", response_class=HTMLResponse)
async def pick_columns(page: CurrentPage) -> Response:
    village = await _village(page)
    data, name, _ = await _stored(page, village)
    columns = _picked(page)
    result = await imports.import_households(
        page.session, page.actor, village, data=data, file_name=name, overrides=columns
    )
    return _preview(page, result, columns)


@router.post("/admin/import/apply", response_class=HTMLResponse)
async def apply(page: CurrentPage) -> Response:
    village = await _village(page)
    data, name, sha256 = await _stored(page, village)
    columns = _picked(page)
    try:
        result = await imports.import_households(
            page.session, page.actor, village, data=data, file_name=name, overrides=columns, apply=True
        )
    except JifenError as exc:
        await page.undo()
        result = await imports.import_households(
            page.session, page.actor, village, data=data, file_name=name, overrides=columns
        )
        return _preview(page, result, columns, status=exc.status, problem=exc.detail)
    _waiting(page, village, sha256).unlink(missing_ok=True)
    return go(f"/admin/import?added={result.counts.add}&changed={result.counts.change}")
